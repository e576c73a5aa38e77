// Graceful drain that loses nothing, even for a client that never resends
// (Node's keep-alive http.Agent, any POST). We stop listening (new
// connections wait in the manager's socket for the next process), mark
// every response not yet started as the last on its connection
// (Connection: close), and close a keep-alive connection only once it has
// gone quiet: nothing in flight and no byte received for the linger. Closing
// idle connections at once, as http.Server.close() does since Node 19,
// races the client's next request on them: measured, 12 requests of 40,111
// lost over 3 restarts, all on reused connections; with the linger, none.
// Busy clients get their Connection: close within a millisecond, so the
// linger only delays a stop whose clients sit idle. What remains at the
// deadline is closed by force.
//
// We track nothing per connection while serving: at shutdown we read the
// list node:http keeps for closeIdleConnections() (node-internals.ts), and
// each connection's byte count.

import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { httpConnections, responseInProgress } from './node-internals.js';

/** How often the drain looks at each connection. */
const SWEEP_INTERVAL_MS = 50;

/** How long an endless response (Server-Sent Events) open at stop gets before it is ended, for the app's own last event. */
export const ENDLESS_GRACE_MS = 1000;

/**
 * A response that never ends by itself (Server-Sent Events: its type, or
 * what the client accepts, is text/event-stream): at stop it is
 * ended cleanly after ENDLESS_GRACE_MS, so that an EventSource client
 * reconnects, to the next process, instead of holding the stop for the
 * whole graceful timeout and then seeing its stream cut.
 */
const isEndless = (res: ServerResponse) =>
  String(res.getHeader('content-type') ?? '').startsWith('text/event-stream') ||
  // Headers given to writeHead() alone are not kept for getHeader(); what EventSource asks for is.
  String(res.req?.headers.accept ?? '').includes('text/event-stream');

/**
 * What the drain learns of connections node:http does not list (HTTP/2
 * sessions, upgraded connections), from a book added to the server
 * (addConnectionBook); node:http's own list is read as well.
 */
export interface ConnectionBook {
  connections(): number;
  inFlight(): number;
  /** Shutdown has begun: ask every connection to end once its requests are done. */
  beginDrain(): void;
  closeIdle(): void;
  closeAll(): void;
}

const CONNECTION_BOOKS = Symbol.for('chaussette.connectionBooks');

type WithBooks = Server & { [CONNECTION_BOOKS]?: ConnectionBook[] };

/** Adds a book to what the drain reads for this server (HTTP/2 sessions, upgraded connections). */
export function addConnectionBook(server: Server, book: ConnectionBook): void {
  ((server as WithBooks)[CONNECTION_BOOKS] ??= []).push(book);
}

/** The server's books, as one: their counts added up, each told what to do. */
const bookOf = (server: Server): ConnectionBook | undefined => {
  const books = (server as WithBooks)[CONNECTION_BOOKS];
  if (!books) return undefined;
  return {
    connections: () => books.reduce((sum, book) => sum + book.connections(), 0),
    inFlight: () => books.reduce((sum, book) => sum + book.inFlight(), 0),
    beginDrain: () => books.forEach((book) => book.beginDrain()),
    closeIdle: () => books.forEach((book) => book.closeIdle()),
    closeAll: () => books.forEach((book) => book.closeAll()),
  };
};

/**
 * Serves upgrade requests (WebSocket) with `upgrade`, and keeps the
 * upgraded connections, which leave node:http's list: the drain and
 * STATUS= count them, and the deadline closes what is still open.
 */
export function serveUpgrades(server: Server, upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void {
  const open = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    upgrade(req, socket, head);
  });
  addConnectionBook(server, {
    connections: () => open.size,
    // An upgraded connection is one exchange that lasts until one side closes it.
    inFlight: () => open.size,
    beginDrain: () => {},
    closeIdle: () => {},
    closeAll: () => open.forEach((socket) => socket.destroy()),
  });
}

type MaybeHttp = Server & Partial<Pick<HttpServer, 'closeAllConnections'>>;

export const openConnections = (servers: Server[]) =>
  servers.reduce((sum, server) => sum + httpConnections(server).length + (bookOf(server)?.connections() ?? 0), 0);

/** Responses still owed: one per HTTP/1.1 connection at most, any number per HTTP/2 session. */
export const requestsInFlight = (servers: Server[]) =>
  servers.reduce(
    (sum, server) => sum + httpConnections(server).filter((socket) => responseInProgress(socket)).length + (bookOf(server)?.inFlight() ?? 0),
    0,
  );

const lastOnConnection = (_req: unknown, res: ServerResponse) => {
  res.shouldKeepAlive = false;
};

export interface DrainResult {
  /** Connections still open at the deadline, closed by force (for a pool of workers: workers killed). */
  forced: number;
  elapsedMs: number;
  /** Requests served in all, where they were counted (a pool of workers). */
  served?: number;
}

export interface DrainProgress {
  inFlight: number;
  connections: number;
  msLeft: number;
}

export const PROGRESS_EVERY_MS = 1000;

/** After the deadline's forced close, how long the connections get to be reported closed (their requests logged as cut). */
const FORCED_CLOSE_WAIT_MS = 1000;

const forcedServers = new WeakSet<Server>();

/**
 * Whether the stop's deadline has closed this server's connections by
 * force: a response that ends unfinished from then on was cut by us, not by
 * its client (the access log says so).
 */
export const closedByForce = (server: Server) => forcedServers.has(server);

/**
 * Stops accepting, and nothing else: net.Server's own close(), not the
 * override of node:http (and https, and http2's HTTP/1.1 side), which also
 * closes every idle keep-alive connection at that instant.
 */
function stopListening(server: Server): Promise<void> {
  return new Promise((resolve) => Server.prototype.close.call(server, () => resolve()));
}

/**
 * How long a connection that has sent nothing yet gets for its first request
 * at stop, instead of the linger. Accepted just before the stop (a worker
 * reads its stop a turn after it accepted), its client has connected and
 * writes its request in the same turn of its own event loop; only a client
 * process not scheduled meanwhile is later, and a close then would meet the
 * request it is about to send (ECONNRESET, never resent). No byte is lost
 * waiting: the request is answered, with Connection: close. What sends
 * nothing (a browser's preconnect) holds the stop this long at most.
 */
export const FIRST_REQUEST_WAIT_MS = 2000;

/**
 * Closes the connections that went quiet for `lingerMs` (for
 * FIRST_REQUEST_WAIT_MS, one that has sent nothing yet); `now` and the byte
 * counts say which. A connection is only closed once the process has read
 * what the kernel holds for it (confirm(), after a poll phase).
 */
export class QuietConnections {
  private readonly seen = new WeakMap<Socket, { bytes: number; since: number }>();

  constructor(
    private readonly lingerMs: number,
    private readonly firstRequestMs = Math.max(lingerMs, FIRST_REQUEST_WAIT_MS),
  ) {}

  /**
   * The connections quiet for long enough as far as this process has read.
   * Not closed yet: a process that was not scheduled for the linger runs its
   * timers before it reads, so a request already in the kernel's buffer
   * would be met by a close (a reset): close what confirm() keeps.
   */
  sweep(sockets: Iterable<Socket>, now: number): Socket[] {
    const quiet: Socket[] = [];
    for (const socket of sockets) {
      const bytes = socket.bytesRead;
      const last = this.seen.get(socket);
      if (!last || bytes !== last.bytes || responseInProgress(socket)) this.seen.set(socket, { bytes, since: now });
      else if (now - last.since >= (bytes === 0 ? this.firstRequestMs : this.lingerMs)) quiet.push(socket);
    }
    return quiet;
  }

  /** Of what sweep() found quiet, those still so: called after the event loop has read what arrived (setImmediate). */
  confirm(sockets: Socket[]): Socket[] {
    return sockets.filter((socket) => !socket.destroyed && socket.bytesRead === this.seen.get(socket)?.bytes && !responseInProgress(socket));
  }
}

/**
 * Done when every server has stopped listening and no connection is left:
 * close()'s callback alone is not enough, since it does not wait for
 * connections handed in by hand (Accept=yes).
 */
export async function drain(
  servers: Server[],
  timeoutMs: number,
  onProgress: ((progress: DrainProgress) => void) | undefined,
  /** How long a connection with nothing in flight stays open for its client's next request (--drain-linger). */
  lingerMs: number,
): Promise<DrainResult> {
  const started = Date.now();
  const httpServers = servers as MaybeHttp[];
  const stoppedListening = Promise.all(servers.map(stopListening));
  let listening = true;
  void stoppedListening.then(() => (listening = false));
  let allClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (allClosed = resolve));

  for (const server of servers) {
    bookOf(server)?.beginDrain();
    server.prependListener('request', lastOnConnection);
    for (const socket of httpConnections(server)) {
      const res = responseInProgress(socket);
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
  }
  const quiet = new QuietConnections(lingerMs);
  const sweep = () => {
    const now = Date.now();
    for (const server of servers) {
      const connections = httpConnections(server);
      if (now - started >= ENDLESS_GRACE_MS) {
        for (const socket of connections) {
          const res = responseInProgress(socket);
          if (res && !res.writableEnded && isEndless(res)) res.end();
        }
      }
      const candidates = quiet.sweep(connections, now);
      // Closed after the poll phase that follows, once what the kernel holds for them is read.
      if (candidates.length > 0)
        setImmediate(() => {
          for (const socket of quiet.confirm(candidates)) socket.destroy();
        });
      bookOf(server)?.closeIdle();
    }
    if (!listening && openConnections(servers) === 0) allClosed();
  };
  void stoppedListening.then(sweep);
  sweep();
  const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
  const report = () =>
    onProgress?.({ inFlight: requestsInFlight(servers), connections: openConnections(servers), msLeft: timeoutMs - (Date.now() - started) });
  const reporter = setInterval(report, PROGRESS_EVERY_MS);

  let deadline: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    deadline = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([closed.then(() => 'closed' as const), timedOut]);
  clearInterval(sweeper);
  clearInterval(reporter);
  clearTimeout(deadline);

  let forced = 0;
  if (outcome === 'timeout') {
    forced = openConnections(servers);
    httpServers.forEach((server) => {
      forcedServers.add(server);
      server.closeAllConnections?.();
      bookOf(server)?.closeAll();
    });
    // A destroyed socket is reported closed by the event loop's close phase, after what
    // follows here (the app's teardown, the exit) would already have run: wait for it.
    const until = Date.now() + FORCED_CLOSE_WAIT_MS;
    while (openConnections(servers) > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { forced, elapsedMs: Date.now() - started };
}
