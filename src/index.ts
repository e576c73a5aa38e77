// The chaussette package, as a library: see library.ts. The command is bin.cjs.
export { createNotifier, listenTargets, serve, type ServeOptions, type Serving, type ListenTarget, type Notifier } from './library.js';
export { backendNames, registerBackend, type Backend, type ServerSettings } from './backends/index.js';
export type { TlsMaterial } from './backends/tls.js';
export { ChaussetteError, ExitCode } from './errors.js';
export type { DrainResult } from './drain.js';
export { stopping } from './stopping.js';
