// Listen targets become listening servers. Inherited fds are checked before
// Node touches them; sockets we bind are bound here; every failure becomes a
// catalogued error. An inherited connected socket (systemd's Accept=yes) is
// served as the one HTTP connection it is. Two promises kept to the manager that owns a socket:
// its backlog is never lowered (Node re-listens on an inherited fd, and the
// new backlog outlives us), and a socket we did not create is never
// shutdown() or unlinked (libuv only unlinks paths it bound itself).

import { lookup } from 'node:dns/promises';
import { lstatSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { connect, type Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import { ChaussetteError, errors } from '../errors.js';
import { handleAddress, openWithoutAccepting, type SocketHandle, startConnectionTracking } from '../node-internals.js';
import { type FdInfo, inspectFd, lookupSocket } from './inspect.js';
import { describeTarget, type ListenTarget } from './resolve.js';

/** How this process reaches its own socket (the watchdog probe): a TCP address or a unix socket path (abstract: leading NUL). */
export type ProbeTarget = { host: string; port: number } | { socketPath: string };

export interface OpenListener {
  target: ListenTarget;
  server: Server;
  /** Where it really listens: "fd 3 (web) -> 127.0.0.1:8000", "127.0.0.1:41234". */
  description: string;
  /** The address alone, for status lines: "127.0.0.1:8000", "unix:/run/app.sock". */
  address: string;
  /** How this process can reach its own socket (the watchdog probe); undefined: it cannot. */
  reach: ProbeTarget | undefined;
  /** Only for a connection handed over whole (Accept=yes): settles once it has closed. */
  closed?: Promise<void>;
}

/** What the lifecycle needs of a socket served, by this process or by its workers. */
export type Listening = Omit<OpenListener, 'server' | 'closed'>;

/** A socket the workers of a primary accept on themselves; the primary holds it without accepting. */
export interface SharedSocket extends Listening {
  handle: SocketHandle;
}

/**
 * The sockets for workers that accept themselves (workers/primary.ts): each
 * inherited fd opened, each address bound, none accepted on here. Nothing
 * listens yet on an address bound here until a worker does: a connection
 * before then is refused, as before a single process listens. Inherited
 * connections (Accept=yes) are not for workers (the primary refuses them).
 */
export async function openShared(targets: ListenTarget[], inspected: Map<number, Inherited>): Promise<SharedSocket[]> {
  const opened: SharedSocket[] = [];
  try {
    for (const target of targets) opened.push(await openOneShared(target, inspected));
  } catch (error) {
    for (const { handle } of opened) handle.close();
    throw error;
  }
  return opened;
}

async function openOneShared(target: ListenTarget, inspected: Map<number, Inherited>): Promise<SharedSocket> {
  try {
    let handle: SocketHandle;
    switch (target.kind) {
      case 'fd':
        handle = openWithoutAccepting({ fd: target.fd });
        break;
      case 'tcp': {
        // As listen() does with a host name: its first address.
        const { address, family } = await lookup(target.host).catch((error: NodeJS.ErrnoException) => {
          throw Object.assign(error, { code: error.code ?? 'ENOTFOUND' });
        });
        handle = openWithoutAccepting({ host: address, family: family === 6 ? 6 : 4, port: target.port });
        break;
      }
      case 'unix':
        await clearStaleUnixSocket(target.path);
        // Bound here, so closed here at the stop, the path unlinked with it (libuv unlinks what it bound).
        handle = openWithoutAccepting({ path: target.path });
        break;
    }
    const info = target.kind === 'fd' ? inspected.get(target.fd)?.info : undefined;
    const bound = handleAddress(handle);
    // Nobody bound it (port 0): a worker's listen() would pick a random port, as listenOn() finds after the fact.
    if (target.kind === 'fd' && info?.kind === 'socket' && bound?.port === 0) {
      handle.close();
      throw errors.fdNotBound(target.fd);
    }
    return { target, handle, ...servedAt(target, info, bound) };
  } catch (error) {
    if (error instanceof ChaussetteError) throw error;
    throw listenError(error as NodeJS.ErrnoException, target);
  }
}

/** A passed fd is either a socket to listen on or one accepted connection (Accept=yes). */
export type FdRole = 'listen' | 'connection';

export interface Inherited {
  info: FdInfo;
  role: FdRole;
}

/** The system's maximum backlog: systemd's Backlog= defaults to it, so re-listening with it never shrinks a socket. */
export function systemMaxBacklog(): number {
  try {
    const value = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    if (Number.isSafeInteger(value) && value > 0) return value;
  } catch {
    // Not Linux, or /proc/sys hidden (ProcSubset=pid): fall through.
  }
  // The kernel caps a listen() backlog at somaxconn, so a large value can only mean "the most allowed".
  return 65535;
}

/**
 * Turns what inspectFd saw into an error, or into the fd's role. When the
 * kernel tables cannot tell (another network namespace), systemd's name
 * decides: it names an Accept=yes socket "connection" (sd_listen_fds(3)).
 */
export function checkInheritedFd(fd: number, info: FdInfo, name?: string): FdRole {
  if (info.kind === 'closed') throw errors.fdNotOpen(fd);
  if (info.kind === 'not-socket') throw errors.fdNotSocket(fd, info.what);
  const entry = info.entry;
  if (!entry) return name === 'connection' ? 'connection' : 'listen'; // An unbound TCP socket is caught after listen().
  if (entry.type === 'dgram') throw errors.fdDatagram(fd, entry.table === 'unix' ? 'unix datagram' : 'UDP');
  if (entry.type !== 'stream') throw errors.fdDatagram(fd, `${entry.table} ${entry.type}`);
  if (entry.listening) return 'listen';
  if (entry.state.startsWith('connected')) return 'connection';
  throw errors.fdNotListening(fd, `a ${entry.table === 'unix' ? 'unix' : 'TCP'} socket ${entry.state} (${entry.local})`);
}

/** Checks every inherited fd up front, so a bad one fails before the app is loaded. */
export function preflight(targets: ListenTarget[]): Map<number, Inherited> {
  const seen = new Map<number, Inherited>();
  for (const target of targets) {
    if (target.kind !== 'fd') continue;
    const info = inspectFd(target.fd);
    const role = checkInheritedFd(target.fd, info, target.source === 'systemd' ? target.name : undefined);
    seen.set(target.fd, { info, role });
  }
  return seen;
}

export async function openListeners(
  targets: ListenTarget[],
  createServer: () => Server,
  backlog: number,
  inspected: Map<number, Inherited>,
): Promise<OpenListener[]> {
  const opened: OpenListener[] = [];
  try {
    for (const target of targets) {
      const server = createServer();
      const inherited = target.kind === 'fd' ? inspected.get(target.fd) : undefined;
      const where =
        target.kind === 'fd' && inherited?.role === 'connection'
          ? serveConnection(server, target.fd, inherited.info)
          : await listenOn(server, target, backlog, inherited?.info);
      opened.push({ target, server, ...where });
    }
  } catch (error) {
    for (const { server } of opened) server.close();
    throw error;
  }
  return opened;
}

type Where = Pick<OpenListener, 'description' | 'address' | 'reach' | 'closed'>;

/** One accepted connection, handed to the server as if it had accepted it itself. */
function serveConnection(server: Server, fd: number, info: FdInfo): Where {
  let socket: Socket;
  try {
    socket = new Socket({ fd, readable: true, writable: true });
  } catch (error) {
    throw errors.cannotListen(`fd ${fd}`, error);
  }
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const local = info.kind === 'socket' ? info.entry?.local : undefined;
  const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'a unix peer';
  startConnectionTracking(server);
  server.emit('connection', socket);
  return {
    description: `fd ${fd}: one connection from ${peer}${local ? ` to ${local}` : ''} (Accept=yes)`,
    address: `one connection from ${peer}`,
    reach: undefined,
    closed,
  };
}

/** A socket address as /proc/net shows it, as node:net connects to it. */
function reachOf(local: string): Where['reach'] {
  if (local.startsWith('unix:@')) return { socketPath: `\0${local.slice('unix:@'.length)}` };
  if (local.startsWith('unix:')) return { socketPath: local.slice('unix:'.length) };
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(local);
  return match ? hostPort(match[1]!, Number(match[2])) : undefined;
}

/** A wildcard address is reached through loopback. */
const hostPort = (host: string, port: number) => ({ host: host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port });

async function listenOn(server: Server, target: ListenTarget, backlog: number, info: FdInfo | undefined): Promise<Omit<Where, 'closed'>> {
  if (target.kind === 'unix') await clearStaleUnixSocket(target.path);
  await listen(server, target.kind === 'fd' ? { fd: target.fd } : target.kind === 'tcp' ? { host: target.host, port: target.port } : { path: target.path }, backlog, target);
  const address = server.address();
  const bound = address && typeof address === 'object' ? address : undefined;
  if (target.kind === 'fd' && !(info?.kind === 'socket' && info.entry)) {
    // Unseen before listen(): either another namespace (still unseen now)
    // or a socket nobody had bound, which libuv just bound to a random port.
    const inode = info?.kind === 'socket' ? info.inode : undefined;
    const after = inode === undefined ? undefined : lookupSocket(inode);
    if (after) {
      server.close();
      throw errors.fdNotBound(target.fd, after.local);
    }
  }
  return servedAt(target, info, bound);
}

/**
 * How a socket served is described and reached: an inherited fd by the
 * address /proc showed for it before (none: another network namespace),
 * a TCP address by the one it is bound to, a unix socket by its path.
 */
function servedAt(target: ListenTarget, info: FdInfo | undefined, bound: { address: string; family: string; port: number } | undefined): Omit<Where, 'closed'> {
  const where = describeTarget(target);
  switch (target.kind) {
    case 'fd': {
      const before = info?.kind === 'socket' ? info.entry : undefined;
      if (before) return { description: `${where} -> ${before.local}`, address: before.local, reach: reachOf(before.local) };
      return { description: `${where} (address not visible from this network namespace)`, address: where, reach: bound && hostPort(bound.address, bound.port) };
    }
    case 'tcp': {
      if (!bound) return { description: where, address: where, reach: { host: target.host, port: target.port } };
      const text = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
      return { description: text, address: text, reach: hostPort(bound.address, bound.port) };
    }
    case 'unix':
      return { description: where, address: where, reach: { socketPath: target.path } };
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

export function listenError(error: NodeJS.ErrnoException, target: ListenTarget): ChaussetteError {
  const where = describeTarget(target);
  switch (error.code) {
    case 'EADDRINUSE':
      return errors.addressInUse(where);
    case 'EACCES':
    case 'EPERM':
      // libuv reports a unix path's missing directory (ENOENT) as EACCES, "for compatibility with Windows".
      if (target.kind === 'unix' && isMissing(dirname(target.path))) return errors.unixDirectoryMissing(target.path, dirname(target.path));
      return errors.permissionDenied(where, target.kind === 'tcp' && target.port > 0 && target.port < 1024);
    case 'EADDRNOTAVAIL':
      return errors.cannotListen(where, 'that address does not belong to this host');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return errors.cannotListen(where, 'the host name does not resolve');
    case 'ENOTSOCK':
      return target.kind === 'fd' ? errors.fdNotSocket(target.fd, 'not a socket') : errors.cannotListen(where, error);
    case 'EINVAL':
      if (target.kind === 'fd') return errors.fdNotListening(target.fd, 'a socket that cannot listen (datagram, connected or of another family)');
      return errors.cannotListen(where, error);
    case 'EEXIST':
      return errors.cannotListen(where, 'this fd is already open as another handle in this process');
    default:
      return errors.cannotListen(where, error);
  }
}

/** Missing for certain: a directory we may not look into is not called missing. */
function isMissing(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
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
