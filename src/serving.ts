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
import { withAccessLog } from './logs/access.js';
import type { Options } from './options.js';
import { type Inherited, preflight } from './sockets/open.js';
import { type ListenTarget, resolveListenTargets } from './sockets/resolve.js';
import { ACTIVATION_VARIABLES } from './systemd/activation.js';
import { readWatchdog, WATCHDOG_VARIABLES, type WatchdogSetting } from './systemd/watchdog.js';

export interface ServingApp {
  app: AdaptedApp & { name: string };
  backendName: string;
  /** A server around the app, not listening yet. */
  createServer(): Server;
}

export interface Claimed {
  targets: ListenTarget[];
  /** Every inherited fd, checked: a bad one has already thrown. */
  inspected: Map<number, Inherited>;
  watchdog: WatchdogSetting;
}

/**
 * Takes what the manager handed over, once: the sockets to serve and the
 * watchdog. As sd_listen_fds(3) does, succeed or fail, the variables leave
 * the environment: the app's own children must never claim our sockets, nor
 * believe the watchdog is theirs to feed.
 */
export function claimInherited(options: Options, log: Logger): Claimed {
  const watchdog = readWatchdog(process.env, process.pid);
  let resolution;
  try {
    resolution = resolveListenTargets(options, process.env, process.pid);
  } finally {
    for (const name of [...ACTIVATION_VARIABLES, ...WATCHDOG_VARIABLES]) delete process.env[name];
  }
  for (const warning of resolution.warnings) log.warn(warning);
  return { targets: resolution.targets, inspected: preflight(resolution.targets), watchdog };
}

export async function prepareApp(options: Options, log: Logger, cwd: string): Promise<ServingApp> {
  const backend = getBackend(options.backend);
  await preload(options.require, cwd);
  const app = await loadApp(options.app, options.args, cwd, (error) => log.error({ err: error }, REQUEST_FAILED));
  log.info(`Application is ${app.name} (${app.kind})`);
  const listener = withAccessLog(guardListener(app.listener, log) as RequestListener, options.accessLog, log);
  const settings = {
    keepAliveTimeoutMs: options.keepAliveTimeout * 1000,
    headersTimeoutMs: options.headersTimeout * 1000,
    requestTimeoutMs: options.requestTimeout * 1000,
    maxHeaderSize: options.maxHeaderSize,
  };
  return { app, backendName: backend.name, createServer: () => backend.createServer(listener, settings) };
}
