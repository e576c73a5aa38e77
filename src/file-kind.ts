// What a path the user named really is, before it is read. A file read
// whole (the configuration file, the app and the other modules) must be a
// regular file: a FIFO blocks open() until a writer comes, and blocks the
// whole event loop with it, so that even SIGTERM waits; a device such as
// /dev/zero never ends, and reading it runs out of memory.

import type { Stats } from 'node:fs';

/** What the path is when it is not a regular file ("a FIFO"); undefined when it is one. */
export function notRegularFile(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'something other than a file';
}
