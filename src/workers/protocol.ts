// What the primary and its workers say to each other over the IPC channel
// Node opens between them. Messages on one channel arrive in order, and a
// handle travels with its message: so when a worker reads `stop`, every
// connection sent to it before has arrived, and it can drain without losing one.
//
// Two ways to serve. Usually each worker accepts on the sockets itself:
// once loaded it says `ready`, is sent each socket (`listen`), and says
// `accepting` once it accepts on all; it reports its open connections
// (`load`) and is told the most it should hold (`share`). With --sticky the
// primary accepts and sends each connection (`connection`) instead.

import type { WireError } from '../errors.js';

/** Set in a worker's environment (and removed at once): the slot it fills, counted from 1. */
export const WORKER_VARIABLE = 'CHAUSSETTE_WORKER_SLOT';

export type ToWorker =
  /** Sent with an accepted connection, for the server of listener number `listener`. */
  | { kind: 'connection'; listener: number }
  /** Sent with a listening socket: accept on it as listener number `listener` of `of`. */
  | { kind: 'listen'; listener: number; of: number }
  /** The most connections it should hold now (the pool's fair share, plus a margin); null: no limit. */
  | { kind: 'share'; most: number | null }
  | { kind: 'ping' }
  /** Drain and exit; nothing more will be sent. */
  | { kind: 'stop' }
  /** Open the log file again at its path (the primary got SIGUSR1: logrotate moved it). */
  | { kind: 'reopen' };

export interface WorkerLoad {
  requests: number;
  connections: number;
  inFlight: number;
  /** Its log cannot be written now (logs/output.ts's logTrouble): for the primary's STATUS=. */
  logTrouble?: string | undefined;
}

export type FromWorker =
  /** The app is loaded: it can serve. */
  | { kind: 'ready' }
  /** It accepts on every socket it was sent (the primary does not accept). */
  | { kind: 'accepting' }
  /** Its connections open now, reported as they change (at most every REPORT_EVERY_MS) and when it stops accepting. */
  | { kind: 'load'; connections: number }
  /** It stopped accepting (it held more than its share) and now has room: send the sockets again. */
  | { kind: 'relisten' }
  /** It could not start (app not found, threw while loading…); it exits with `exitCode`. */
  | { kind: 'failed'; failure: WireError }
  /** With its shortage of file descriptors (sockets/fd-shortage.ts's errno), if it has one now. */
  | ({ kind: 'pong'; fdShortage?: 'EMFILE' | 'ENFILE' } & WorkerLoad)
  /** It is going away by itself (the app threw outside any request): send it nothing more, replace it. */
  | { kind: 'leaving' };

export function isFromWorker(message: unknown): message is FromWorker {
  const kind = (message as { kind?: unknown } | null)?.kind;
  return kind === 'ready' || kind === 'accepting' || kind === 'load' || kind === 'relisten' || kind === 'failed' || kind === 'pong' || kind === 'leaving';
}

export function isToWorker(message: unknown): message is ToWorker {
  const kind = (message as { kind?: unknown } | null)?.kind;
  return kind === 'connection' || kind === 'listen' || kind === 'share' || kind === 'ping' || kind === 'stop' || kind === 'reopen';
}

/** A worker of a primary is told its slot; the variable is gone before the app can see it. */
export function takeWorkerSlot(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env[WORKER_VARIABLE];
  delete env[WORKER_VARIABLE];
  const slot = Number(value);
  return value !== undefined && process.send && Number.isSafeInteger(slot) && slot > 0 ? slot : undefined;
}
