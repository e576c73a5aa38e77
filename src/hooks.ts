// --require preloads and the --pre-hook / --post-hook functions, as in the
// Python Chaussette: hooks get the resolved options, before serving and
// after stopping.

import { errors } from './errors.js';
import { importUserModule, pickExport, splitSpec } from './modules.js';
import type { Options } from './options.js';

export type Hook = (options: Options) => unknown;

export async function preload(modules: string[], cwd: string): Promise<void> {
  for (const module of modules) {
    await importUserModule(module, cwd, {
      notFound: () => errors.moduleNotFound('--require', module),
      notFile: (file, kind) => errors.moduleNotFile('--require', module, file, kind),
      threw: (error) => errors.moduleFailed('--require', module, error),
    });
  }
}

/** The command's two hooks: loaded together (a bad spec fails the start), then run each at its moment. */
export interface Hooks {
  load(): Promise<void>;
  pre(): Promise<void>;
  post(): Promise<void>;
}

export function commandHooks(options: Options, cwd: string): Hooks {
  let pre: Hook | undefined;
  let post: Hook | undefined;
  return {
    async load() {
      pre = await loadHook('--pre-hook', options.preHook, cwd);
      post = await loadHook('--post-hook', options.postHook, cwd);
    },
    pre: () => runHook('--pre-hook', options.preHook, pre, options),
    post: () => runHook('--post-hook', options.postHook, post, options),
  };
}

async function loadHook(flag: string, spec: string | undefined, cwd: string): Promise<Hook | undefined> {
  if (spec === undefined) return undefined;
  const { module, exportName } = splitSpec(spec);
  const namespace = await importUserModule(module, cwd, {
    notFound: () => errors.moduleNotFound(flag, spec),
    notFile: (file, kind) => errors.moduleNotFile(flag, spec, file, kind),
    threw: (error) => errors.moduleFailed(flag, spec, error),
  });
  const { value } = pickExport(namespace, exportName);
  if (typeof value !== 'function') throw errors.moduleFailed(flag, spec, `its ${exportName ?? 'default'} export is not a function`);
  return value as Hook;
}

async function runHook(flag: string, spec: string | undefined, hook: Hook | undefined, options: Options): Promise<void> {
  if (!hook) return;
  try {
    await hook(options);
  } catch (error) {
    throw errors.moduleFailed(flag, spec ?? '', error);
  }
}
