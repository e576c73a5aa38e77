// Entry of the bundle that dist/bin.cjs runs. The signal table comes first,
// before anything that takes time (options, the logger, the app): from here
// on no signal meets Node's default. The bin hands over its own import():
// code run from a vm.Script (for the code cache) cannot import() ESM apps
// itself on Node 20 without an experimental, warning-printing flag.
import { run } from './command.js';
import type { Startup } from './compile-cache.cjs';
import { setModuleImporter, type ModuleImporter } from './modules.js';
import { SignalTable } from './signals.js';
import { takeWorkerSlot } from './workers/protocol.js';

export function start(importModule: ModuleImporter, startup: Startup): void {
  const slot = takeWorkerSlot();
  const signals = SignalTable.install(slot === undefined ? 'main' : 'worker');
  setModuleImporter(importModule);
  void run(process.argv.slice(2), signals, slot, startup);
}
