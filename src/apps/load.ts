// From an app spec on the command line to an adapted app: find the module,
// import it, pick the export, call it if it is a factory, adapt the result.

import { errors } from '../errors.js';
import { exportNames, importUserModule, pickExport, splitSpec } from '../modules.js';
import { type AdaptedApp, adaptServable, describeValue, isFactory, type ReportError } from './adapt.js';
import { hello } from './hello.js';

export async function loadApp(
  spec: string | undefined,
  args: string[],
  cwd: string,
  reportError: ReportError,
): Promise<AdaptedApp & { name: string }> {
  if (spec === undefined) return { name: 'the built-in hello app', kind: 'a (req, res) listener', listener: hello };

  const { module, exportName } = splitSpec(spec);
  const namespace = await importUserModule(module, cwd, {
    notFound: () => errors.appNotFound(spec, module),
    notFile: (file, kind) => errors.appNotFile(spec, file, kind),
    threw: (error) => errors.appImportFailed(spec, error),
  });
  const picked = pickExport(namespace, exportName);
  if (!picked.found) throw errors.appExportMissing(spec, exportName ?? 'default', exportNames(namespace));

  return adaptLoaded(spec, picked.value, args, reportError);
}

/**
 * A loaded value made servable: adapted as it is, or called as a factory
 * with the args and its result adapted. `name` is what errors call it.
 */
export async function adaptLoaded(
  name: string,
  value: unknown,
  args: string[],
  reportError: ReportError,
): Promise<AdaptedApp & { name: string }> {
  // Adapting may start the app (Fastify's ready() runs its plugins): a failure there is the app's.
  const adapt = async (candidate: unknown) => {
    try {
      return await adaptServable(candidate, reportError);
    } catch (error) {
      throw errors.appNotReady(name, error);
    }
  };
  const direct = await adapt(value);
  if (direct) return { name, ...direct };
  if (!isFactory(value)) throw errors.appShape(name, describeValue(value));

  let made: unknown;
  try {
    made = await value(args);
  } catch (error) {
    throw errors.appFactoryFailed(name, error);
  }
  const adapted = await adapt(made);
  if (!adapted) throw errors.appShape(name, `a factory that returned ${describeValue(made)}`);
  return { name, ...adapted, kind: `${adapted.kind} from a factory` };
}
