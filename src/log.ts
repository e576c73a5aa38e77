// Logging with pino: JSON lines for managers by default, one line with its
// priority per record when standard output is the journal, a readable form
// when a person watches a terminal (see logs/output.ts). Writes are
// synchronous so that the last lines before an exit are never lost, and
// never take serving down (logs/sink.ts).

import pino, { type Logger, type LoggerOptions } from 'pino';
import { errors } from './errors.js';
import { openAccessOutput, openLogOutput } from './logs/output.js';
import type { LogLevel } from './options.js';

/** What every record of ours carries; the access log's JSON records too. */
export function recordOptions(level: LogLevel | 'info'): LoggerOptions {
  return { name: 'chaussette', level, base: { pid: process.pid } };
}

export async function createLogger(level: LogLevel, output: string): Promise<Logger> {
  try {
    return pino(recordOptions(level), (await openLogOutput(output)).records);
  } catch (error) {
    throw errors.logOutput(output, error);
  }
}

/** --access-log-output: access lines to a place of their own (after createLogger); unset, they go with the log. */
export async function openAccessLog(output: string | undefined): Promise<void> {
  if (output === undefined) return;
  try {
    await openAccessOutput(output);
  } catch (error) {
    throw errors.logOutput(output, error, 'the access log');
  }
}

export type { Logger };
