// Reading the configuration file: the one I/O step on top of the pure
// parser. A failure to read is a configuration error (exit 78), except that a
// file named optional (`-/etc/chaussette/app.conf`, systemd's own
// EnvironmentFile=- convention) may be missing.

import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { ChaussetteError, errors } from '../errors.js';
import { notRegularFile } from '../file-kind.js';

/** The file's text, or undefined when an optional file does not exist. */
export type ConfigReader = (path: string, optional: boolean) => string | undefined;

export const readConfigFile: ConfigReader = (path, optional) => {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, before any check could run.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (optional) return undefined;
      throw errors.configNotFound(path);
    }
    throw errors.configUnreadable(path, error);
  }
  try {
    // The same open file is checked and read: what was checked is what is read.
    const kind = notRegularFile(fstatSync(fd));
    if (kind) throw errors.configNotFile(path, kind);
    return readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof ChaussetteError) throw error;
    throw errors.configUnreadable(path, error);
  } finally {
    closeSync(fd);
  }
};
