// Loading a user module named on the command line: `./app.js`,
// `examples/app.mjs:handler`, `my-pkg:createApp`. Paths are relative to the
// working directory; packages resolve from it too, as `node` would for a
// script there. Used for the app, the hooks and --require.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isModuleNamespaceObject } from 'node:util/types';
import { notRegularFile } from './file-kind.js';

export interface ModuleSpec {
  module: string;
  exportName: string | undefined;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `./app.mjs:handler` -> module `./app.mjs`, export `handler`; `./app.js` -> no export named. */
export function splitSpec(spec: string): ModuleSpec {
  const colon = spec.lastIndexOf(':');
  if (colon > 0) {
    const exportName = spec.slice(colon + 1);
    if (IDENTIFIER.test(exportName)) return { module: spec.slice(0, colon), exportName };
  }
  return { module: spec, exportName: undefined };
}

function isPathLike(module: string, cwd: string): boolean {
  return /^\.{1,2}(\/|$)/.test(module) || isAbsolute(module) || existsSync(resolve(cwd, module));
}

/** The file a module spec names, or undefined when there is none. */
export function resolveModuleFile(module: string, cwd: string): string | undefined {
  const require = createRequire(join(cwd, 'noop.js'));
  const candidate = isPathLike(module, cwd) ? resolve(cwd, module) : module;
  try {
    return require.resolve(candidate);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // An ESM-only package exports no "require" entry; find its "import" one.
    if (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' && !isPathLike(module, cwd)) return resolveEsmOnlyPackage(module, cwd);
    return undefined;
  }
}

function resolveEsmOnlyPackage(name: string, cwd: string): string | undefined {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    const manifest = join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: unknown };
      const root = typeof pkg.exports === 'object' && pkg.exports && '.' in pkg.exports ? (pkg.exports as Record<string, unknown>)['.'] : pkg.exports;
      const entry = pickImportEntry(root);
      return entry ? join(pkgDir, entry) : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function pickImportEntry(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (typeof entry !== 'object' || entry === null) return undefined;
  const conditions = entry as Record<string, unknown>;
  for (const condition of ['node', 'import', 'default']) {
    const found = pickImportEntry(conditions[condition]);
    if (found) return found;
  }
  return undefined;
}

export type ModuleImporter = (url: string) => Promise<unknown>;

let importModule: ModuleImporter = (url) => import(url);

/** The command's bin passes its own import() (see cli.ts). */
export function setModuleImporter(importer: ModuleImporter): void {
  importModule = importer;
}

/** A dependency loaded only when needed (the fetch bridge, the terminal formatter). */
export async function importOnDemand<T>(specifier: string): Promise<T> {
  return (await importModule(specifier)) as T;
}

/**
 * A CommonJS file is required, as `node app.js` would run it; anything else
 * is imported. import() of a CommonJS file starts Node's ESM loader, about
 * 10 ms of CPU at a cold start (bench/README.md, module), for nothing the
 * app sees: what require() gives is shaped as import() would give it.
 */
async function importFile(file: string): Promise<Record<string, unknown>> {
  if (isCommonJsFile(file)) {
    try {
      return asNamespace(createRequire(file)(file));
    } catch (error) {
      // ES module syntax in a .js file outside a "type": "module" package, with
      // top-level await: Node compiled it but will not require() it, and has not run it.
      if ((error as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
    }
  }
  return (await importModule(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** Node's rule: .cjs, or .js whose nearest package.json does not say "type": "module" (an unreadable one is left to import() to report). */
function isCommonJsFile(file: string): boolean {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type !== 'module';
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return true;
  }
}

/**
 * What import() makes of module.exports: the default export, and for an
 * object its properties as named exports (Node finds those by reading the
 * source; these are what the module really set). require() of ES module
 * syntax (Node 20.19 and later) already gives a namespace.
 */
function asNamespace(exported: unknown): Record<string, unknown> {
  if (isModuleNamespaceObject(exported)) return exported as Record<string, unknown>;
  const named = typeof exported === 'object' && exported !== null ? { ...(exported as Record<string, unknown>) } : {};
  return { ...named, default: exported };
}

export interface ModuleFailures {
  notFound: () => Error;
  /** The module resolved to a FIFO, a device or another file that cannot be read whole (file-kind.ts). */
  notFile: (file: string, kind: string) => Error;
  threw: (error: unknown) => Error;
}

/** Finds and imports a user's module, turning each way it can fail into the caller's errors. */
export async function importUserModule(module: string, cwd: string, failures: ModuleFailures): Promise<Record<string, unknown>> {
  const file = resolveModuleFile(module, cwd);
  if (!file) throw failures.notFound();
  // Checked before import(): the loader reads the file synchronously, so a FIFO would hang the event loop.
  const kind = isAbsolute(file) ? fileKind(file) : undefined; // Not absolute: a builtin (node:fs).
  if (kind) throw failures.notFile(file, kind);
  try {
    return await importFile(file);
  } catch (error) {
    throw failures.threw(error);
  }
}

/** What a resolved module file is when it is not a regular file; undefined when it is (or is gone: import() will say). */
function fileKind(file: string): string | undefined {
  try {
    return notRegularFile(statSync(file));
  } catch {
    return undefined;
  }
}

/** The export a spec names; a CommonJS module's named exports may only exist on its default. */
export function pickExport(namespace: Record<string, unknown>, exportName: string | undefined): { found: boolean; value: unknown } {
  const name = exportName ?? 'default';
  if (name in namespace) return { found: true, value: namespace[name] };
  const fallback = namespace.default as Record<string, unknown> | undefined;
  if (exportName && fallback && (typeof fallback === 'object' || typeof fallback === 'function') && exportName in fallback) {
    return { found: true, value: fallback[exportName] };
  }
  return { found: false, value: undefined };
}

export function exportNames(namespace: Record<string, unknown>): string[] {
  return Object.keys(namespace).filter((key) => key !== '__esModule' && key !== 'module.exports');
}
