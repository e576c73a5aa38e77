// Loading the bundle through a compile cache, which dist/bin.cjs does first
// thing: a socket-activated service starts on its first request, and
// compiling the bundle (~400 KB) is the largest part of startup that is ours.
//
// - Node >= 22.8 has module.enableCompileCache(): Node keys its cache by
//   version, architecture and V8 flags, checks each module's content, and
//   caches the app's own modules too (CommonJS and ESM, import() included).
// - Older Node (20, and 22.1 to 22.7): our own V8 code cache of the bundle,
//   one file per bundle path, Node version and flags, written at exit by a
//   process that served without an accepted one. Not at build time: V8 11
//   (Node 20) keeps the file name a cache was made under, so stack traces of
//   an installed copy named the build machine's path; a cache made where the
//   bundle runs names the real one. V8 rejects a cache of another V8 or with
//   other flags (--max-old-space-size in NODE_OPTIONS): a normal compile.
//
// Where: NODE_COMPILE_CACHE when the user set it; else $CACHE_DIRECTORY
// (systemd's CacheDirectory=, kept across restarts, where PrivateTmp= empties
// /tmp) in node-compile-cache/; else Node's default, os.tmpdir()'s
// node-compile-cache/. NODE_DISABLE_COMPILE_CACHE (set at all) turns both off.

import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** What the bin hands the bundle besides its import(). */
export interface Startup {
  /** One line for the debug log: which cache, and what became of it. */
  codeCache: string;
  /** Called once the process serves: the V8 cache written at exit then holds the serving path too. */
  serving(): void;
}

export interface Bundle {
  start(importModule: (url: string) => Promise<unknown>, startup: Startup): void;
}

type Env = Record<string, string | undefined>;

/** The variables read here (man chaussette, ENVIRONMENT). */
export const COMPILE_CACHE_VARIABLES = ['NODE_COMPILE_CACHE', 'NODE_DISABLE_COMPILE_CACHE', 'CACHE_DIRECTORY'];

/** Node's compileCacheStatus values (module.constants), for the versions that have them. */
interface EnableResult {
  status: number;
  message?: string;
  directory?: string;
}
type EnableCompileCache = (directory?: string) => EnableResult;

/**
 * The directory to hand module.enableCompileCache(), or undefined for
 * Node's own choice (NODE_COMPILE_CACHE, else the temporary directory).
 */
export function compileCacheDirectory(env: Env): string | undefined {
  if (env.NODE_COMPILE_CACHE) return undefined;
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  return systemd ? join(systemd, 'node-compile-cache') : undefined;
}

/** Where the V8 code cache of the bundle lives when Node has no compile cache of its own, or undefined when disabled. */
export function v8CacheFile(env: Env, temporary: string, bundlePath: string, node: { version: string; arch: string; flags: string }): string | undefined {
  if (env.NODE_DISABLE_COMPILE_CACHE !== undefined) return undefined;
  const directory = env.NODE_COMPILE_CACHE || compileCacheDirectory(env) || join(temporary, 'node-compile-cache');
  // One file per install, Node and flags: two of them sharing the directory
  // do not overwrite each other's in turn. The header says exactly which.
  return join(directory, `chaussette-${node.version}-${fnv1a(`${node.arch}\n${node.flags}\n${bundlePath}`)}.v8cache`);
}

/** What a cache file must have been made for: this very file of the bundle (a new install is a new inode) under these flags. */
export function cacheIdentity(bundlePath: string, stat: { size: number; mtimeMs: number; ino: number }, flags: string): string {
  return JSON.stringify({ bundle: bundlePath, size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, flags });
}

/** FNV-1a, 32 bits: a short name for a file, not a check (the header is the check). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** The cache's V8 data if the file was made by us for `identity`; why not otherwise. */
export function readV8Cache(file: string, identity: string, uid: number | undefined): { data: Buffer } | { absent: string } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { absent: 'none yet' };
  }
  try {
    // Code from a cache runs as this process: only a file of this user that nobody else can write.
    const stat = fstatSync(fd);
    if ((uid !== undefined && stat.uid !== uid) || (stat.mode & 0o022) !== 0) return { absent: 'not ours (owner or mode), ignored' };
    const content = readFileSync(fd);
    const newline = content.indexOf(10);
    if (newline < 0 || content.toString('utf8', 0, newline) !== identity) return { absent: 'made for another copy of the bundle' };
    return { data: content.subarray(newline + 1) };
  } finally {
    closeSync(fd);
  }
}

/** Loads the bundle (dist/chaussette.bundle.cjs) through the cache this Node has: feature-detected, not by version number. */
export function loadBundle(bundlePath: string, env: Env = process.env): { bundle: Bundle; startup: Startup } {
  const enable = (nodeModule as { enableCompileCache?: EnableCompileCache }).enableCompileCache;
  return enable ? loadWithCompileCache(bundlePath, env, enable) : loadWithV8Cache(bundlePath, env);
}

function loadWithCompileCache(bundlePath: string, env: Env, enable: EnableCompileCache): { bundle: Bundle; startup: Startup } {
  const result = enable(compileCacheDirectory(env));
  const { ENABLED, ALREADY_ENABLED, DISABLED } = (nodeModule as unknown as { constants: { compileCacheStatus: Record<string, number> } }).constants
    .compileCacheStatus;
  const codeCache =
    result.status === ENABLED
      ? `Compile cache: ${result.directory} (module.enableCompileCache)`
      : result.status === ALREADY_ENABLED
        ? `Compile cache: ${result.directory} (NODE_COMPILE_CACHE)`
        : result.status === DISABLED
          ? 'Compile cache: off (NODE_DISABLE_COMPILE_CACHE)'
          : `Compile cache: off (${result.message})`;
  const bundle = require(bundlePath) as Bundle;
  return { bundle, startup: { codeCache, serving: () => {} } };
}

function loadWithV8Cache(bundlePath: string, env: Env): { bundle: Bundle; startup: Startup } {
  const fd = openSync(bundlePath, 'r');
  const stat = fstatSync(fd);
  const source = readFileSync(fd, 'utf8').replace(/^#!.*/, '');
  closeSync(fd);
  const flags = [...process.execArgv, env.NODE_OPTIONS ?? ''].join(' ');
  const file = v8CacheFile(env, tmpdir(), bundlePath, { version: process.version, arch: process.arch, flags });
  const identity = cacheIdentity(bundlePath, stat, flags);
  const found = file ? readV8Cache(file, identity, process.getuid?.()) : undefined;
  const cachedData = found && 'data' in found ? found.data : undefined;
  const script = new Script(nodeModule.wrap(source), { filename: bundlePath, cachedData });
  const accepted = cachedData !== undefined && script.cachedDataRejected === false;
  const codeCache = !file || !found
    ? 'V8 code cache: off (NODE_DISABLE_COMPILE_CACHE)'
    : accepted
      ? `V8 code cache: ${file} accepted`
      : `V8 code cache: ${file} ${'data' in found ? 'rejected by V8 (another Node or other V8 flags)' : found.absent}; a new one is written at exit`;
  let written = false;
  const serving = () => {
    if (!file || accepted || written) return;
    written = true;
    process.once('exit', () => {
      try {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        const temporary = `${file}.${process.pid}`;
        writeFileSync(temporary, Buffer.concat([Buffer.from(`${identity}\n`), script.createCachedData()]), { mode: 0o600 });
        renameSync(temporary, file);
      } catch {
        // A read-only or foreign directory: the next start compiles as this one did.
      }
    });
  };
  const module = { exports: {} as Bundle };
  const define = script.runInThisContext() as (...args: unknown[]) => void;
  define(module.exports, nodeModule.createRequire(bundlePath), module, bundlePath, dirname(bundlePath));
  return { bundle: module.exports, startup: { codeCache, serving } };
}
