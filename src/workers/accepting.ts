// A worker accepting on the sockets itself, and keeping to its share. The
// kernel hands a new connection to whichever process it wakes first, and
// that process accepts every connection waiting (libuv accepts until
// EAGAIN): measured on 2 cores, two processes on one socket split wrk's 50
// keep-alive connections 84/16. So each worker reports how many connections
// it holds, the primary tells each the most it should hold (mostPerWorker():
// the mean plus a margin), and a worker above it stops accepting (its
// listening handle closed: the only way to stop a libuv listener) and asks
// for the sockets again once below; the others, holding fewer, take what
// comes meanwhile. A worker above its share also answers its next requests
// with Connection: close, as many as it holds too many: their clients
// connect again, to a worker with room (a keep-alive connection would
// otherwise stay where the first burst put it). Closing after a response is
// safe: the client was told, and never sends on it again (closing an idle
// one would race its next request). HTTP/2 sessions and upgraded
// connections are counted, not shed.
//
// Only while its clients keep their connections (keptAlive()): with a new connection per
// request the counts swing a few connections either side of the mean at
// every instant, and pausing on them stopped each worker about 25 times a
// second (the sockets come back over IPC, and meanwhile the other worker
// accepts alone), for a fifth of the throughput; the kernel spreads such
// connections evenly by itself (51/49), as they come one at a time.

import { ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import { acceptOn, adoptHandle, type Connection, connectionCount, type SocketHandle } from '../node-internals.js';
import type { FromWorker } from './protocol.js';

/** How often a worker paused above its share looks for room again (a local check, no message). */
export const CHECK_EVERY_MS = 20;

/**
 * How often a worker reports its count, if it changed, and weighs what its
 * clients did since (keptAlive()). Every 20 ms cost about 5% of the
 * requests a second with a new connection per request (each report changed
 * the share the primary tells every worker).
 */
export const REPORT_EVERY_MS = 100;

/**
 * Whether a worker's clients keep their connections, from the last report
 * interval: none accepted, two requests or more per connection accepted, or
 * as many connections open as were accepted (WebSockets, SSE: one request
 * each, but they stay). With a new connection per request, hundreds are
 * accepted per interval and a handful are open at any time.
 */
export const keptAlive = (accepted: number, requests: number, open: number) => accepted === 0 || requests >= 2 * accepted || open >= accepted;

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
  private ticks = 0;
  /** Since the last report: connections accepted, requests begun. */
  private accepted = 0;
  private requests = 0;
  /** Its clients keep their connections (keptAlive()): a worker above its share stops accepting. */
  private keepAlive = true;
  /** Connections told to close after their response, not closed yet. */
  private shedding = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly settings: AcceptingSettings) {
    this.timer = setInterval(() => this.tick(), CHECK_EVERY_MS);
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
        this.accepted++;
        this.settings.accepted(socket);
        server.emit('connection', socket);
        if (this.keepAlive && this.most !== null && this.open() > this.most) this.pause();
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
    this.requests++;
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

  private pause(): void {
    this.paused = true;
    this.asked = false; // Sockets still on their way from an earlier ask are closed as they come.
    this.closeHandles();
    this.report();
  }

  private resumeIfRoom(): void {
    if (!this.paused || this.asked || this.stopped) return;
    if (this.most !== null && this.open() >= this.most) return;
    this.asked = true;
    this.report();
    this.settings.send({ kind: 'relisten' });
  }

  private tick(): void {
    if (!this.toldAccepting) return;
    this.ticks = (this.ticks + 1) % (REPORT_EVERY_MS / CHECK_EVERY_MS);
    if (this.ticks === 0) {
      this.keepAlive = keptAlive(this.accepted, this.requests, this.open());
      this.accepted = this.requests = 0;
      this.report();
    }
    this.resumeIfRoom();
  }

  private report(): void {
    const open = this.open();
    if (open === this.reported) return;
    this.reported = open;
    this.settings.send({ kind: 'load', connections: open });
  }

  private closeHandles(): void {
    this.handles.forEach((handle) => handle?.close());
    this.handles.length = 0;
  }
}
