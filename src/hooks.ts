// --require preloads and the --pre-hook / --post-hook functions, as in the
// Python Chaussette: hooks get the resolved options, before serving and
// after stopping.

import { describeError, errors } from './errors.js';
import { importUserModule, pickExport, splitSpec } from './modules.js';
import type { Options } from './options.js';

export type Hook = (options: Options) => unknown;

export async function preload(modules: string[], cwd: string): Promise<void> {
  for (const module of modules) {
    await importUserModule(module, cwd, {
      notFound: () => errors.moduleNotFound('--require', module),
      threw: (error) => errors.moduleFailed('--require', module, describeError(error)),
    });
  }
}

export async function loadHook(flag: string, spec: string | undefined, cwd: string): Promise<Hook | undefined> {
  if (spec === undefined) return undefined;
  const { module, exportName } = splitSpec(spec);
  const namespace = await importUserModule(module, cwd, {
    notFound: () => errors.moduleNotFound(flag, spec),
    threw: (error) => errors.moduleFailed(flag, spec, describeError(error)),
  });
  const { value } = pickExport(namespace, exportName);
  if (typeof value !== 'function') throw errors.moduleFailed(flag, spec, `its ${exportName ?? 'default'} export is not a function`);
  return value as Hook;
}

export async function runHook(flag: string, spec: string | undefined, hook: Hook | undefined, options: Options): Promise<void> {
  if (!hook) return;
  try {
    await hook(options);
  } catch (error) {
    throw errors.moduleFailed(flag, spec ?? '', describeError(error));
  }
}
