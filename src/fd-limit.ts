// How many file descriptors this process may have open: its soft
// RLIMIT_NOFILE, which Linux shows in /proc/self/limits as "Max open files".
// Node has no getrlimit(); it raises the soft limit to the hard one as it
// starts, so this is the hard limit it was started with. No fd number can
// reach it, which bounds what LISTEN_FDS can honestly claim.

import { readFileSync } from 'node:fs';

/**
 * fs.nr_open's default, the kernel's ceiling on any process's limit: used
 * when /proc cannot tell (not Linux), so that a bound still exists.
 */
export const NR_OPEN_DEFAULT = 1024 * 1024;

/** The soft limit on the "Max open files" line of /proc/self/limits; undefined when absent or unlimited. */
export function parseOpenFileLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\d+)\s/m.exec(limits);
  const soft = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
}

export function openFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number {
  try {
    return parseOpenFileLimit(read()) ?? NR_OPEN_DEFAULT;
  } catch {
    return NR_OPEN_DEFAULT;
  }
}
