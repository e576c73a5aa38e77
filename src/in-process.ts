// The engine that serves in this process: the app loaded here, one server
// around it per socket, drained here. A single process and the library run
// it under the lifecycle; a --workers worker uses its drain and teardown
// (drainAndClose) for the servers it is handed connections for.

import type { Server } from 'node:net';
import { drain, type DrainProgress, type DrainResult, openConnections, requestsInFlight } from './drain.js';
import { summary } from './errors.js';
import type { Engine } from './lifecycle.js';
import type { Logger } from './log.js';
import { type Claimed, reloadCertificates, type PreparedApp } from './prepare.js';
import { type DescriptorWatch, watchAccepts } from './sockets/fd-shortage.js';
import { type OpenListener, openListeners, systemMaxBacklog } from './sockets/open.js';
import { countRequests } from './systemd/status.js';

export interface InProcessSetup {
  log: Logger;
  /** --drain-linger, in ms. */
  lingerMs: number;
  claimed: Claimed;
  backlog: number | undefined;
  /** Loads the app and makes the servers' factory (the command), or adapts an app given (the library). */
  prepare: () => Promise<PreparedApp>;
}

export class InProcess implements Engine {
  private prepared: PreparedApp | undefined;
  private listeners: OpenListener[] = [];

  constructor(private readonly setup: InProcessSetup) {}

  /** One server per socket, in the order of the listeners. */
  get servers(): Server[] {
    return this.listeners.map((opened) => opened.server);
  }

  async prepare(): Promise<void> {
    this.prepared = await this.setup.prepare();
  }

  async open(descriptors: DescriptorWatch): Promise<OpenListener[]> {
    const { claimed, backlog, log } = this.setup;
    const prepared = this.app();
    this.listeners = await openListeners(claimed.targets, prepared.createServer, backlog ?? systemMaxBacklog(), claimed.inspected);
    for (const opened of this.listeners) watchAccepts(opened.server, descriptors, log);
    for (const opened of this.listeners) log.info(`Serving on ${opened.description}`);
    log.info(`Using ${prepared.backendName} backend`);
    return this.listeners;
  }

  probeProtocol() {
    return this.app().probeProtocol;
  }

  label(): string {
    return this.app().backendName;
  }

  startCounting() {
    return countRequests(this.servers);
  }

  /** What one process can reload: its certificates; the app stays (use --workers, or restart). */
  async reload(): Promise<string | undefined> {
    const { tlsFiles } = this.app();
    const { log } = this.setup;
    const appNote = 'the app is not reloaded in a single process (use --workers, or restart)';
    if (!tlsFiles) {
      log.warn(`Received SIGHUP: nothing reloaded; ${appNote}`);
      return undefined;
    }
    try {
      reloadCertificates(tlsFiles, this.servers);
      log.info(`Received SIGHUP: certificates reloaded from ${tlsFiles.certfile} and ${tlsFiles.keyfile}; ${appNote}`);
      return undefined;
    } catch (error) {
      log.error(`Received SIGHUP: certificates not reloaded, the previous ones stay in use: ${summary(error)}`);
      return `Reload failed: ${summary(error)}; serving with the previous certificates`;
    }
  }

  /** Every socket is one inherited connection (Accept=yes), and all have closed; never when one listens. */
  ended(): Promise<void> {
    if (this.listeners.length === 0 || this.listeners.some((opened) => !opened.closed)) return new Promise(() => {});
    return Promise.all(this.listeners.map((opened) => opened.closed)).then(() => undefined);
  }

  stopPlan(graceMs: number) {
    const connections = openConnections(this.servers);
    return {
      inFlight: requestsInFlight(this.servers),
      connections,
      msLeft: graceMs,
      says: `draining ${connections} connection(s) for up to ${graceMs / 1000} s`,
    };
  }

  drain(graceMs: number, onProgress: (progress: DrainProgress) => void): Promise<DrainResult> {
    return drainAndClose(this.servers, this.app().app, { graceMs, lingerMs: this.setup.lingerMs }, this.setup.log, '', onProgress);
  }

  halt(): void {}

  abort(): void {
    for (const server of this.servers) server.close();
  }

  private app(): PreparedApp {
    if (!this.prepared) throw new Error('the app is not prepared yet');
    return this.prepared;
  }
}

/**
 * The drain, then the app's own teardown (AdaptedApp.close): what
 * every process that served requests does last. `prefix` names a worker
 * in its lines.
 */
export async function drainAndClose(
  servers: Server[],
  app: PreparedApp['app'],
  { graceMs, lingerMs }: { graceMs: number; lingerMs: number },
  log: Logger,
  prefix: string,
  onProgress?: (progress: DrainProgress) => void,
): Promise<DrainResult> {
  const result = await drain(servers, graceMs, onProgress, lingerMs);
  if (result.forced > 0) log.warn(`${prefix}${prefix ? 'graceful' : 'Graceful'} timeout reached: closed ${result.forced} connection(s) by force`);
  await app.close?.().catch((error: unknown) => log.error({ err: error }, 'the app failed to close'));
  return result;
}
