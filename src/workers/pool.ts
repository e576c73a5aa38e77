// The primary's workers: started, given the sockets (or fed connections),
// watched, replaced. Each slot holds one worker. A worker that dies is
// replaced after a backoff that grows while replacements keep failing; a
// reload replaces the workers one slot at a time, each new one accepting
// before the old one is asked to drain (and stops accepting first); a stop
// drains them all.
//
// Usually the workers accept on the sockets themselves: each is sent them
// once loaded, and the pool tells them the most connections each should
// hold, from the counts they report (accepting.ts keeps them to it). Handing
// every connection over from here cost 250 us of CPU per new connection
// against 131 for a process accepting itself (measured, issue 17). With
// --sticky the primary accepts, and each connection goes where a client's
// address says (sticky.ts); a connection handed over otherwise (no
// _createServerHandle on this Node) goes to the ready worker with the fewest
// still being handed over, in turn among equals.

import type { ChildProcess } from 'node:child_process';
import { ChaussetteError, errors } from '../errors.js';
import type { Logger } from '../log.js';
import { type Connection, discard, hasPeerName, peerAddress, type SocketHandle } from '../node-internals.js';
import type { ShortageErrno } from '../sockets/fd-shortage.js';
import { mostPerWorker } from './accepting.js';
import { type FromWorker, isFromWorker, type ToWorker, type WorkerLoad } from './protocol.js';
import { clientKey, hashKey, stickySlot } from './sticky.js';

/** Delay before replacing a worker after `failures` failures in a row: 0.1 s doubling to 10 s. */
export function restartDelayMs(failures: number): number {
  return Math.min(100 * 2 ** Math.max(0, failures - 1), 10_000);
}

/** A worker that served this long before dying starts its slot's failure count afresh. */
export const STABLE_AFTER_MS = 10_000;

/**
 * The candidate with the fewest connections still being handed over,
 * searching from `cursor` so that equals take turns. -1: none.
 */
export function pickWorker(pending: readonly number[], cursor: number): number {
  let best = -1;
  for (let step = 0; step < pending.length; step++) {
    const i = (cursor + step) % pending.length;
    if (best === -1 || pending[i]! < pending[best]!) best = i;
  }
  return best;
}

export interface PoolSettings {
  size: number;
  launch: (slot: number) => ChildProcess;
  log: Logger;
  /** How often workers are asked how they are. */
  heartbeatMs: number;
  /** A ready worker silent this long is killed and replaced; undefined: it is only reported. */
  stuckAfterMs: number | undefined;
  /** How long a stopping worker gets before it is killed (its graceful timeout plus slack). */
  stopTimeoutMs: number;
  /** --sticky: every connection from one client address to the same slot. */
  sticky?: boolean;
  /** The sockets the workers accept on themselves; unset, connections are handed to them (dispatch()). */
  sockets?: SocketHandle[];
  /** A worker ran out of file descriptors (a code), or has them again (undefined). */
  onShortage?: (slot: number, code: ShortageErrno | undefined) => void;
  /** A worker's log started or stopped failing (its answer says so). */
  onLogTrouble?: () => void;
}

type State = 'starting' | 'ready' | 'retiring';

interface Worker {
  slot: number;
  child: ChildProcess;
  pid: number;
  state: State;
  /** Connections sent whose hand-over has not completed. */
  pending: number;
  startedAt: number;
  lastAnswerAt: number;
  load: WorkerLoad;
  /** Out of file descriptors, as its last pong said. */
  fdShortage: ShortageErrno | undefined;
  /** Settles when it serves; rejects when it fails to start. */
  ready: Promise<void>;
  exited: Promise<void>;
  stuckReported: boolean;
}

export interface PoolLoad extends WorkerLoad {
  ready: number;
}

export class WorkerPool {
  private readonly slots: Array<Worker | undefined>;
  private readonly retiring = new Set<Worker>();
  private readonly failures: number[];
  private readonly respawns: Array<NodeJS.Timeout | undefined>;
  private readonly waiting: Array<{ listener: number; connection: Connection; tries: number }> = [];
  private cursor = 0;
  /** The most connections each worker should hold, as last told them (accepting.ts); null: no limit. */
  private most: number | null = null;
  /** --sticky met a connection with no address (a unix socket) and said so, once. */
  private toldNoAddress = false;
  private stopping = false;
  private requestsOfGone = 0;
  /** Workers killed because they outlived their stop timeout. */
  private killedLate = 0;
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly settings: PoolSettings) {
    this.slots = new Array<Worker | undefined>(settings.size).fill(undefined);
    this.failures = new Array<number>(settings.size).fill(0);
    this.respawns = new Array<NodeJS.Timeout | undefined>(settings.size).fill(undefined);
    this.heartbeat = setInterval(() => this.beat(), settings.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Starts every worker; rejects with the first one's startup failure (the others are stopped). */
  async start(): Promise<void> {
    const workers = this.slots.map((_, i) => this.launch(i + 1));
    workers.forEach((worker, i) => (this.slots[i] = worker));
    try {
      await Promise.all(workers.map((worker) => worker.ready));
    } catch (error) {
      // Stopped while starting (stop() retired them): they drain what they accepted, not killed.
      if (this.stopping) throw error;
      this.stopping = true;
      for (const worker of workers) worker.child.kill('SIGKILL');
      await Promise.all(workers.map((worker) => worker.exited));
      throw error;
    }
  }

  /** Hands an accepted connection to a worker (or holds it until one is ready). */
  dispatch(listener: number, connection: Connection, tries = 0): void {
    const chosen = this.settings.sticky ? this.stickyChoice(connection, tries) : this.leastPending();
    if (!chosen) {
      this.waiting.push({ listener, connection, tries });
      return;
    }
    chosen.pending++;
    this.send(chosen, { kind: 'connection', listener }, connection, (error) => {
      chosen.pending--;
      // Written: the worker's copy travels with the message, so ours goes now. (child.send closes a
      // net.Socket it sent, never a raw handle: left open here, the connection would outlive its worker.)
      if (!error) return discard(connection);
      // The worker died as it was chosen, before the connection left: another one takes it.
      if (tries < this.settings.size) this.dispatch(listener, connection, tries + 1);
      else discard(connection);
    });
  }

  private leastPending(): Worker | undefined {
    const ready = this.slots.filter((worker): worker is Worker => worker?.state === 'ready');
    const chosen = ready[pickWorker(ready.map((worker) => worker.pending), this.cursor % Math.max(1, ready.length))];
    if (chosen) this.cursor++;
    return chosen;
  }

  /** A retry (`tries` > 0) looks from the slot after: the worker first chosen was gone. */
  private stickyChoice(connection: Connection, tries: number): Worker | undefined {
    const address = peerAddress(connection);
    if (!this.toldNoAddress && !hasPeerName(connection)) {
      this.toldNoAddress = true;
      this.settings.log.warn('--sticky: connections on a unix socket have no client address; they all go to one worker (with a proxy in front, it is one client anyway)');
    }
    const slot = stickySlot(hashKey(clientKey(address)), this.slots.map((worker) => worker?.state === 'ready'), tries);
    return slot === -1 ? undefined : this.slots[slot];
  }

  /** Replaces every worker, one slot at a time; rejects (keeping the old worker) if a new one fails to start. */
  reload(): Promise<number> {
    const next = this.reloading.then(() => this.replaceAll());
    this.reloading = next.catch(() => undefined);
    return next;
  }

  /** Asks every worker to drain, and waits (killing what outlives the stop timeout). */
  async stop(onProgress: (load: PoolLoad, msLeft: number) => void, progressEveryMs: number): Promise<{ killed: number }> {
    this.stopping = true;
    clearInterval(this.heartbeat);
    this.respawns.forEach((timer) => clearTimeout(timer));
    const live = [...this.slots.filter((worker): worker is Worker => worker !== undefined), ...this.retiring];
    this.flushWaiting();
    for (const { connection } of this.waiting.splice(0)) discard(connection); // No worker left to take them.
    const killedBefore = this.killedLate;
    for (const worker of live) this.retire(worker);
    const started = Date.now();
    const progress = setInterval(() => {
      for (const worker of live) this.send(worker, { kind: 'ping' });
      onProgress(this.load(), this.settings.stopTimeoutMs - (Date.now() - started));
    }, progressEveryMs);
    await Promise.all(live.map((worker) => worker.exited));
    clearInterval(progress);
    return { killed: this.killedLate - killedBefore };
  }

  /** Kills every worker now (a stop at once): nothing is drained. */
  kill(): void {
    this.stopping = true;
    clearInterval(this.heartbeat);
    this.respawns.forEach((timer) => clearTimeout(timer));
    for (const worker of [...this.slots, ...this.retiring]) worker?.child.kill('SIGKILL');
  }

  /** undefined while at least one worker serves and answers; otherwise what is wrong. */
  problem(): string | undefined {
    const within = this.settings.stuckAfterMs ?? 2 * this.settings.heartbeatMs + 1000;
    const now = Date.now();
    const ready = this.slots.filter((worker) => worker?.state === 'ready');
    if (ready.some((worker) => now - worker!.lastAnswerAt <= within)) return undefined;
    return ready.length === 0 ? 'no worker is serving' : `no worker has answered for ${Math.round(within / 1000)} s`;
  }

  load(): PoolLoad {
    const live = [...this.slots.filter((worker): worker is Worker => worker !== undefined), ...this.retiring];
    return {
      ready: this.slots.filter((worker) => worker?.state === 'ready').length,
      requests: this.requestsOfGone + live.reduce((sum, worker) => sum + worker.load.requests, 0),
      connections: live.reduce((sum, worker) => sum + worker.load.connections, 0),
      inFlight: live.reduce((sum, worker) => sum + worker.load.inFlight, 0),
    };
  }

  /** "worker 2: the log cannot be written (…): 12 lines dropped", as its last answer said; undefined while every log works. */
  logTrouble(): string | undefined {
    const troubled = this.slots.filter((worker): worker is Worker => worker?.load.logTrouble !== undefined);
    if (troubled.length === 0) return undefined;
    const others = troubled.length > 1 ? ` (and ${troubled.length - 1} other worker${troubled.length > 2 ? 's' : ''})` : '';
    return `worker ${troubled[0]!.slot}: ${troubled[0]!.load.logTrouble}${others}`;
  }

  /** Sends `message` to every live worker: serving, starting or draining. */
  tellAll(message: ToWorker): void {
    for (const worker of [...this.slots, ...this.retiring]) if (worker) this.send(worker, message);
  }

  pids(): number[] {
    return this.slots.flatMap((worker) => (worker ? [worker.pid] : []));
  }

  private async replaceAll(): Promise<number> {
    let replaced = 0;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.stopping) break;
      const fresh = this.launch(i + 1);
      try {
        await fresh.ready;
      } catch (error) {
        fresh.child.kill('SIGKILL');
        throw error;
      }
      if (this.stopping) {
        this.retire(fresh);
        break;
      }
      const old = this.slots[i];
      clearTimeout(this.respawns[i]);
      this.slots[i] = fresh;
      this.failures[i] = 0;
      this.flushWaiting();
      if (old) this.retire(old);
      replaced++;
    }
    return replaced;
  }

  private launch(slot: number): Worker {
    const child = this.settings.launch(slot);
    const now = Date.now();
    let onReady: () => void = () => {};
    let onFailure: (error: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFailure = reject;
    });
    ready.catch(() => undefined); // Observed by whoever awaits it; never an unhandled rejection.
    const worker: Worker = {
      slot,
      child,
      pid: child.pid ?? 0,
      state: 'starting',
      pending: 0,
      startedAt: now,
      lastAnswerAt: now,
      load: { requests: 0, connections: 0, inFlight: 0 },
      fdShortage: undefined,
      ready,
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
      stuckReported: false,
    };
    let failure: ChaussetteError | undefined;
    child.on('message', (message: unknown) => {
      if (!isFromWorker(message)) return;
      worker.lastAnswerAt = Date.now();
      worker.stuckReported = false;
      this.hear(worker, message, onReady, (error) => (failure = error));
    });
    child.on('error', (error) => this.settings.log.error(`Worker ${slot}: ${error.message}`));
    child.once('exit', (code, signal) => {
      // Counted from here on as gone: its slot may still point at it (a stop clears no slot).
      this.requestsOfGone += worker.load.requests;
      worker.load = { requests: 0, connections: 0, inFlight: 0 };
      this.retiring.delete(worker);
      this.noteShortage(worker, undefined);
      const wasReady = worker.state === 'ready';
      onFailure(failure ?? errors.workerExited(exitText(code, signal)));
      if (this.slots[slot - 1] !== worker || this.stopping) return;
      this.slots[slot - 1] = undefined;
      this.rebalance();
      const lived = Date.now() - worker.startedAt;
      this.failures[slot - 1] = wasReady && lived >= STABLE_AFTER_MS ? 1 : this.failures[slot - 1]! + 1;
      const delay = restartDelayMs(this.failures[slot - 1]!);
      const what = failure ? `failed to start: ${failure.oneLine()}` : `exited (${exitText(code, signal)})`;
      this.settings.log.error(`Worker ${slot} (pid ${worker.pid}) ${what}; starting a new one in ${delay / 1000} s`);
      this.respawns[slot - 1] = setTimeout(() => this.respawn(slot), delay);
    });
    return worker;
  }

  private respawn(slot: number): void {
    if (this.stopping || this.slots[slot - 1]) return;
    const worker = this.launch(slot);
    this.slots[slot - 1] = worker;
    worker.ready.then(
      () => this.settings.log.info(`Worker ${slot} (pid ${worker.pid}) serves again`),
      () => undefined, // Its exit handler reports and schedules the next try.
    );
  }

  private hear(worker: Worker, message: FromWorker, onReady: () => void, onFailure: (error: ChaussetteError) => void): void {
    switch (message.kind) {
      case 'ready':
        // Loaded. Accepting itself, it serves once it has the sockets.
        if (this.settings.sockets && worker.state === 'starting') this.sendSockets(worker);
        else this.becomeReady(worker, onReady);
        break;
      case 'accepting':
        this.becomeReady(worker, onReady);
        break;
      case 'load':
        worker.load = { ...worker.load, connections: message.connections };
        this.rebalance();
        break;
      case 'relisten':
        if (worker.state === 'ready') this.sendSockets(worker);
        break;
      case 'failed':
        onFailure(ChaussetteError.fromWire(message.failure));
        break;
      case 'pong': {
        const troubleChanged = (worker.load.logTrouble === undefined) !== (message.logTrouble === undefined);
        worker.load = { requests: message.requests, connections: message.connections, inFlight: message.inFlight, logTrouble: message.logTrouble };
        this.noteShortage(worker, message.fdShortage);
        if (troubleChanged) this.settings.onLogTrouble?.();
        break;
      }
      case 'leaving':
        this.replaceLeaving(worker);
        break;
    }
  }

  private becomeReady(worker: Worker, onReady: () => void): void {
    if (worker.state === 'starting') worker.state = 'ready';
    onReady();
    this.flushWaiting();
    if (this.settings.sockets && worker.state === 'ready') {
      this.send(worker, { kind: 'share', most: this.most });
      this.rebalance();
    }
  }

  /** Each socket, for the worker to accept on: a new descriptor of it in the worker, this one stays here. */
  private sendSockets(worker: Worker): void {
    const sockets = this.settings.sockets ?? [];
    sockets.forEach((socket, listener) => this.send(worker, { kind: 'listen', listener, of: sockets.length }, socket as unknown as Connection));
  }

  /** Tells the serving workers the most each should hold, when that changed. */
  private rebalance(): void {
    if (!this.settings.sockets) return;
    const ready = this.slots.filter((worker): worker is Worker => worker?.state === 'ready');
    const most = ready.length > 1 ? mostPerWorker(ready.map((worker) => worker.load.connections)) : null;
    if (most === this.most) return;
    this.most = most;
    for (const worker of ready) this.send(worker, { kind: 'share', most });
  }

  private noteShortage(worker: Worker, code: ShortageErrno | undefined): void {
    if (worker.fdShortage === code) return;
    worker.fdShortage = code;
    this.settings.onShortage?.(worker.slot, code);
  }

  /** A worker leaving by itself (its app crashed): out of its slot now, so no connection goes to it; a new one in its place. */
  private replaceLeaving(worker: Worker): void {
    const index = worker.slot - 1;
    if (this.slots[index] !== worker || this.stopping) return;
    this.slots[index] = undefined;
    this.retire(worker);
    this.failures[index] = this.failures[index]! + 1;
    const delay = restartDelayMs(this.failures[index]!);
    this.settings.log.error(`Worker ${worker.slot} (pid ${worker.pid}) crashed (the app threw outside any request); starting a new one in ${delay / 1000} s`);
    this.respawns[index] = setTimeout(() => this.respawn(worker.slot), delay);
  }

  private retire(worker: Worker): void {
    if (worker.state === 'retiring') return;
    worker.state = 'retiring';
    this.retiring.add(worker);
    this.send(worker, { kind: 'stop' });
    this.rebalance();
    // Whatever happens to it now (a reload or the final stop), it must not outlive its stop timeout.
    const deadline = setTimeout(() => {
      this.killedLate++;
      this.settings.log.warn(`Worker ${worker.slot} (pid ${worker.pid}) did not stop in time; killing it`);
      worker.child.kill('SIGKILL');
    }, this.settings.stopTimeoutMs);
    void worker.exited.then(() => clearTimeout(deadline));
  }

  private flushWaiting(): void {
    if (!this.slots.some((worker) => worker?.state === 'ready')) return;
    for (const { listener, connection, tries } of this.waiting.splice(0)) this.dispatch(listener, connection, tries);
  }

  private beat(): void {
    const now = Date.now();
    for (const worker of this.slots) {
      if (!worker || worker.state !== 'ready') continue;
      const silentMs = now - worker.lastAnswerAt;
      const limit = this.settings.stuckAfterMs;
      if (limit !== undefined && silentMs > limit) {
        this.settings.log.error(`Worker ${worker.slot} (pid ${worker.pid}) has not answered for ${Math.round(silentMs / 1000)} s; killing it`);
        worker.child.kill('SIGKILL');
      } else if (limit === undefined && silentMs > 10 * this.settings.heartbeatMs && !worker.stuckReported) {
        worker.stuckReported = true;
        this.settings.log.warn(`Worker ${worker.slot} (pid ${worker.pid}) has not answered for ${Math.round(silentMs / 1000)} s; its event loop is blocked`);
      }
      this.send(worker, { kind: 'ping' });
    }
  }

  private send(worker: Worker, message: ToWorker, handle?: Connection, done?: (error: Error | null) => void): void {
    if (!worker.child.connected) {
      done?.(new Error('the worker is gone'));
      return;
    }
    try {
      worker.child.send(message, handle as Parameters<ChildProcess['send']>[1], { keepOpen: false }, (error) => done?.(error ?? null));
    } catch (error) {
      done?.(error as Error);
    }
  }
}

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}
