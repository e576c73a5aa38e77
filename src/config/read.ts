// Reading the configuration file: the one I/O step on top of the pure
// parser. A failure to read is a configuration error (exit 78), except that a
// file named optional (`-/etc/chaussette/app.conf`, systemd's own
// EnvironmentFile=- convention) may be missing.

import { readFileSync } from 'node:fs';
import { errors } from '../errors.js';

/** The file's text, or undefined when an optional file does not exist. */
export type ConfigReader = (path: string, optional: boolean) => string | undefined;

export const readConfigFile: ConfigReader = (path, optional) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (optional) return undefined;
      throw errors.configNotFound(path);
    }
    throw errors.configUnreadable(path, error);
  }
};
