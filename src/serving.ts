// What every serving process does before it can take a connection: preload
// --require modules, load and adapt the app, and build servers around it
// with the HTTP settings. Shared by the single process and by each worker.

import type { RequestListener } from 'node:http';
import type { Server } from 'node:net';
import type { AdaptedApp } from './apps/adapt.js';
import { guardListener, REQUEST_FAILED } from './apps/guard.js';
import { loadApp } from './apps/load.js';
import { getBackend } from './backends/index.js';
import { preload } from './hooks.js';
import type { Logger } from './log.js';
import type { Options } from './options.js';

export interface ServingApp {
  app: AdaptedApp & { name: string };
  backendName: string;
  /** A server around the app, not listening yet. */
  createServer(): Server;
}

export async function prepareApp(options: Options, log: Logger, cwd: string): Promise<ServingApp> {
  const backend = getBackend(options.backend);
  await preload(options.require, cwd);
  const app = await loadApp(options.app, options.args, cwd, (error) => log.error({ err: error }, REQUEST_FAILED));
  log.info(`Application is ${app.name} (${app.kind})`);
  const listener = guardListener(app.listener, log) as RequestListener;
  const settings = {
    keepAliveTimeoutMs: options.keepAliveTimeout * 1000,
    headersTimeoutMs: options.headersTimeout * 1000,
    requestTimeoutMs: options.requestTimeout * 1000,
    maxHeaderSize: options.maxHeaderSize,
  };
  return { app, backendName: backend.name, createServer: () => backend.createServer(listener, settings) };
}
