// Lines for the journal. systemd connects a service's stdout and stderr to
// journald and says so in JOURNAL_STREAM ("DEV:INODE" of that stream,
// systemd.exec(5)). journald splits what it reads on newlines and takes a
// leading "<N>" as the line's syslog priority (sd-daemon(3)); it records
// the time, the pid and the unit itself. So on the journal a record is one
// line, "<3>message key=value ...", and `journalctl -p err` filters it.

import { fstatSync } from 'node:fs';
import { jsonString } from './access-format.js';

export const JOURNAL_STREAM_VARIABLE = 'JOURNAL_STREAM';

/** `DEV:INODE` as systemd writes it (decimal); undefined when absent or malformed. */
export function parseJournalStream(value: string | undefined): { dev: bigint; ino: bigint } | undefined {
  const match = /^(\d+):(\d+)$/.exec(value ?? '');
  return match ? { dev: BigInt(match[1]!), ino: BigInt(match[2]!) } : undefined;
}

/**
 * Whether `fd` is the journal stream systemd handed us. The variable alone
 * is not enough: it is inherited by everything the service starts, and
 * outlives a redirection (`chaussette > file` in an ExecStart= shell), so
 * the descriptor itself must still be that stream. Inodes are 64-bit: bigint.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const expected = parseJournalStream(env[JOURNAL_STREAM_VARIABLE]);
  if (!expected) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === expected.dev && stat.ino === expected.ino;
  } catch {
    return false;
  }
}

/** sd-daemon(3) priorities for pino's levels: fatal is crit, trace is debug too. */
export function priorityPrefix(level: number): string {
  if (level >= 60) return '<2>';
  if (level >= 50) return '<3>';
  if (level >= 40) return '<4>';
  if (level >= 30) return '<6>';
  return '<7>';
}

/** Control characters (C1's too) escaped as JSON would, tabs kept: a newline would start a record without its priority. */
export function flatten(text: string): string {
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => jsonString(c).slice(1, -1));
}

/** The fields the journal already has (time, pid) or that mean nothing there (pino's own). */
const LEFT_OUT = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'err']);

/** A value as `key=value` shows it: bare when plain, JSON (quoted, escaped) otherwise. */
function showValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\\\x00-\x1f\x7f-\x9f]+$/.test(value) ? value : jsonString(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * One pino record (a JSON line) as one journal line:
 * `<3>request failed: the app threw method=GET url=/throw err="Error: boom\n    at ..."`.
 * Something that is not a record is passed on flattened, at info.
 */
export function journalLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return `<6>${flatten(json.replace(/\n$/, ''))}\n`;
  }
  let line = priorityPrefix(typeof record.level === 'number' ? record.level : 30) + flatten(String(record.msg ?? ''));
  for (const key of Object.keys(record)) {
    if (!LEFT_OUT.has(key)) line += ` ${key}=${showValue(record[key])}`;
  }
  const err = record.err as { stack?: unknown; message?: unknown } | undefined;
  if (err !== undefined) line += ` err=${showValue(typeof err.stack === 'string' ? err.stack : (err.message ?? err))}`;
  return `${line}\n`;
}

/** `<3>` when standard error is the journal, so that a failure line shows in `journalctl -p err`; else nothing. */
export function stderrErrorPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return isJournalStream(2, env) ? '<3>' : '';
}
