// The engine of --workers and --reload: this process owns the sockets and
// the worker processes, and is the only one systemd hears from. It opens
// the sockets once, without accepting on them, and sends them to each
// worker once it has loaded the app; the workers accept, each keeping to
// its share (accepting.ts). With --sticky it accepts itself instead and
// hands each connection to the worker its client's address chooses. A
// reload replaces the workers one at a time, so new code serves with no
// request refused; the stop drains them all. The lifecycle drives it.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { type Backend, backendNames, getBackend, probeProtocol } from '../backends/index.js';
import type { DrainProgress, DrainResult } from '../drain.js';
import { PROGRESS_EVERY_MS } from '../drain.js';
import { errors, summary, ChaussetteError } from '../errors.js';
import type { Engine } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { announceLogTrouble } from '../logs/output.js';
import { onLogReopened } from '../logs/reopen.js';
import { canShareSockets, descriptorOf, interceptAccepted } from '../node-internals.js';
import type { Options } from '../options.js';
import { type Claimed, readCertificates } from '../prepare.js';
import type { DescriptorWatch } from '../sockets/fd-shortage.js';
import { type Listening, type OpenListener, openListeners, openShared, type SharedSocket, systemMaxBacklog } from '../sockets/open.js';
import { plural } from '../systemd/status.js';
import { pingEveryMs } from '../systemd/watchdog-env.js';
import type { ProbeProtocol } from '../systemd/watchdog-probe.js';
import { WorkerPool } from './pool.js';
import { WORKER_VARIABLE } from './protocol.js';

const HEARTBEAT_MS = 1000;
/** Room after a worker's own graceful timeout before it is killed. */
export const WORKER_STOP_SLACK_MS = 2000;

export class Primary implements Engine {
  private readonly size: number;
  private backend: Backend | undefined;
  private protocol: ProbeProtocol | undefined;
  /** The sockets this process accepts on (--sticky). */
  private listeners: OpenListener[] = [];
  /** The sockets its workers accept on, held here without accepting. */
  private shared: SharedSocket[] = [];
  private pool: WorkerPool | undefined;
  private aborted = false;

  constructor(
    private readonly options: Options,
    private readonly claimed: Claimed,
    private readonly log: Logger,
  ) {
    this.size = Math.max(1, options.workers);
  }

  /** Loads no app (the workers do); checks now what would make every worker fail. */
  async prepare(): Promise<void> {
    const { options, claimed } = this;
    for (const [fd, inherited] of claimed.inspected) if (inherited.role === 'connection') throw errors.workersNeedListeners(fd);
    this.backend = backendForPrimary(options);
    // The workers read the certificates themselves (again at each reload); reading them here too
    // makes a bad file one line and a clean exit before any worker starts.
    const tlsFiles = this.backend && readCertificates(this.backend, options).tlsFiles;
    this.protocol = this.backend ? probeProtocol(this.backend, tlsFiles) : 'http';
  }

  async open(descriptors: DescriptorWatch): Promise<Listening[]> {
    const { options, claimed, log, size } = this;
    const sticky = options.sticky && size > 1;
    // Opened before any worker loads, accepted on by none until one has: what arrives meanwhile
    // waits in the socket, and a stop while they load leaves it there for the next process.
    if (!sticky && canShareSockets()) {
      this.shared = await openShared(claimed.targets, claimed.inspected);
      if (this.aborted) {
        this.closeListeners();
        return [];
      }
    }
    const workerEnv = { ...process.env };
    delete workerEnv.NOTIFY_SOCKET; // Only this process speaks to systemd.
    const workerCommand = [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
    const watchdog = claimed.watchdog;
    const pool = new WorkerPool({
      size,
      launch: (slot) =>
        spawn(process.execPath, workerCommand, {
          env: { ...workerEnv, [WORKER_VARIABLE]: String(slot) },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      log,
      heartbeatMs: watchdog.kind === 'on' ? Math.min(HEARTBEAT_MS, pingEveryMs(watchdog.intervalMs)) : HEARTBEAT_MS,
      stuckAfterMs: watchdog.kind === 'on' ? watchdog.intervalMs : undefined,
      stopTimeoutMs: options.gracefulTimeout * 1000 + WORKER_STOP_SLACK_MS,
      // One worker (--reload alone) already gets every connection: no address to read.
      sticky,
      ...(this.shared.length > 0 ? { sockets: this.shared.map((socket) => socket.handle) } : {}),
      // A worker logs its own shortage of descriptors; STATUS= is this process's to tell.
      onShortage: (slot, code) => descriptors.elsewhere(`worker ${slot}`, code),
      onLogTrouble: announceLogTrouble,
    });
    this.pool = pool;
    descriptors.nameSelf('the primary');
    onLogReopened(() => pool.tellAll({ kind: 'reopen' }));

    log.info(`Starting ${plural(size, 'worker')}`);
    try {
      // Each worker accepts as soon as it has loaded the app; resolved once all of them do.
      await pool.start();
    } catch (error) {
      this.closeListeners();
      throw error;
    }
    if (this.shared.length > 0) {
      for (const socket of this.shared) log.info(`Serving on ${socket.description}`);
      log.info(`Using ${this.backendName()} backend with ${plural(size, 'worker')} (pids ${pool.pids().join(', ')}), each accepting on the sockets`);
      return this.shared;
    }
    // --sticky: the workers have loaded the app before this process accepts, as a single process does:
    // no connection is accepted that no worker can answer yet, and a stop while they load leaves every
    // connection waiting in the socket for the next process, none accepted here and lost.
    try {
      // Accepted here, read by the worker: paused, so that no byte is consumed on the way.
      this.listeners = await openListeners(claimed.targets, () => createServer({ pauseOnConnect: true }), options.backlog ?? systemMaxBacklog(), claimed.inspected);
    } catch (error) {
      pool.kill();
      throw error;
    }
    for (const opened of this.listeners) log.info(`Serving on ${opened.description}`);
    this.listeners.forEach((opened, index) =>
      interceptAccepted(
        opened.server,
        (connection) => {
          // Held until a worker has it: a burst of connections can take every descriptor this process may open.
          descriptors.accepted(descriptorOf(connection));
          pool.dispatch(index, connection);
        },
        (error) => {
          if (!descriptors.failed(error)) log.error(`A connection could not be accepted: ${summary(error)}`);
        },
      ),
    );
    if (sticky) log.info('Sticky: every connection from one client address goes to the same worker');
    log.info(`Using ${this.backendName()} backend with ${plural(size, 'worker')} (pids ${pool.pids().join(', ')})`);
    return this.listeners;
  }

  probeProtocol(): ProbeProtocol | undefined {
    return this.protocol;
  }

  /** "http, 4 workers", or "http, 3 of 4 workers" while one is being replaced: systemctl status shows it. */
  label(): string {
    const ready = this.started().load().ready;
    return `${this.backendName()}, ${ready >= this.size ? plural(this.size, 'worker') : `${ready} of ${this.size} workers`}`;
  }

  startCounting() {
    const pool = this.started();
    return { sample: () => pool.load(), stop() {} };
  }

  problem(): string | undefined {
    return this.started().problem();
  }

  logTrouble(): string | undefined {
    return this.pool?.logTrouble();
  }

  reloadingStatus(why: string): string {
    return `Reloading: starting new workers (${why})`;
  }

  async reload(why: string): Promise<string | undefined> {
    const { log, size } = this;
    const pool = this.started();
    log.info(`Reloading (${why}): replacing ${plural(size, 'worker')} one at a time`);
    try {
      const replaced = await pool.reload();
      log.info(`Reloaded: ${plural(replaced, 'new worker')} serving (pids ${pool.pids().join(', ')})`);
      return undefined;
    } catch (error) {
      const line = error instanceof ChaussetteError ? error.oneLine() : summary(error);
      log.error(`Reload failed, the previous workers go on serving: ${line}`);
      return `Reload failed: ${summary(error)}; the previous workers go on serving`;
    }
  }

  ended(): Promise<void> {
    return new Promise(() => {}); // The workers need listening sockets (prepare() refused connections).
  }

  stopPlan(graceMs: number) {
    const load = this.started().load();
    return {
      inFlight: load.inFlight,
      connections: load.connections,
      // The time left is the pool's: each worker's graceful timeout, plus the slack before it is killed.
      msLeft: graceMs + WORKER_STOP_SLACK_MS,
      says: `stopping ${plural(this.size, 'worker')}, each draining for up to ${graceMs / 1000} s`,
    };
  }

  async drain(_graceMs: number, onProgress: (progress: DrainProgress) => void): Promise<DrainResult> {
    const started = Date.now();
    // Stop accepting first: what arrives now waits in the socket's queue for whoever serves next.
    this.closeListeners();
    const { killed } = await this.started().stop((load, msLeft) => onProgress({ inFlight: load.inFlight, connections: load.connections, msLeft }), PROGRESS_EVERY_MS);
    if (killed > 0) this.log.warn(`Killed ${plural(killed, 'worker')} that outlived the graceful timeout`);
    return { forced: killed, elapsedMs: Date.now() - started, served: this.started().load().requests };
  }

  halt(): void {
    this.pool?.kill();
  }

  /**
   * A stop while starting, or a start that failed: workers already accepting drain what they took
   * (none is killed with a connection in hand); those still loading stop once loaded.
   */
  async abort(): Promise<void> {
    this.aborted = true;
    this.closeListeners();
    await this.pool?.stop(() => {}, PROGRESS_EVERY_MS);
  }

  /**
   * Not awaited: for connections it handed over, close()'s callback waits
   * until the workers have closed them all, which they only do once told to stop.
   * The workers' own descriptors of a shared socket keep it open until each stops accepting.
   */
  private closeListeners(): void {
    for (const opened of this.listeners) opened.server.close();
    for (const socket of this.shared.splice(0)) socket.handle.close();
  }

  private backendName(): string {
    return this.backend?.name ?? this.options.backend;
  }

  private started(): WorkerPool {
    if (!this.pool) throw new Error('the workers are not started yet');
    return this.pool;
  }
}

/**
 * The backend, when the primary knows it. One that a --require module
 * registers exists only in the workers (the primary loads no app code):
 * they check it, and report a failure before serving.
 */
function backendForPrimary(options: Options): Backend | undefined {
  if (options.require.length > 0 && !backendNames().includes(options.backend)) return undefined;
  return getBackend(options.backend);
}
