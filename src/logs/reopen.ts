// Log rotation. logrotate (or a person) moves the log file away and sends
// SIGUSR1, as gunicorn and nginx expect; we then open a new file at the
// same path. Without that, the process would write on into the moved file
// forever. With --workers each process has the file open on its own: the
// primary reopens its own and tells every worker over IPC.
//
// The handler exists only when the log is a file: otherwise SIGUSR1 keeps
// Node's meaning (start the inspector), which nothing here replaces.

import { describeError, errors } from '../errors.js';
import type { Logger } from '../log.js';
import { currentLogOutput } from './output.js';

export const REOPEN_SIGNAL = 'SIGUSR1';

const followers: Array<() => void> = [];

/**
 * SIGUSR1 reopens this process's log file. A worker ignores the signal
 * (`systemctl kill` signals the whole cgroup): its primary tells it, so that
 * it reopens once, whichever way the signal came.
 */
export function reopenLogOnSignal(log: Logger, role: 'main' | 'worker'): void {
  const output = currentLogOutput();
  if (output?.reopen === undefined) return;
  process.on(REOPEN_SIGNAL, () =>
    role === 'worker' ? log.debug(`${REOPEN_SIGNAL} ignored; the primary tells its workers to reopen the log`) : reopenLog(log),
  );
}

/** Runs `tell` after each reopen of ours: the primary passes it on to its workers. */
export function onLogReopened(tell: () => void): void {
  followers.push(tell);
}

/** Opens the log file again at its path; on failure logs why and keeps the file it has. */
export function reopenLog(log: Logger): void {
  const output = currentLogOutput();
  if (output?.reopen === undefined || output.path === undefined) return;
  try {
    output.reopen();
    log.info(`Reopened the log file ${output.path}`);
  } catch (error) {
    const failure = errors.logReopen(output.path, describeError(error));
    log.error(`${failure.code}: ${failure.message} (hint: ${failure.hint})`);
  }
  for (const tell of followers) tell();
}
