// Serving, from sockets to drain: the part the command and the library's
// serve() share. Given what the manager handed over (claimed) and an app
// made ready (prepared), it opens the listeners, tells systemd READY=1 once
// they all accept, pings the watchdog and reports STATUS= lines; when told
// to stop (a signal, stop(), or the one Accept=yes connection closing) it
// sends STOPPING=1 and drains. Signals are the caller's choice: the command
// always takes them, a library user may keep their own.

import type { Server } from 'node:net';
import { ChaussetteError, describeError } from './errors.js';
import type { Logger } from './log.js';
import type { Options } from './options.js';
import { type Claimed, reloadCertificates, type ServingApp } from './serving.js';
import { type DrainResult, drain, openConnections, requestsInFlight } from './shutdown.js';
import { type OpenListener, openListeners, systemMaxBacklog } from './sockets/open.js';
import { monotonicUsec, type Notifier } from './systemd/notify.js';
import { countRequests, drainingNotice, servingStatus, startStatusReports } from './systemd/status.js';
import { planWatchdog } from './systemd/watchdog.js';
import type { TlsFiles } from './backends/tls.js';

export interface Serving {
  /** Each socket served, as the log says it: "fd 3 (web) -> 127.0.0.1:8000", "127.0.0.1:41234". */
  readonly listeners: ReadonlyArray<{ description: string; address: string }>;
  /** The servers, one per socket (node:http, node:https or node:http2 servers). */
  readonly servers: readonly Server[];
  /** Stops as SIGTERM does: STOPPING=1, then the drain. Resolves when it is done. */
  stop(reason?: string): Promise<DrainResult>;
  /** Settles once stopped, whatever stopped it; the app's own close() (Fastify) has run by then. */
  readonly stopped: Promise<DrainResult>;
}

export interface ServeContext {
  options: Options;
  claimed: Claimed;
  prepared: ServingApp;
  log: Logger;
  notifier: Notifier;
  /** Resolves with why to stop (a signal's name); the command passes its signal handlers. */
  stopSignal?: Promise<string>;
  /** Whether SIGHUP reloads certificates (and completes systemd's reload handshake). */
  handleReload: boolean;
  /** Called once stopping begins, before the drain. */
  onStopping?: () => void;
}

export async function startServing(context: ServeContext): Promise<Serving> {
  const { options, claimed, prepared, log, notifier } = context;
  const listeners = await openListeners(claimed.targets, prepared.createServer, options.backlog ?? systemMaxBacklog(), claimed.inspected);
  for (const opened of listeners) log.info(`Serving on ${opened.description}`);
  log.info(`Using ${prepared.backendName} backend`);

  const servers = listeners.map((opened) => opened.server);
  const describe = (requests: number, connections: number, perSecond?: number) =>
    servingStatus(listeners.map((opened) => opened.address), prepared.backendName, requests, connections, perSecond);
  let startPinging;
  try {
    startPinging = planWatchdog(claimed.watchdog, options.watchdogProbe, prepared.probeProtocol, listeners, notifier, log);
  } catch (error) {
    for (const server of servers) server.close();
    throw error;
  }
  // systemctl reload sends SIGHUP, whose default would kill Node. One process cannot swap its app
  // in place, but it can take renewed certificates; either way it completes the reload handshake
  // so that systemd is never left waiting.
  const onReload = () => {
    notifier.notify({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec() });
    const status = reloadInPlace(prepared.tlsFiles, servers, log);
    notifier.notify({ READY: 1, ...(status ? { STATUS: status } : {}) });
  };
  if (context.handleReload) process.on('SIGHUP', onReload);
  notifier.notify({ READY: 1, STATUS: describe(0, 0, 0) });
  const pinger = startPinging?.();
  const telling = notifier.transport === 'sd-notify' || notifier.transport === 'systemd-notify';
  const counting = telling ? countRequests(servers) : undefined;
  const reports = counting ? startStatusReports(notifier, counting.sample, describe) : undefined;

  let askStop: (reason: string) => void = () => {};
  const asked = new Promise<string>((resolve) => (askStop = resolve));
  const stopped = (async () => {
    const reason = await Promise.race([asked, connectionsEnded(listeners), ...(context.stopSignal ? [context.stopSignal] : [])]);
    context.onStopping?.();
    reports?.stop();
    counting?.stop();
    const graceMs = options.gracefulTimeout * 1000;
    notifier.notify({ STOPPING: 1, ...drainingNotice(requestsInFlight(servers), openConnections(servers), graceMs) });
    if (reason === 'connection closed') log.info('The connection closed: exiting');
    else log.info(`Received ${reason}: draining ${openConnections(servers)} connection(s) for up to ${options.gracefulTimeout} s`);
    const result = await drain(servers, graceMs, (progress) => notifier.notify(drainingNotice(progress.inFlight, progress.connections, progress.msLeft)));
    pinger?.stop();
    if (context.handleReload) process.removeListener('SIGHUP', onReload);
    if (result.forced > 0) log.warn(`Graceful timeout reached: closed ${result.forced} connection(s) by force`);
    await prepared.app.close?.().catch((error: unknown) => log.error({ err: error }, 'the app failed to close'));
    log.info(`Stopped after ${result.elapsedMs} ms of drain`);
    return result;
  })();

  return {
    listeners: listeners.map(({ description, address }) => ({ description, address })),
    servers,
    stop: (reason = 'a stop request') => {
      askStop(reason);
      return stopped;
    },
    stopped,
  };
}

/** What a single process can reload: its certificates. Returns a status line when that failed. */
function reloadInPlace(tlsFiles: TlsFiles | undefined, servers: Server[], log: Logger): string | undefined {
  const appNote = 'the app is not reloaded in a single process (use --workers, or restart)';
  if (!tlsFiles) {
    log.warn(`Received SIGHUP: nothing reloaded; ${appNote}`);
    return undefined;
  }
  try {
    reloadCertificates(tlsFiles, servers);
    log.info(`Received SIGHUP: certificates reloaded from ${tlsFiles.certfile} and ${tlsFiles.keyfile}; ${appNote}`);
    return undefined;
  } catch (error) {
    const why = error instanceof ChaussetteError ? `${error.message} (${error.code})` : describeError(error);
    log.error(`Received SIGHUP: certificates not reloaded, the previous ones stay in use: ${why}`);
    return `Reload failed: ${why}; serving with the previous certificates`;
  }
}

/** Settles once every inherited connection (Accept=yes) has closed; never when there is a listener. */
function connectionsEnded(listeners: OpenListener[]): Promise<'connection closed'> {
  if (listeners.some((opened) => !opened.closed)) return new Promise(() => {});
  return Promise.all(listeners.map((opened) => opened.closed)).then(() => 'connection closed' as const);
}
