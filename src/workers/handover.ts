// A connection on its way from the primary to a worker. The primary takes
// each accepted connection as libuv's raw handle, without making it a
// net.Socket it would never read: that wrapping, and the per-socket
// bookkeeping child.send() adds for a net.Socket (one more IPC message when
// the worker closes it), halved the rate of new connections handed over.
// Node's own cluster module hands raw handles over the same way. Should a
// future Node hide the handle's onconnection, the public 'connection' event
// (with pauseOnConnect) still works, only slower.

import { type Server, Socket } from 'node:net';

/** A raw libuv stream handle (TCP or Pipe), or a paused net.Socket on the fallback path. */
export type Connection = Socket | { close(): void };

export function takeAccepted(server: Server, deliver: (connection: Connection) => void): void {
  const handle = (server as unknown as { _handle?: { onconnection?: unknown } })._handle;
  if (handle && typeof handle.onconnection === 'function') {
    // status < 0: accept() failed (EMFILE, say); libuv goes on accepting.
    handle.onconnection = (status: number, client?: Connection) => {
      if (status >= 0 && client) deliver(client);
    };
  } else {
    server.on('connection', deliver);
  }
}

export function discard(connection: Connection): void {
  if (connection instanceof Socket) connection.destroy();
  else connection.close();
}

/** In the worker: what arrived, as the socket a server's 'connection' listener expects. */
export function asSocket(received: unknown, server: Server): Socket {
  if (received instanceof Socket) return received;
  // As net.Server does for a connection it accepted itself (node:http servers ask for no delay).
  // `handle` is what net.Server itself passes; the public typings leave it out.
  const socket = new Socket({ handle: received, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
  socket.setNoDelay(true);
  // The server counts it (close() waits for its count to reach zero; the socket decrements it when it closes).
  const counted = server as Server & { _connections: number };
  counted._connections++;
  Object.assign(socket, { server, _server: server });
  return socket;
}
