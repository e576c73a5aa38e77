// Running out of file descriptors: noticed, logged once per shortage, and
// shown in STATUS=. Node never hears of the connections it then refuses:
// when accept() fails with EMFILE or ENFILE, libuv closes a descriptor it
// keeps in reserve, accepts every waiting connection, closes each at once
// (the client sees its connection closed, unanswered), opens its reserve
// again, and tells Node nothing (uv__emfile_trick; measured on Node 20: 56
// of 100 held connections closed so, no event, no error). Node hears only
// when the reserve itself could not be had again: then the server emits
// 'error' (syscall accept), which, unheard, would have been a crash.
//
// So a shortage is noticed three ways: a connection accepted on the last
// descriptor the process may open (its number is the limit less one, since
// the kernel gives the lowest free one); a descriptor that cannot be opened
// when one is tried, once a second; and a failed accept Node does report.
// It ends once descriptors have been had for CALM_MS. A worker (--workers)
// watches its own, logs them, and tells its primary, whose STATUS= says so.

import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { descriptorOf } from '../node-internals.js';

export type ShortageErrno = 'EMFILE' | 'ENFILE';

export const isShortage = (code: unknown): code is ShortageErrno => code === 'EMFILE' || code === 'ENFILE';

/** How often a descriptor is tried. */
export const PROBE_EVERY_MS = 1000;
/** A shortage is over once descriptors have been had this long: at most a warning and its end every few seconds. */
export const CALM_MS = 2000;

export interface Shortage {
  code: ShortageErrno;
  since: number;
  lastSeen: number;
}

export type ShortageChange = { kind: 'began'; shortage: Shortage } | { kind: 'ended'; shortage: Shortage; now: number };

/** One process's descriptors, from what was seen when: pure, the times are given. */
export class ShortageTracker {
  private current: Shortage | undefined;

  constructor(private readonly calmMs = CALM_MS) {}

  get shortage(): Shortage | undefined {
    return this.current;
  }

  /** None left now (a failed accept or open, the last one taken); says so when a shortage begins. */
  short(code: ShortageErrno, now: number): ShortageChange | undefined {
    if (this.current) {
      this.current.lastSeen = now;
      // The system's table running out matters more than this process's limit.
      if (code === 'ENFILE') this.current.code = code;
      return undefined;
    }
    this.current = { code, since: now, lastSeen: now };
    return { kind: 'began', shortage: this.current };
  }

  /** One could be had now; says so when the shortage is over. */
  fine(now: number): ShortageChange | undefined {
    const shortage = this.current;
    if (!shortage || now - shortage.lastSeen < this.calmMs) return undefined;
    this.current = undefined;
    return { kind: 'ended', shortage, now };
  }
}

/** The soft "Max open files" of /proc/self/limits (Node has raised it to the hard one); undefined if unknown. */
export function openFilesLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\d+)\s/m.exec(limits);
  return match ? Number(match[1]) : undefined;
}

const HINTS: Record<ShortageErrno, string> = {
  EMFILE: 'raise LimitNOFILE= in the service unit, or ulimit -n in a shell; Node raises its soft limit to the hard one',
  ENFILE: 'the whole system is out of file descriptors: raise fs.file-max (sysctl), or find what holds them',
};

/** A line, after `who` ("Worker 2: ", as a worker's lines begin) if any. */
const said = (who: string, text: string) => (who ? `${who}${text[0]!.toLowerCase()}${text.slice(1)}` : text);

/** The one warning of a shortage. */
export function shortageWarning(code: ShortageErrno, limit: number | undefined, who = ''): string {
  const what = code === 'EMFILE' ? `all ${limit ?? 'the'} file descriptors this process may open are in use` : "the system's file table is full";
  return said(who, `Out of file descriptors (${code}: ${what}): new connections are closed unanswered until some close (hint: ${HINTS[code]})`);
}

/** The line that ends it. */
export function shortageOver(shortage: Shortage, now: number, who = ''): string {
  return said(who, `File descriptors available again after ${((now - shortage.since) / 1000).toFixed(1)} s (${shortage.code}): accepting connections`);
}

/** What STATUS= adds while a process is short: `where` names them (none: this process alone). */
export function shortageNote(code: ShortageErrno, where: string[] = []): string {
  const place = where.length ? ` in ${where.join(', ')}` : '';
  return `OUT OF FILE DESCRIPTORS${place} (${code}), new connections refused: raise ${code === 'EMFILE' ? 'LimitNOFILE=' : 'fs.file-max'}`;
}

export interface DescriptorWatch {
  /** A connection this process accepted (or was handed), by its fd. */
  accepted(fd: number | undefined): void;
  /** An error a server reported: true if it was an accept that found no descriptor (noted), false otherwise. */
  failed(error: unknown): boolean;
  /** Another process's state (a worker's): STATUS= shows it; that process logs its own. */
  elsewhere(who: string, code: ShortageErrno | undefined): void;
  /** How STATUS= names this process beside others ("the primary"); unnamed, a process alone. */
  nameSelf(name: string): void;
  /** This process's own shortage now, if any (a worker's pong carries it). */
  code(): ShortageErrno | undefined;
  /**
   * Runs `fn` (synchronous) with the descriptor kept in reserve closed for
   * it: sd_notify(3) opens a socket for each message, so without it neither
   * this STATUS= nor WATCHDOG=1 would reach systemd while descriptors are
   * short, and a watchdog would kill a server that still serves.
   */
  spare<T>(fn: () => T): T;
  /** What STATUS= says while this process or another is short; undefined: nothing. */
  note(): string | undefined;
  stop(): void;
}

export interface WatchSettings {
  log: Logger;
  /** Names the process in its lines ("Worker 2: "); '' for the main one. */
  who?: string;
  /** Called when a shortage here or elsewhere begins or ends. */
  onChange?: () => void;
  /** Keep a descriptor in reserve for spare(); a process that tells systemd nothing needs none. */
  reserve?: boolean;
  everyMs?: number;
}

const openReserve = (): number | undefined => {
  try {
    return openSync('/dev/null', 'r');
  } catch {
    return undefined; // None to be had now: the next probe tries again.
  }
};

/** Whether a descriptor can be opened now: undefined if so, why not otherwise (other failures are not ours to report). */
function probe(): ShortageErrno | undefined {
  try {
    closeSync(openSync('/dev/null', 'r'));
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return isShortage(code) ? code : undefined;
  }
}

/** Watches this process's descriptors while it serves: one warning when they run out, one line when they are back. */
export function watchDescriptors({ log, who = '', onChange = () => {}, reserve: keepReserve = false, everyMs = PROBE_EVERY_MS }: WatchSettings): DescriptorWatch {
  let limit: number | undefined;
  try {
    // Read now: once descriptors run out, the file cannot be opened.
    limit = openFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    limit = undefined; // Not Linux, or /proc hidden: only the probe and reported failures tell.
  }
  const tracker = new ShortageTracker();
  const others = new Map<string, ShortageErrno>();
  let self: string | undefined;
  const report = (change: ShortageChange | undefined) => {
    if (!change) return;
    if (change.kind === 'began') log.warn(shortageWarning(change.shortage.code, limit, who));
    else log.info(shortageOver(change.shortage, change.now, who));
    onChange();
  };
  let reserve = keepReserve ? openReserve() : undefined;
  const timer = setInterval(() => {
    if (keepReserve && reserve === undefined) reserve = openReserve();
    const code = probe();
    report(code ? tracker.short(code, Date.now()) : tracker.fine(Date.now()));
  }, everyMs);
  timer.unref();
  return {
    accepted(fd) {
      if (fd !== undefined && limit !== undefined && fd >= limit - 1) report(tracker.short('EMFILE', Date.now()));
    },
    failed(error) {
      const { code, syscall } = error as NodeJS.ErrnoException;
      if (syscall !== 'accept' || !isShortage(code)) return false;
      report(tracker.short(code, Date.now()));
      return true;
    },
    elsewhere(name, code) {
      if (others.get(name) === code) return;
      if (code) others.set(name, code);
      else others.delete(name);
      onChange();
    },
    nameSelf(name) {
      self = name;
    },
    code: () => tracker.shortage?.code,
    spare(fn) {
      if (reserve === undefined) return fn();
      closeSync(reserve);
      reserve = undefined;
      try {
        return fn();
      } finally {
        reserve = openReserve();
      }
    },
    note() {
      const codes = [...(tracker.shortage ? [tracker.shortage.code] : []), ...others.values()];
      if (codes.length === 0) return undefined;
      const code = codes.includes('ENFILE') ? 'ENFILE' : 'EMFILE';
      const where = [...(tracker.shortage && self ? [self] : []), ...others.keys()];
      return shortageNote(code, where);
    },
    stop() {
      clearInterval(timer);
      if (reserve !== undefined) closeSync(reserve);
      reserve = undefined;
    },
  };
}

/**
 * A listening server's accepts, watched: each connection's descriptor, and
 * a failed accept Node reports (an 'error' on the server). Any other such
 * error is one connection lost, logged: left unheard, it would have stopped
 * the process.
 */
export function watchAccepts(server: Server, watch: DescriptorWatch, log: Logger): void {
  server.on('connection', (socket: Socket) => watch.accepted(descriptorOf(socket)));
  server.on('error', (error) => {
    if (!watch.failed(error)) log.error(`A connection could not be accepted: ${describeError(error)}`);
  });
}
