// What a process does before it can take a connection: claim what the
// manager handed over (sockets, watchdog), preload --require modules, load
// and adapt the app, read the certificates, and make the factory of servers
// around the app with the HTTP settings. Shared by the single process, the
// primary (claiming) and each worker (the app).

import type { RequestListener } from 'node:http';
import type { Server } from 'node:net';
import type { AdaptedApp } from './apps/adapt.js';
import { answerExpectContinue, withBodyLimit } from './apps/body-limit.js';
import { guardListener, REQUEST_FAILED } from './apps/guard.js';
import { loadApp } from './apps/load.js';
import { warnOnUnservedUpgrade } from './apps/upgrade-warning.js';
import { type Backend, getBackend, probeProtocol } from './backends/index.js';
import { readTlsFiles, type TlsFiles, tlsFilesFor, type TlsMaterial } from './backends/tls.js';
import { serveUpgrades } from './drain.js';
import { preload } from './hooks.js';
import type { Logger } from './log.js';
import { createAccessLog } from './logs/access.js';
import type { Options } from './options.js';
import { type Inherited, preflight } from './sockets/open.js';
import { type ListenTarget, resolveListenTargets } from './sockets/resolve.js';
import { ACTIVATION_VARIABLES } from './systemd/activation.js';
import { readWatchdog, WATCHDOG_VARIABLES, type WatchdogSetting } from './systemd/watchdog-env.js';
import type { ProbeProtocol } from './systemd/watchdog-probe.js';

export interface PreparedApp {
  app: AdaptedApp & { name: string };
  backendName: string;
  /** A server around the app, not listening yet. */
  createServer(): Server;
  /** The TLS files the servers use; undefined: cleartext. */
  tlsFiles: TlsFiles | undefined;
  /** How the watchdog probe speaks to these servers. */
  probeProtocol: ProbeProtocol | undefined;
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
export function claimInherited(options: Options, log: Logger, env: NodeJS.ProcessEnv = process.env): Claimed {
  const watchdog = readWatchdog(env, process.pid);
  let resolution;
  try {
    resolution = resolveListenTargets(options, env, process.pid);
  } finally {
    for (const name of [...ACTIVATION_VARIABLES, ...WATCHDOG_VARIABLES]) delete env[name];
  }
  for (const warning of resolution.warnings) log.warn(warning);
  return { targets: resolution.targets, inspected: preflight(resolution.targets), watchdog };
}

export async function prepareApp(options: Options, log: Logger, cwd: string): Promise<PreparedApp> {
  // Preloads first: a --require module may register the backend named.
  await preload(options.require, cwd);
  const backend = getBackend(options.backend);
  // Certificates before the app: a bad file fails without waiting for the app to load.
  const certificates = readCertificates(backend, options);
  const app = await loadApp(options.app, options.args, cwd, (error) => log.error({ err: error }, REQUEST_FAILED));
  return prepareServers(app, options, log, backend, certificates);
}

/** The TLS files the backend gets, read and checked (a bad one throws its one-line error). */
export function readCertificates(backend: Backend, options: Options): { tlsFiles: TlsFiles | undefined; tls: TlsMaterial | undefined } {
  const tlsFiles = tlsFilesFor(backend.name, backend.tls, options);
  return { tlsFiles, tls: tlsFiles && readTlsFiles(tlsFiles) };
}

/** Servers around an app already adapted: the certificates read and checked, the listener guarded. */
export function prepareServers(
  app: PreparedApp['app'],
  options: Options,
  log: Logger,
  backend: Backend = getBackend(options.backend),
  { tlsFiles, tls } = readCertificates(backend, options),
): PreparedApp {
  log.info(`Application is ${app.name} (${app.kind})`);
  if (app.upgrade) log.info('Upgrade requests (WebSocket) go to the listeners the app attached to its own server');
  const served = app.upgrade ? app.listener : warnOnUnservedUpgrade(app.listener, log);
  const access = createAccessLog(options.accessLog, log);
  const guarded = withBodyLimit(guardListener(served, log) as RequestListener, options.maxBodySize);
  const listener = access ? access.wrap(guarded) : guarded;
  const settings = {
    keepAliveTimeoutMs: options.keepAliveTimeout * 1000,
    headersTimeoutMs: options.headersTimeout * 1000,
    requestTimeoutMs: options.requestTimeout * 1000,
    maxHeaderSize: options.maxHeaderSize,
    ...(tls ? { tls } : {}),
  };
  return {
    app,
    backendName: backend.name,
    tlsFiles,
    probeProtocol: probeProtocol(backend, tlsFiles),
    createServer: () => {
      const server = backend.createServer(listener, settings);
      answerExpectContinue(server, options.maxBodySize);
      access?.watch(server);
      if (app.upgrade) serveUpgrades(server, app.upgrade);
      return server;
    },
  };
}

/**
 * SIGHUP with TLS: the certificate files are read again and swapped into
 * the listening servers; connections already open keep the old ones, new
 * handshakes get the new. Throws (a catalogued error) and changes nothing
 * when the new files cannot be used.
 */
export function reloadCertificates(files: TlsFiles, servers: Server[]): void {
  const material = readTlsFiles(files);
  for (const server of servers) (server as Server & { setSecureContext?: (options: object) => void }).setSecureContext?.(material);
}
