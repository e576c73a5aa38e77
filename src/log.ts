// Logging with pino: JSON lines for managers and journald by default, a
// readable form when a person watches a terminal. Writes are synchronous so
// that the last lines before an exit are never lost.

import pino, { type Logger } from 'pino';
import { describeError, errors } from './errors.js';
import { importOnDemand } from './modules.js';
import type { LogLevel } from './options.js';

export async function createLogger(level: LogLevel, output: string): Promise<Logger> {
  const options = { name: 'chaussette', level, base: { pid: process.pid } };
  if (output === '-') {
    if (process.stdout.isTTY) {
      const { default: pretty } = await importOnDemand<{ default: typeof import('pino-pretty') }>('pino-pretty');
      return pino(options, pretty({ sync: true, destination: 1, ignore: 'pid,hostname,name' }));
    }
    return pino(options, pino.destination({ dest: 1, sync: true }));
  }
  try {
    return pino(options, pino.destination({ dest: output, sync: true, mkdir: true }));
  } catch (error) {
    throw errors.logOutput(output, describeError(error));
  }
}

export type { Logger };
