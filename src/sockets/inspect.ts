// What an inherited fd really is, before Node is allowed near it. Node's own
// errors for a bad fd are a bare EINVAL or ENOTSOCK, and an unbound socket
// even "works" on a random port (libuv binds it), so we look first:
// fstat() tells socket from file, pipe or tty; /proc/self/fd gives the
// socket's inode; /proc/net/{tcp,tcp6,udp,udp6,unix} give its type and state.
//
// /proc/net is per network namespace: a socket systemd bound in the host
// namespace is invisible from a service with PrivateNetwork=yes. "Not found"
// therefore means "unknown", never "bad".

import { fstatSync, readFileSync, readlinkSync } from 'node:fs';

export type FdInfo =
  | { kind: 'closed' }
  | { kind: 'not-socket'; what: string }
  | { kind: 'socket'; inode: number; entry: SocketEntry | undefined };

export interface SocketEntry {
  table: 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'unix';
  type: 'stream' | 'dgram' | 'seqpacket' | 'other';
  listening: boolean;
  /** Human words for the state, e.g. "connected to 127.0.0.1:4000". */
  state: string;
  /** Local address as people write it (127.0.0.1:8000, [::1]:80, unix:/run/x.sock). */
  local: string;
}

const TCP_STATES: Record<string, string> = {
  '01': 'connected',
  '02': 'connecting',
  '03': 'connecting',
  '04': 'closing',
  '05': 'closing',
  '06': 'closing',
  '07': 'closed',
  '08': 'closing',
  '09': 'closing',
  '0A': 'listening',
  '0B': 'closing',
};

/** Kernel hex "0100007F:1F90" (IPv4, host byte order per 32-bit word) -> "127.0.0.1:8080". */
export function decodeInetAddress(hex: string): string {
  const [addr = '', port = '0'] = hex.split(':');
  const words = addr.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => (word.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  const portNumber = parseInt(port, 16);
  if (bytes.length === 4) return `${bytes.join('.')}:${portNumber}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  const mapped = groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff';
  if (mapped) return `${bytes.slice(12).join('.')}:${portNumber}`;
  return `[${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]:${portNumber}`;
}

/** Finds an inode in the text of /proc/net/tcp, tcp6, udp or udp6. */
export function findInetEntry(table: 'tcp' | 'tcp6' | 'udp' | 'udp6', text: string, inode: number): SocketEntry | undefined {
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[9] !== String(inode)) continue;
    const local = decodeInetAddress(fields[1] ?? '');
    if (table === 'udp' || table === 'udp6') return { table, type: 'dgram', listening: false, state: 'UDP', local };
    const stateCode = (fields[3] ?? '').toUpperCase();
    const state = TCP_STATES[stateCode] ?? `in TCP state ${stateCode}`;
    const peer = stateCode === '01' ? ` to ${decodeInetAddress(fields[2] ?? '')}` : '';
    return { table, type: 'stream', listening: stateCode === '0A', state: `${state}${peer}`, local };
  }
  return undefined;
}

const UNIX_ACCEPTCON = 0x10000;
const UNIX_TYPES: Record<string, SocketEntry['type']> = { '0001': 'stream', '0002': 'dgram', '0005': 'seqpacket' };

/** Finds an inode in the text of /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path". */
export function findUnixEntry(text: string, inode: number): SocketEntry | undefined {
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[6] !== String(inode)) continue;
    const listening = (parseInt(fields[3] ?? '0', 16) & UNIX_ACCEPTCON) !== 0;
    const connected = fields[5] === '03';
    const path = fields[7] ?? '';
    const local = path ? `unix:${path}` : 'an unnamed unix socket';
    const state = listening ? 'listening' : connected ? 'connected' : path ? 'bound' : 'unbound';
    return { table: 'unix', type: UNIX_TYPES[fields[4] ?? ''] ?? 'other', listening, state, local };
  }
  return undefined;
}

function readProc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function lookupSocket(inode: number): SocketEntry | undefined {
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    const entry = findInetEntry(table, readProc(`/proc/net/${table}`), inode);
    if (entry) return entry;
  }
  return findUnixEntry(readProc('/proc/net/unix'), inode);
}

function describeNonSocket(fd: number, stats: ReturnType<typeof fstatSync>): string {
  let target = '';
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    // No /proc: the kind alone will do.
  }
  if (stats.isFIFO()) return 'a pipe';
  if (stats.isCharacterDevice()) return /\/(pts|tty)/.test(target) ? `a terminal (${target})` : `the character device ${target || '(unknown)'}`;
  if (stats.isDirectory()) return `the directory ${target}`;
  if (stats.isFile()) return `the regular file ${target}`;
  return `something else (${target || 'unknown'})`;
}

export function inspectFd(fd: number): FdInfo {
  let stats: ReturnType<typeof fstatSync>;
  try {
    stats = fstatSync(fd);
  } catch {
    return { kind: 'closed' };
  }
  if (!stats.isSocket()) return { kind: 'not-socket', what: describeNonSocket(fd, stats) };
  const match = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/self/fd/${fd}`));
  const inode = match ? Number(match[1]) : Number(stats.ino);
  return { kind: 'socket', inode, entry: lookupSocket(inode) };
}

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
