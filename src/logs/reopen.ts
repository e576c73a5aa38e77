// Log rotation. logrotate (or a person) moves the log file away and sends
// SIGUSR1, as gunicorn and nginx expect; we then open a new file at the
// same path (the log's, and the access log's when it has its own). Without that, the process would write on into the moved file
// forever. With --workers each process has the file open on its own: the
// primary reopens its own and tells every worker over IPC (a worker ignores
// the signal itself: `systemctl kill` signals the whole cgroup, and each
// process must reopen once). The signal reaches reopenLog() through the
// signal table.

import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import { currentLogOutput, logOutputs } from './output.js';

const followers: Array<() => void> = [];

/** Runs `tell` after each reopen of ours: the primary passes it on to its workers. */
export function onLogReopened(tell: () => void): void {
  followers.push(tell);
}

/** Opens the log files (the log's, the access log's) again at their paths; on failure logs why and keeps the file it has. Without a file: says so at debug. */
export function reopenLog(log: Logger): void {
  const files = logOutputs().filter((output) => output.reopen !== undefined && output.path !== undefined);
  if (files.length === 0) {
    log.debug('Received SIGUSR1: the log is not a file; nothing to reopen (the inspector stays closed)');
    return;
  }
  for (const output of files) {
    const what = output === currentLogOutput() ? 'log' : 'access log';
    try {
      output.reopen!();
      log.info(`Reopened the ${what} file ${output.path}`);
    } catch (error) {
      const failure = errors.logReopen(output.path!, error);
      log.error(`${failure.code}: ${failure.message} (hint: ${failure.hint})`);
    }
  }
  for (const tell of followers) tell();
}
