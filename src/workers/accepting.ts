// A worker accepting on the sockets itself, and keeping to its share. The
// kernel hands a new connection to whichever process it wakes first, and
// it wakes the one that waited last, usually the busiest (notes E11):
// measured on 2 cores, two processes on one socket split wrk's keep-alive
// connections 84/16. So each worker reports how many connections it holds,
// the primary tells each the most it should hold (mostPerWorker(): the mean
// plus a margin), and a worker above it stops accepting (its listening
// handle closed: the only way to stop a libuv listener) and asks for the
// sockets again once below; the others, holding fewer, take what comes
// meanwhile. A worker above its share also answers its next requests with
// Connection: close, as many as it holds too many: their clients connect
// again, to a worker with room (a keep-alive connection would otherwise
// stay where the first burst put it). Closing after a response is safe: the
// client was told, and never sends on it again (closing an idle one would
// race its next request). HTTP/2 sessions and upgraded connections are
// counted, not shed.
//
// Short connections are held too briefly to show in that count: with 300
// new connections, 6 at a time, over 3 workers, two busy workers held 3 or
// fewer each, never above their share, and won every accept (a running
// process reaches accept() before a sleeping one is woken): 151 / 149 / 0.
// So what a worker weighs against its share is the connections it holds, or
// those it accepted in the last ACCEPT_WINDOW_MS if more (a connection
// just accepted is both: counted once).

import { ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import { acceptOn, adoptHandle, type Connection, connectionCount, type SocketHandle } from '../node-internals.js';
import type { FromWorker } from './protocol.js';

/** How often a worker reports a changed count and, stopped above its share, looks for room again. */
export const LOAD_EVERY_MS = 20;

/**
 * Accepts this recent weigh against a worker's share, as connections held do
 * (25 reports): long enough for counts well above the share's margin of
 * one. With 100 ms, 300 new connections in about 3 s gave two busy workers
 * about 5 each per window, exactly their share (mean 3.3: at most 5), never
 * above it, and the third took 0 of 300 in 2 runs of 9.
 */
export const ACCEPT_WINDOW_MS = 25 * LOAD_EVERY_MS;

/** Accepts counted per report interval, over the last ACCEPT_WINDOW_MS. */
export class RecentAccepts {
  private readonly past: number[] = [];
  private now = 0;

  accepted(): void {
    this.now++;
  }

  /** A report interval has passed. */
  tick(): void {
    this.past.push(this.now);
    this.now = 0;
    if (this.past.length >= ACCEPT_WINDOW_MS / LOAD_EVERY_MS) this.past.shift();
  }

  count(): number {
    return this.past.reduce((sum, count) => sum + count, this.now);
  }
}

/**
 * The most connections a worker should hold, from each serving worker's
 * count: the mean rounded up, plus 5% of it (at least one). With 50 over
 * two workers, 27: a split no worse than 54/46. The least loaded worker is
 * always below it, so one always accepts.
 */
export function mostPerWorker(counts: readonly number[]): number {
  const mean = counts.reduce((sum, count) => sum + count, 0) / Math.max(1, counts.length);
  return Math.ceil(mean) + Math.max(1, Math.ceil(mean / 20));
}

export interface AcceptingSettings {
  /** The server for listener number `listener` (made on first use). */
  serverFor(listener: number): Server;
  /** Every server made so far. */
  servers(): Server[];
  backlog: number;
  send(message: FromWorker): void;
  /** Each connection accepted, before its server has it. */
  accepted(socket: Socket): void;
  /** An accept that failed (EMFILE…), as node:net reports it. */
  failed(error: NodeJS.ErrnoException): void;
}

export class Accepting {
  private readonly handles: Array<SocketHandle | undefined> = [];
  private most: number | null = null;
  /** Stopped accepting: above its share, or asked for the sockets again and waiting for them. */
  private paused = false;
  private asked = false;
  private stopped = false;
  private toldAccepting = false;
  private reported = -1;
  /** Connections told to close after their response, not closed yet. */
  private shedding = 0;
  private readonly recent = new RecentAccepts();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly settings: AcceptingSettings) {
    this.timer = setInterval(() => this.tick(), LOAD_EVERY_MS);
    this.timer.unref();
  }

  /** A socket from the primary, listener `listener` of `of`: accepted on, unless this worker has it already or wants none. */
  listen(listener: number, of: number, handle: SocketHandle): void {
    if (this.stopped || this.handles[listener] || (this.paused && !this.asked)) return void handle.close();
    const server = this.settings.serverFor(listener);
    acceptOn(
      handle,
      this.settings.backlog,
      (client: Connection) => {
        const socket = adoptHandle(client, server);
        this.recent.accepted();
        this.settings.accepted(socket);
        server.emit('connection', socket);
        if (this.most !== null && this.load() > this.most) this.pause();
      },
      this.settings.failed,
    );
    this.handles[listener] = handle;
    for (let i = 0; i < of; i++) if (!this.handles[i]) return;
    this.paused = false;
    this.asked = false;
    if (!this.toldAccepting) this.settings.send({ kind: 'accepting' });
    this.toldAccepting = true;
  }

  /** A socket asked for again never came (no descriptor free to receive it): ask again at the next tick. */
  lost(): void {
    if (this.paused) this.asked = false;
  }

  /** The primary's new limit (null: none, one worker serves). */
  share(most: number | null): void {
    this.most = most;
    this.resumeIfRoom();
  }

  /** Called for each request: above its share, the connection closes after this response. */
  request(res: unknown): void {
    if (this.most === null || !(res instanceof ServerResponse) || !res.shouldKeepAlive) return;
    if (this.open() - this.shedding <= this.most) return;
    res.shouldKeepAlive = false;
    this.shedding++;
    res.socket?.once('close', () => this.shedding--);
  }

  /** Stops accepting for good (the worker drains): what arrives now goes to the others. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.closeHandles();
  }

  /** Connections open in this worker. */
  open(): number {
    return this.settings.servers().reduce((sum, server) => sum + connectionCount(server), 0);
  }

  /** What weighs against its share: connections open, or those accepted lately if more (short ones are gone already). */
  load(): number {
    return Math.max(this.open(), this.recent.count());
  }

  private pause(): void {
    this.paused = true;
    this.asked = false; // Sockets still on their way from an earlier ask are closed as they come.
    this.closeHandles();
    this.report();
  }

  private resumeIfRoom(): void {
    if (!this.paused || this.asked || this.stopped) return;
    if (this.most !== null && this.load() >= this.most) return;
    this.asked = true;
    this.report();
    this.settings.send({ kind: 'relisten' });
  }

  private tick(): void {
    this.recent.tick();
    if (!this.toldAccepting) return;
    this.report();
    this.resumeIfRoom();
  }

  private report(): void {
    const open = this.open();
    const accepted = this.recent.count();
    const load = Math.max(open, accepted);
    if (load === this.reported) return;
    this.reported = load;
    this.settings.send({ kind: 'load', connections: open, accepted });
  }

  private closeHandles(): void {
    this.handles.forEach((handle) => handle?.close());
    this.handles.length = 0;
  }
}
