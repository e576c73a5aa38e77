// Where this process's log goes, decided once at startup: the journal (one
// line per record, with its priority), a terminal (pino-pretty), standard
// output as JSON lines, or a file (JSON lines, reopened for logrotate).
// The logger writes records here; the access log writes finished lines.
// A process has one log output, kept here, so that the request wrapper and
// the signal handler find it without being handed it through every caller.

import pino, { type DestinationStream } from 'pino';
import { importOnDemand } from '../modules.js';
import { isJournalStream, journalLine } from './journal.js';

type SyncWriter = ReturnType<typeof pino.destination>;

export interface LogOutput {
  kind: 'journal' | 'terminal' | 'stdout' | 'file';
  /** What pino writes its records (JSON lines) to; synchronous. */
  records: DestinationStream;
  /** Writes finished lines as they are (each ends with a newline), synchronously, to the same place. */
  write(text: string): void;
  /** The file, when the output is one. */
  path: string | undefined;
  /** Opens the file at `path` again (after logrotate moved it); throws, keeping the old one, when it cannot. */
  reopen: (() => void) | undefined;
}

let current: LogOutput | undefined;

/** The output opened by openLogOutput() in this process, if any. */
export function currentLogOutput(): LogOutput | undefined {
  return current;
}

/** Opens `-` (standard output) or a file; a file that cannot be opened throws its own error. */
export async function openLogOutput(output: string, env: NodeJS.ProcessEnv = process.env): Promise<LogOutput> {
  current = output === '-' ? await openStdout(env) : openFile(output);
  return current;
}

async function openStdout(env: NodeJS.ProcessEnv): Promise<LogOutput> {
  if (isJournalStream(1, env)) {
    const sink = pino.destination({ dest: 1, sync: true });
    const records = { write: (json: string) => void sink.write(journalLine(json)) };
    return { kind: 'journal', records, write: (text) => void sink.write(text), path: undefined, reopen: undefined };
  }
  if (process.stdout.isTTY) {
    const { default: pretty } = await importOnDemand<{ default: typeof import('pino-pretty') }>('pino-pretty');
    const records = pretty({ sync: true, destination: 1, ignore: 'pid,hostname,name' });
    // Plain lines (an access log) bypass the formatter; made only if something writes one.
    let plain: SyncWriter | undefined;
    const write = (text: string) => void (plain ??= pino.destination({ dest: 1, sync: true })).write(text);
    return { kind: 'terminal', records, write, path: undefined, reopen: undefined };
  }
  const sink = pino.destination({ dest: 1, sync: true });
  return { kind: 'stdout', records: sink, write: (text) => void sink.write(text), path: undefined, reopen: undefined };
}

function openFile(path: string): LogOutput {
  const sink = pino.destination({ dest: path, sync: true, mkdir: true });
  // In sync mode SonicBoom also emits, a tick later, what a failed reopen()
  // already threw, and the failure to close a replaced descriptor; pino
  // re-emits both, and an 'error' event nobody hears would end the process.
  // reopenSync's caller reports the first; the second costs nothing.
  sink.on('error', () => {});
  return { kind: 'file', records: sink, write: (text) => void sink.write(text), path, reopen: () => reopenSync(sink) };
}

/**
 * SonicBoom's reopen(), which in sync mode opens the new file at once and
 * closes the old descriptor on the next tick. When the open fails it throws
 * and keeps writing to the old descriptor, but leaves behind the listener
 * that would close that descriptor on the next successful reopen; a second
 * failure would add another, closing it twice (maybe someone else's fd by
 * then). So a failed attempt takes its listener back.
 */
function reopenSync(sink: SyncWriter): void {
  const before = new Set(sink.listeners('ready'));
  try {
    sink.reopen();
  } catch (error) {
    for (const listener of sink.listeners('ready')) if (!before.has(listener)) sink.removeListener('ready', listener as () => void);
    throw error;
  }
}
