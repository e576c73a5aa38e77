// What --host may hold: a TCP host, or unix:PATH for a unix socket. Checked
// as the value is read (command line, CHAUSSETTE_HOST, `host =` in a
// --config file, serve()'s host), so a bad one fails before anything starts,
// and in a file at its line. Pure.

import { errors } from '../errors.js';

export const UNIX_PREFIX = 'unix:';

/**
 * sun_path in Linux's struct sockaddr_un holds 108 bytes, the closing NUL
 * included. A longer path is not refused by Node: it is cut to fit, and the
 * socket appears (and stays) under the cut name. So 107 bytes of path at most.
 */
export const SUN_PATH_SIZE = 108;
export const UNIX_PATH_MAX = SUN_PATH_SIZE - 1;

export function isUnixHost(host: string): boolean {
  return host.startsWith(UNIX_PREFIX);
}

/**
 * The option's parser. An empty value counts as not set (undefined), as an
 * empty CHAUSSETTE_HOST or `host =` already did: the layer below, or the
 * default (localhost), decides. Never every interface by accident, from a
 * `--host "$HOST"` whose variable was empty: 0.0.0.0 or :: say that.
 */
export function parseHost(value: string, flag: string): string | undefined {
  if (value.trim() === '') return undefined;
  if (!isUnixHost(value)) return value;
  const path = value.slice(UNIX_PREFIX.length);
  if (path === '') throw errors.badOptionValue(flag, value, 'a unix socket with its path (unix:/run/app.sock)');
  const bytes = Buffer.byteLength(path);
  if (bytes > UNIX_PATH_MAX) throw errors.unixPathTooLong(path, bytes, UNIX_PATH_MAX, SUN_PATH_SIZE);
  return value;
}
