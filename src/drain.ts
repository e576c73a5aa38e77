// Graceful drain. server.close() alone only stops accepting: keep-alive
// connections that go idle afterwards would linger until keepAliveTimeout
// (measured on Node 20: 6.8 s instead of 0.8 s). So on shutdown we stop
// accepting, mark every response not yet started as the last on its
// connection (Connection: close), close idle connections now and every
// 100 ms as in-flight responses end, and close what remains at the
// deadline. Nothing in flight is cut while time remains.
//
// We track nothing per connection while serving: at shutdown we read the
// list node:http keeps for closeIdleConnections() (node-internals.ts).

import type { Server as HttpServer, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { httpConnections, responseInProgress } from './node-internals.js';

const SWEEP_INTERVAL_MS = 100;

/**
 * What a server whose connections node:http does not list (HTTP/2 sessions)
 * tells the drain, under CONNECTION_BOOK. A backend that keeps one adds it
 * to the server it builds; node:http's own list is read as well.
 */
export interface ConnectionBook {
  connections(): number;
  inFlight(): number;
  /** Shutdown has begun: ask every connection to end once its requests are done. */
  beginDrain(): void;
  closeIdle(): void;
  closeAll(): void;
}

export const CONNECTION_BOOK = Symbol.for('chaussette.connectionBook');

const bookOf = (server: Server) => (server as Server & { [CONNECTION_BOOK]?: ConnectionBook })[CONNECTION_BOOK];

type MaybeHttp = Server & Partial<Pick<HttpServer, 'closeIdleConnections' | 'closeAllConnections'>>;

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

/**
 * Done when every server has stopped listening and no connection is left:
 * close()'s callback alone is not enough, since it does not wait for
 * connections handed in by hand (Accept=yes).
 */
export async function drain(servers: Server[], timeoutMs: number, onProgress?: (progress: DrainProgress) => void): Promise<DrainResult> {
  const started = Date.now();
  const httpServers = servers as MaybeHttp[];
  const stoppedListening = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
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
  const sweep = () => {
    httpServers.forEach((server) => {
      server.closeIdleConnections?.();
      bookOf(server)?.closeIdle();
    });
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
      server.closeAllConnections?.();
      bookOf(server)?.closeAll();
    });
    // Upgraded connections (WebSocket) left node:http's list; the exit that follows closes them.
  }
  return { forced, elapsedMs: Date.now() - started };
}
