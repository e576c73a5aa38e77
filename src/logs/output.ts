// Where this process's log goes, decided once at startup: the journal (one
// line per record, with its priority), a terminal (pino-pretty), standard
// output as JSON lines, or a file (JSON lines, reopened for logrotate).
// The logger writes records here; the access log writes finished lines,
// here or to an output of its own (--access-log-output). Every output
// writes through a LogSink (sink.ts): a destination that fails or stalls
// costs lines, counted and reported, never the server. A process has these
// outputs once, kept here, so that the request wrapper, the signal handler
// and STATUS= find them without being handed them through every caller.

import { closeSync, constants, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { isatty } from 'node:tty';
import type { DestinationStream } from 'pino';
import { errors } from '../errors.js';
import { importOnDemand } from '../modules.js';
import { plural } from '../systemd/status.js';
import { isJournalStream, journalLine, stderrErrorPrefix } from './journal.js';
import { LogSink } from './sink.js';

export interface LogOutput {
  kind: 'journal' | 'terminal' | 'stdout' | 'file';
  /** What pino writes its records (JSON lines) to. */
  records: DestinationStream;
  /** Writes finished lines as they are (each ends with a newline) to the same place. */
  write(text: string): void;
  /** The file, when the output is one. */
  path: string | undefined;
  /** Opens the file at `path` again (after logrotate moved it); throws, keeping the old one, when it cannot. */
  reopen: (() => void) | undefined;
  /** Lines dropped now, and why; undefined while writing works. */
  trouble(): { dropped: number; reason: string } | undefined;
}

/** What an output holds: the log's records (and access lines), or access lines only. */
type Role = 'log' | 'access log';

let current: LogOutput | undefined;
let access: LogOutput | undefined;
const troubleListeners = new Set<() => void>();

/** The output opened by openLogOutput() in this process, if any. */
export function currentLogOutput(): LogOutput | undefined {
  return current;
}

/** Where access lines go: their own output (openAccessOutput) or the log's. */
export function currentAccessOutput(): LogOutput | undefined {
  return access ?? current;
}

/** The outputs of this process, each once. */
export function logOutputs(): LogOutput[] {
  return [...new Set([current, access])].filter((output): output is LogOutput => output !== undefined);
}

/** Opens `-` (standard output) or a file; a file that cannot be opened throws its own error. */
export async function openLogOutput(output: string, env: NodeJS.ProcessEnv = process.env): Promise<LogOutput> {
  current = await openOutput(output, 'log', env);
  return current;
}

/** Gives access lines an output of their own (--access-log-output); the log's when it names the same place. */
export async function openAccessOutput(output: string, env: NodeJS.ProcessEnv = process.env): Promise<LogOutput> {
  const same = current !== undefined && (output === '-' ? current.path === undefined : current.path === output);
  access = same ? current! : await openOutput(output, 'access log', env);
  return access;
}

/**
 * For STATUS=: "the log cannot be written (ENOSPC: no space left on device):
 * 12 lines dropped", while an output of this process fails; else undefined.
 */
export function logTrouble(): string | undefined {
  const lines = logOutputs().flatMap((output) => {
    const trouble = output.trouble();
    const what = output === access && access !== current ? 'the access log' : 'the log';
    return trouble ? [`${what} cannot be written (${trouble.reason}): ${plural(trouble.dropped, 'line')} dropped`] : [];
  });
  return lines.length > 0 ? lines.join('; ') : undefined;
}

/** Calls `listener` whenever an output of this process (or a worker's, announceLogTrouble) starts or stops failing; returns how to stop. */
export function onLogTrouble(listener: () => void): () => void {
  troubleListeners.add(listener);
  return () => troubleListeners.delete(listener);
}

/** Tells the listeners that a log started or stopped failing: one of ours, or a worker's as it reported. */
export function announceLogTrouble(): void {
  troubleListeners.forEach((listener) => listener());
}

/** Standard output is one destination however often it is opened (serve() called again): one sink, one count. */
let stdout: Promise<LogOutput> | undefined;

function openOutput(output: string, role: Role, env: NodeJS.ProcessEnv): Promise<LogOutput> | LogOutput {
  if (output !== '-') return openFile(output, role);
  stdout ??= openStdout(role, env);
  return stdout;
}

/** The text written for a record: the JSON line itself, or its journal or terminal form. */
type Format = (json: string) => string;

/** A LogSink on `fd` whose notice is a warn record in `format`, and whose runs of drops are told on stderr and to STATUS=. */
function sinkOn(fd: number, format: Format, role: Role, where: string): LogSink {
  const notice = (dropped: number, reason: string, sinceMs: number) =>
    format(
      `${JSON.stringify({
        level: 40,
        time: Date.now(),
        pid: process.pid,
        name: 'chaussette',
        droppedLines: dropped,
        msg: `The ${role} can be written again: ${plural(dropped, 'line')} dropped since ${new Date(sinceMs).toISOString()} (${reason})`,
      })}\n`,
    );
  return new LogSink(fd, notice, {
    failing: (reason) => {
      const failure = errors.logWrite(role, where, reason);
      toStderr(`${stderrErrorPrefix()}${failure.oneLine()}\n`);
      announceLogTrouble();
    },
    recovered: (dropped, reason) => {
      toStderr(`chaussette: the ${role} can be written to ${where} again; ${plural(dropped, 'line')} dropped (${reason})\n`);
      announceLogTrouble();
    },
  });
}

let stderr: number | undefined;

/**
 * Standard error may fail too (the same full disk), or be the very pipe
 * that is full (2>&1): then the line is lost, and STATUS= and the notice
 * still tell.
 */
function toStderr(text: string): void {
  try {
    writeSync((stderr ??= nonBlocking(2)), text);
  } catch {
    // Nowhere else to say it.
  }
}

function output(kind: LogOutput['kind'], sink: LogSink, format: Format, path?: string, reopen?: () => void): LogOutput {
  return {
    kind,
    records: { write: (json: string) => sink.write(format(json)) },
    write: (text) => sink.write(text),
    path,
    reopen,
    trouble: () => sink.trouble(),
  };
}

const asIs: Format = (json) => json;

async function openStdout(role: Role, env: NodeJS.ProcessEnv): Promise<LogOutput> {
  const where = 'standard output';
  if (isJournalStream(1, env)) return output('journal', sinkOn(1, journalLine, role, where), journalLine);
  if (isatty(1)) {
    const { default: pretty } = await importOnDemand<{ default: typeof import('pino-pretty') }>('pino-pretty');
    const format = pretty.prettyFactory({ ignore: 'pid,hostname,name' }) as Format;
    return output('terminal', sinkOn(1, format, role, where), format);
  }
  return output('stdout', sinkOn(nonBlocking(1), asIs, role, where), asIs);
}

/**
 * Standard output or error, as a descriptor whose writes never block. A
 * pipe's flags belong to every process holding it (and Node makes it
 * non-blocking as soon as anything touches process.stdout): opening the
 * pipe again through /proc/self/fd/N gives this process a description of
 * its own, non-blocking whatever the others do. Anything else (a file, a
 * socket such as the journal's, a pipe whose reader is gone) is written as
 * it is.
 */
function nonBlocking(fd: 1 | 2): number {
  try {
    if (fstatSync(fd).isFIFO()) return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    // No /proc, or no reader (ENXIO): the descriptor as it is.
  }
  return fd;
}

/**
 * Appending, created with its directory, non-blocking: a FIFO is written
 * only while it has a reader (none at the start fails with ENXIO rather than
 * waiting for one), and never holds the server up when its reader stalls.
 */
function openAppending(path: string): number {
  mkdirSync(dirname(path), { recursive: true });
  return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o666);
}

function openFile(path: string, role: Role): LogOutput {
  const sink = sinkOn(openAppending(path), asIs, role, path);
  // A failed open throws and changes nothing; the old descriptor is closed once the new one is in place.
  const reopen = () => {
    const old = sink.replaceFd(openAppending(path));
    try {
      closeSync(old);
    } catch {
      // Already gone: nothing to close.
    }
  };
  return output('file', sink, asIs, path, reopen);
}
