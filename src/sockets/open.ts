// Listen targets become listening servers. Inherited fds are checked before
// Node touches them; sockets we bind are bound here; every failure becomes a
// catalogued error. Two promises kept to the manager that owns a socket:
// its backlog is never lowered (Node re-listens on an inherited fd, and the
// new backlog outlives us), and a socket we did not create is never
// shutdown() or unlinked (libuv only unlinks paths it bound itself).

import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { ChaussetteError, describeError, errors } from '../errors.js';
import { type FdInfo, inspectFd, lookupSocket } from './inspect.js';
import { describeTarget, type ListenTarget } from './resolve.js';

export interface OpenListener {
  target: ListenTarget;
  server: Server;
  /** Where it really listens: "fd 3 (web) -> 127.0.0.1:8000", "127.0.0.1:41234". */
  description: string;
}

/** The system's maximum backlog: systemd's Backlog= defaults to it, so re-listening with it never shrinks a socket. */
export function systemMaxBacklog(): number {
  try {
    const value = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    if (Number.isSafeInteger(value) && value > 0) return value;
  } catch {
    // Not Linux, or no /proc: fall through.
  }
  return 4096;
}

/** Turns what inspectFd saw into an error, or accepts the fd. */
export function checkInheritedFd(fd: number, info: FdInfo): void {
  if (info.kind === 'closed') throw errors.fdNotOpen(fd);
  if (info.kind === 'not-socket') throw errors.fdNotSocket(fd, info.what);
  const entry = info.entry;
  if (!entry) return; // Another network namespace, or an unbound TCP socket: settled after listen().
  if (entry.type === 'dgram') throw errors.fdDatagram(fd, entry.table === 'unix' ? 'unix datagram' : 'UDP');
  if (entry.type !== 'stream') throw errors.fdDatagram(fd, `${entry.table} ${entry.type}`);
  if (!entry.listening) throw errors.fdNotListening(fd, `a ${entry.table === 'unix' ? 'unix' : 'TCP'} socket ${entry.state} (${entry.local})`);
}

/** Checks every inherited fd up front, so a bad one fails before the app is loaded. */
export function preflight(targets: ListenTarget[]): Map<number, FdInfo> {
  const seen = new Map<number, FdInfo>();
  for (const target of targets) {
    if (target.kind !== 'fd') continue;
    const info = inspectFd(target.fd);
    checkInheritedFd(target.fd, info);
    seen.set(target.fd, info);
  }
  return seen;
}

export async function openListeners(
  targets: ListenTarget[],
  createServer: () => Server,
  backlog: number,
  inspected: Map<number, FdInfo>,
): Promise<OpenListener[]> {
  const opened: OpenListener[] = [];
  try {
    for (const target of targets) {
      const server = createServer();
      const description = await listenOn(server, target, backlog, inspected.get(target.kind === 'fd' ? target.fd : -1));
      opened.push({ target, server, description });
    }
  } catch (error) {
    for (const { server } of opened) server.close();
    throw error;
  }
  return opened;
}

async function listenOn(server: Server, target: ListenTarget, backlog: number, info: FdInfo | undefined): Promise<string> {
  const where = describeTarget(target);
  switch (target.kind) {
    case 'fd': {
      await listen(server, { fd: target.fd }, backlog, target);
      const before = info?.kind === 'socket' ? info.entry : undefined;
      if (before) return `${where} -> ${before.local}`;
      // Unseen before listen(): either another namespace (still unseen now)
      // or a socket nobody had bound, which libuv just bound to a random port.
      const inode = info?.kind === 'socket' ? info.inode : undefined;
      const after = inode === undefined ? undefined : lookupSocket(inode);
      if (after) {
        server.close();
        throw errors.fdNotBound(target.fd, after.local);
      }
      return `${where} (address not visible from this network namespace)`;
    }
    case 'tcp': {
      await listen(server, { host: target.host, port: target.port }, backlog, target);
      const address = server.address();
      if (address && typeof address === 'object') {
        return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
      }
      return where;
    }
    case 'unix': {
      await clearStaleUnixSocket(target.path);
      await listen(server, { path: target.path }, backlog, target);
      return where;
    }
  }
}

function listen(server: Server, options: { fd: number } | { host: string; port: number } | { path: string }, backlog: number, target: ListenTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      reject(listenError(error, target));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // The backlog goes as the second argument: with an fd, Node ignores options.backlog.
    server.listen(options, backlog);
  });
}

function listenError(error: NodeJS.ErrnoException, target: ListenTarget): ChaussetteError {
  const where = describeTarget(target);
  switch (error.code) {
    case 'EADDRINUSE':
      return errors.addressInUse(where);
    case 'EACCES':
    case 'EPERM':
      return errors.permissionDenied(where, target.kind === 'tcp' && target.port > 0 && target.port < 1024);
    case 'EADDRNOTAVAIL':
      return errors.cannotListen(where, 'that address does not belong to this host');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return errors.cannotListen(where, 'the host name does not resolve');
    case 'ENOTSOCK':
      return target.kind === 'fd' ? errors.fdNotSocket(target.fd, 'not a socket') : errors.cannotListen(where, describeError(error));
    case 'EINVAL':
      if (target.kind === 'fd') return errors.fdNotListening(target.fd, 'a socket that cannot listen (datagram, connected or of another family)');
      return errors.cannotListen(where, describeError(error));
    case 'EEXIST':
      return errors.cannotListen(where, 'this fd is already open as another handle in this process');
    default:
      return errors.cannotListen(where, describeError(error));
  }
}

/** A socket file with nothing behind it is left over from a crash: replace it. A live one is not ours to take. */
async function clearStaleUnixSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return; // Nothing there.
  }
  if (!stats.isSocket()) throw errors.unixPathNotSocket(path);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw errors.unixSocketLive(path);
  unlinkSync(path);
}
