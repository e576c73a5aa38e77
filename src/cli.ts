// Entry of the bundle that dist/bin.cjs runs. The bin hands over its own
// import(): code run from a vm.Script (for the code cache) cannot import()
// ESM apps itself on Node 20 without an experimental, warning-printing flag.
import { run } from './main.js';
import { setModuleImporter, type ModuleImporter } from './modules.js';

export function start(importModule: ModuleImporter): void {
  setModuleImporter(importModule);
  void run(process.argv.slice(2));
}
