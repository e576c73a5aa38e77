// What an inherited fd really is, before Node is allowed near it. Node's own
// errors for a bad fd are a bare EINVAL or ENOTSOCK, and an unbound socket
// even "works" on a random port (libuv binds it), so we look first:
// fstat() tells socket from file, pipe or tty; /proc/self/fd gives the
// socket's inode; /proc/net/{tcp,tcp6,udp,udp6,unix} give its type and state.
//
// /proc/net is per network namespace: a socket systemd bound in the host
// namespace is invisible from a service with PrivateNetwork=yes. "Not found"
// therefore means "unknown", never "bad".

import { closeSync, fstatSync, openSync, readlinkSync, readSync } from 'node:fs';

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

const LISTEN = '0A';

/** One line of /proc/net/tcp, tcp6, udp or udp6, if it is the socket with this inode. */
export function parseInetLine(table: 'tcp' | 'tcp6' | 'udp' | 'udp6', line: string, inode: number): SocketEntry | undefined {
  const fields = line.trim().split(/\s+/);
  if (fields[9] !== String(inode)) return undefined;
  const local = decodeInetAddress(fields[1] ?? '');
  if (table === 'udp' || table === 'udp6') return { table, type: 'dgram', listening: false, state: 'UDP', local };
  const stateCode = (fields[3] ?? '').toUpperCase();
  const state = TCP_STATES[stateCode] ?? `in TCP state ${stateCode}`;
  const peer = stateCode === '01' ? ` to ${decodeInetAddress(fields[2] ?? '')}` : '';
  return { table, type: 'stream', listening: stateCode === LISTEN, state: `${state}${peer}`, local };
}

const UNIX_ACCEPTCON = 0x10000;
const UNIX_TYPES: Record<string, SocketEntry['type']> = { '0001': 'stream', '0002': 'dgram', '0005': 'seqpacket' };

/** One line of /proc/net/unix ("Num RefCount Protocol Flags Type St Inode Path"), if it is this inode. */
export function parseUnixLine(line: string, inode: number): SocketEntry | undefined {
  const fields = line.trim().split(/\s+/);
  if (fields[6] !== String(inode)) return undefined;
  const listening = (parseInt(fields[3] ?? '0', 16) & UNIX_ACCEPTCON) !== 0;
  const connected = fields[5] === '03';
  const path = fields[7] ?? '';
  const local = path ? `unix:${path}` : 'an unnamed unix socket';
  const state = listening ? 'listening' : connected ? 'connected' : path ? 'bound' : 'unbound';
  return { table: 'unix', type: UNIX_TYPES[fields[4] ?? ''] ?? 'other', listening, state, local };
}

/** Whole-text forms of the line parsers. */
export const findInetEntry = (table: 'tcp' | 'tcp6' | 'udp' | 'udp6', text: string, inode: number) =>
  firstMatch(text.split('\n').slice(1), (line) => parseInetLine(table, line, inode));
export const findUnixEntry = (text: string, inode: number) => firstMatch(text.split('\n').slice(1), (line) => parseUnixLine(line, inode));

function firstMatch<T>(lines: Iterable<string>, match: (line: string) => T | undefined): T | undefined {
  for (const line of lines) {
    const found = match(line);
    if (found) return found;
  }
  return undefined;
}

/**
 * The lines of a /proc table after its header, read in chunks: a busy host
 * has tens of thousands of connections in /proc/net/tcp, and reading it whole
 * would make startup time and memory grow with them.
 */
function* procLines(file: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return; // No such table (no IPv6, no /proc).
  }
  try {
    const buffer = Buffer.alloc(64 * 1024);
    let carry = '';
    let header = true;
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) {
      const lines = (carry + buffer.toString('latin1', 0, n)).split('\n');
      carry = lines.pop() ?? '';
      for (const line of header ? lines.slice(1) : lines) yield line;
      header = false;
    }
    if (carry) yield carry;
  } finally {
    closeSync(fd);
  }
}

/** TCP lists its LISTEN sockets first (the listen hash, then the established one): stop at the first other state. */
function* listeningPart(lines: Iterable<string>): Generator<string> {
  for (const line of lines) {
    if (line.trim().split(/\s+/)[3]?.toUpperCase() !== LISTEN) return;
    yield line;
  }
}

/**
 * /proc/net is a symlink to this; ProcSubset=pid (a common systemd sandboxing
 * setting) hides the symlink but not the process's own directory.
 */
const NET = '/proc/self/net';

/**
 * Where a socket inode stands. The usual answer (a listening TCP or unix
 * socket) is found without reading past the listening part of the TCP
 * tables; only a socket that is not listening costs a full read.
 */
export function lookupSocket(inode: number): SocketEntry | undefined {
  for (const table of ['tcp', 'tcp6'] as const) {
    const entry = firstMatch(listeningPart(procLines(`${NET}/${table}`)), (line) => parseInetLine(table, line, inode));
    if (entry) return entry;
  }
  const unix = firstMatch(procLines(`${NET}/unix`), (line) => parseUnixLine(line, inode));
  if (unix) return unix;
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    const entry = firstMatch(procLines(`${NET}/${table}`), (line) => parseInetLine(table, line, inode));
    if (entry) return entry;
  }
  return undefined;
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
