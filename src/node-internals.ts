// Everything chaussette reads or writes inside Node's own objects, in one
// place. Each accessor says what it reaches for, why the public API is not
// enough, and what happens when a future Node moves it (a slower or less
// precise path, never a crash). test/node-internals.test.ts checks on the
// running Node that every fast path is still the one taken, so an upgrade
// that breaks one fails a test instead of quietly slowing chaussette down.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2Session } from 'node:http2';
import * as netModule from 'node:net';
import { type Server, Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

// --- node:http's list of connections (Node >= 18.2) -------------------------

type ConnectionList = { all?: () => Array<{ socket?: Socket }> };

const connectionListOf = (server: Server): ConnectionList | undefined => {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === 'http.server.connections');
  return key && (server as unknown as Record<symbol, ConnectionList | undefined>)[key];
};

/**
 * The connections a node:http server is serving: the list it keeps for
 * closeIdleConnections(). Tracking connections ourselves cost 5% of
 * new-connection throughput; this costs nothing while serving. Moved: []
 * (the drain then only sees connections close by themselves).
 */
export function httpConnections(server: Server): Socket[] {
  const list = connectionListOf(server);
  if (!list || typeof list.all !== 'function') return [];
  return list.all().flatMap((connection) => (connection.socket ? [connection.socket] : []));
}

/** Whether httpConnections() reads Node's list on this server (the fast path). */
export const hasHttpConnectionList = (server: Server) => typeof connectionListOf(server)?.all === 'function';

/**
 * node:http creates that list, and starts its header and request timeout
 * checks, when the server emits 'listening'. A server that never listens
 * itself (it is handed connections: Accept=yes, a --workers worker) must
 * emit it, or its connections go unwatched.
 */
export function startConnectionTracking(server: Server): void {
  server.emit('listening');
}

// --- the response in progress on a connection --------------------------------

/**
 * The response node:http is writing on a socket (socket._httpMessage), so
 * the drain can mark it the last on its connection. Moved: undefined (the
 * response then goes out with keep-alive, and the drain's sweep still
 * closes the connection once it is idle).
 */
export const responseInProgress = (socket: Socket) => (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;

/** Whether node:http keeps its response on the socket under that name (checked with a socket it serves). */
export const hasResponseSlot = (socket: Socket) => '_httpMessage' in socket;

// --- node:http2's streams of a session ---------------------------------------

let stateKey: symbol | undefined;

const streamMapOf = (session: Http2Session) => {
  stateKey ??= Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === 'state');
  return stateKey && (session as unknown as Record<symbol, { streams?: { size?: unknown } } | undefined>)[stateKey]?.streams;
};

/**
 * Streams open on an HTTP/2 session, from the map node:http2 keeps (a
 * listener per stream cost 7-17% of HTTP/2 throughput). It is Node's own
 * SafeMap, not an instanceof this realm's Map. Moved: 0 (the drain still
 * waits for each session to close, as GOAWAY lets its streams finish; only
 * the counts in STATUS= and the idle timeout's view of a busy session suffer).
 */
export function http2StreamCount(session: Http2Session): number {
  const streams = streamMapOf(session);
  return typeof streams?.size === 'number' ? streams.size : 0;
}

export const hasHttp2StreamMap = (session: Http2Session) => typeof streamMapOf(session)?.size === 'number';

// --- accepted connections as raw handles (--workers) --------------------------

/** A raw libuv stream handle (TCP or Pipe), or a paused net.Socket on the fallback path. */
export type Connection = Socket | { close(): void };

/**
 * Takes each connection a listening server accepts as libuv's raw handle,
 * through the handle's onconnection, as Node's cluster module does: making
 * it a net.Socket that is never read, and the per-socket bookkeeping
 * child.send() adds for one, halved the rate of connections handed to
 * workers. Moved: the public 'connection' event (the server must be made
 * with pauseOnConnect), slower. Returns the path taken.
 */
export function interceptAccepted(
  server: Server,
  deliver: (connection: Connection) => void,
  failed: (error: NodeJS.ErrnoException) => void,
): 'handle' | 'event' {
  const handle = (server as unknown as { _handle?: { onconnection?: unknown } })._handle;
  if (handle && typeof handle.onconnection === 'function') {
    // status < 0: accept() failed, reported as node:net reports it (EMFILE, when libuv had no descriptor
    // in reserve to refuse connections with: sockets/fd-shortage.ts); libuv goes on accepting.
    handle.onconnection = (status: number, client?: Connection) => {
      if (status >= 0) {
        if (client) deliver(client);
        return;
      }
      const code = getSystemErrorName(status);
      failed(Object.assign(new Error(`accept ${code}`), { code, errno: status, syscall: 'accept' }));
    };
    return 'handle';
  }
  server.on('connection', deliver);
  server.on('error', failed);
  return 'event';
}

/**
 * The file descriptor of an accepted connection (libuv's handle.fd, on a
 * raw handle or a net.Socket's _handle), so that taking the last one a
 * process may open is noticed at once (sockets/fd-shortage.ts). Moved:
 * undefined, and a shortage is noticed by the probe, within a second.
 */
export function descriptorOf(connection: Connection): number | undefined {
  const handle = connection instanceof Socket ? (connection as Socket & { _handle?: unknown })._handle : connection;
  const fd = (handle as { fd?: unknown } | undefined)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * A connection received over IPC, as the socket a server's 'connection'
 * listener expects, counted by the server as if it had accepted it:
 * close() waits for server._connections to reach zero, and the socket
 * decrements it when it closes. `handle` is what net.Server itself passes
 * to new Socket(); the public typings leave it out. Moved (no
 * _connections): served all the same; close() then only stops listening.
 */
export function adoptHandle(received: unknown, server: Server): Socket {
  if (received instanceof Socket) return received;
  const socket = new Socket({ handle: received, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
  // As net.Server does for a connection it accepted itself (node:http servers ask for no delay).
  socket.setNoDelay(true);
  const counted = server as Server & { _connections?: number };
  if (typeof counted._connections === 'number') counted._connections++;
  Object.assign(socket, { server, _server: server });
  return socket;
}

/**
 * The client's address of an accepted connection (--sticky), from the raw
 * TCP handle's getpeername(), as net.Socket's remoteAddress reads it: one
 * system call, no socket built. A unix-socket connection (a Pipe handle,
 * which has no getpeername) and a connection already reset: undefined.
 * Moved (no getpeername on the handle): undefined for every connection, so
 * --sticky sends them all to one worker; the node-internals test fails first.
 */
export function peerAddress(connection: Connection): string | undefined {
  if (connection instanceof Socket) return connection.remoteAddress;
  const handle = connection as { getpeername?: (out: { address?: string }) => number };
  if (typeof handle.getpeername !== 'function') return undefined;
  const out: { address?: string } = {};
  return handle.getpeername(out) === 0 ? out.address : undefined;
}

/** Whether peerAddress() can read this connection's address (a TCP handle): the check for its fast path. */
export const hasPeerName = (connection: Connection) => connection instanceof Socket || typeof (connection as { getpeername?: unknown }).getpeername === 'function';

/** Closes a connection that will not be handed over (its worker is gone, or its copy was sent). */
export function discard(connection: Connection): void {
  if (connection instanceof Socket) connection.destroy();
  else connection.close();
}

/** net.Server._connections: the count close() waits on, kept by adoptHandle() too; undefined if moved. */
const connectionsField = (server: Server) => {
  const count = (server as Server & { _connections?: unknown })._connections;
  return typeof count === 'number' ? count : undefined;
};

export const hasConnectionCount = (server: Server) => connectionsField(server) !== undefined;

// --- body bytes of one response ----------------------------------------------

type Chunk = string | Uint8Array | undefined | null | ((...args: unknown[]) => void);

function byteLength(chunk: Chunk, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/**
 * Counts the body bytes the app hands to write() and end() of one response,
 * by wrapping those two methods on it: neither node:http nor the http2
 * compatibility layer says how many were sent for one response (a socket's
 * count spans its keep-alive requests and headers). http2's end() calls
 * write() itself; those bytes are counted once. Should a Node's end() stop
 * going through write(), the count stays right; should it start to, the
 * `ending` guard keeps it from counting twice.
 */
export function countBodyBytes(res: ServerResponse): { bytes: number } {
  const counted = { bytes: 0 };
  const write = res.write;
  const end = res.end;
  let ending = false;
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    if (!ending) counted.bytes += byteLength(args[0] as Chunk, args[1]);
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    counted.bytes += byteLength(args[0] as Chunk, args[1]);
    ending = true;
    try {
      return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    } finally {
      ending = false;
    }
  } as ServerResponse['end'];
  return counted;
}

// --- request bodies as they arrive (--max-body-size) -------------------------

type Push = (chunk: unknown, encoding?: BufferEncoding) => boolean;

/**
 * Calls `exceeded` once more than `max` body bytes have arrived for a
 * request, and drops every byte from then on. node:http's parser and the
 * http2 compatibility layer hand each piece of a body to req.push() as it
 * arrives, whether the app reads yet or not: wrapping push() on this one
 * request counts them without taking the stream from the app (a 'data'
 * listener would read it). A dropped piece returns true, so the connection
 * goes on being read, and emptied, until it closes. Moved (push() no longer
 * called per piece): nothing is counted, and a body without Content-Length
 * is not cut; one with it still is, before the app is called.
 */
export function limitArrivingBody(req: IncomingMessage, max: number, exceeded: () => void): void {
  const push = req.push as Push;
  let received = 0;
  let over = false;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk === null || chunk === undefined) return push.call(this, chunk, encoding);
    if (over) return true;
    received += typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : (chunk as Uint8Array).byteLength;
    if (received <= max) return push.call(this, chunk, encoding);
    over = true;
    exceeded();
    return true;
  } as IncomingMessage['push'];
}

/**
 * Ends a connection after a `Connection: close` response, reading (and
 * dropping) what the client still sends for up to `ms` before closing it:
 * closed with unread bytes, the kernel answers the client with a reset, and
 * a client still uploading loses the response it was sent (measured: curl
 * sending 50 MB, answered 413, got "Broken pipe" and no status). node:http
 * ends such a connection with socket.destroySoon() once the response is
 * written; this socket's is replaced by one that lingers, as nginx's
 * lingering_close does. What arrives meanwhile is never parsed: node:http's
 * own 'data' listener goes, or a request pipelined after the refused body
 * would reach the app, its answer lost. Moved (destroySoon() no longer
 * called): the connection closes at once, and a client still sending may
 * see a reset instead of the answer.
 */
export function lingerBeforeClose(socket: Socket, ms: number): void {
  socket.destroySoon = function (this: Socket) {
    this.end();
    if (this.readableEnded) return void this.destroy();
    for (const listener of this.listeners('data')) this.removeListener('data', listener as (...args: unknown[]) => void);
    this.on('data', () => {});
    const timer = setTimeout(() => this.destroy(), ms);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}

// --- listening sockets shared by worker processes (--workers) -----------------

/**
 * libuv's handle on a listening socket (TCP or Pipe), as net.Server keeps
 * it in _handle. Made here without being polled, it accepts nothing until
 * acceptOn() listens on it; sent over IPC it arrives as a handle on a new
 * descriptor of the same socket.
 */
export interface SocketHandle {
  readonly fd: number;
  close(): void;
}

type ServerHandleMaker = (address: string | null, port: number | null, addressType: number | null, fd?: number) => SocketHandle | number;

const serverHandleMaker = (): ServerHandleMaker | undefined => {
  const make = (netModule as unknown as { _createServerHandle?: unknown })._createServerHandle;
  return typeof make === 'function' ? (make as ServerHandleMaker) : undefined;
};

/** Whether sockets can be opened without accepting (the workers then accept themselves). */
export const canShareSockets = () => serverHandleMaker() !== undefined;

const errnoError = (status: number, syscall: string): NodeJS.ErrnoException => {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: status, syscall });
};

/**
 * A handle on a socket that this process never accepts on: an inherited
 * listening fd opened, a TCP address or a unix path bound (not listening
 * yet; the first worker's acceptOn() makes it listen). It is
 * net._createServerHandle, what node:cluster's shared handles are made
 * with: net.Server.listen() would also start accepting here, and the
 * kernel would then give this process its share of the connections. Throws
 * an ErrnoException as listen() would. Moved: canShareSockets() is false,
 * and the primary accepts and hands each connection over (slower).
 */
export function openWithoutAccepting(where: { fd: number } | { host: string; family: 4 | 6; port: number } | { path: string }): SocketHandle {
  const make = serverHandleMaker();
  if (!make) throw new Error('net._createServerHandle is gone');
  const made =
    'fd' in where ? make(null, null, null, where.fd) : 'path' in where ? make(where.path, -1, -1) : make(where.host, where.port, where.family);
  if (typeof made === 'number') throw errnoError(made, 'fd' in where ? 'open' : 'bind');
  return made;
}

/** The address a TCP handle is bound to (getsockname), or undefined (a Pipe). */
export function handleAddress(handle: SocketHandle): { address: string; family: string; port: number } | undefined {
  const getsockname = (handle as unknown as { getsockname?: (out: object) => number }).getsockname;
  if (typeof getsockname !== 'function') return undefined;
  const out = {} as { address: string; family: string; port: number };
  return getsockname.call(handle, out) === 0 ? out : undefined;
}

/**
 * Accepts on a listening handle (received from the primary) and delivers
 * each connection as a raw handle, as net.Server's own onconnection would
 * (node:cluster's round-robin takes them the same way). Closing the handle
 * is the only way to stop a listening handle accepting: libuv's
 * uv_read_stop() leaves a listening socket polled (measured on Node 20),
 * and there is no uv_listen_stop(). Its descriptor goes with it, the socket
 * stays (every other process holds its own descriptor). Throws as listen() would.
 */
export function acceptOn(handle: SocketHandle, backlog: number, deliver: (connection: Connection) => void, failed: (error: NodeJS.ErrnoException) => void): void {
  const listening = handle as SocketHandle & { onconnection?: unknown; listen(backlog: number): number };
  listening.onconnection = (status: number, client?: Connection) => {
    if (status >= 0) {
      if (client) deliver(client);
      return;
    }
    failed(errnoError(status, 'accept'));
  };
  const status = listening.listen(backlog);
  if (status < 0) throw errnoError(status, 'listen');
}

/** Connections a net.Server counts as open (connectionsField()); 0 if moved. */
export const connectionCount = (server: Server) => connectionsField(server) ?? 0;
