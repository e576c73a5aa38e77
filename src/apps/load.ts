// From an app spec on the command line to an adapted app: find the module,
// import it, pick the export, call it if it is a factory, adapt the result.

import { describeError, errors } from '../errors.js';
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
    threw: (error) => errors.appImportFailed(spec, describeError(error)),
  });
  const picked = pickExport(namespace, exportName);
  if (!picked.found) throw errors.appExportMissing(spec, exportName ?? 'default', exportNames(namespace));

  // Adapting may start the app (Fastify's ready() runs its plugins): a failure there is the app's.
  const adapt = async (value: unknown) => {
    try {
      return await adaptServable(value, reportError);
    } catch (error) {
      throw errors.appNotReady(spec, describeError(error));
    }
  };
  const direct = await adapt(picked.value);
  if (direct) return { name: spec, ...direct };
  if (!isFactory(picked.value)) throw errors.appShape(spec, describeValue(picked.value));

  let made: unknown;
  try {
    made = await picked.value(args);
  } catch (error) {
    throw errors.appFactoryFailed(spec, describeError(error));
  }
  const adapted = await adapt(made);
  if (!adapted) throw errors.appShape(spec, `a factory that returned ${describeValue(made)}`);
  return { name: spec, ...adapted, kind: `${adapted.kind} from a factory` };
}
