// The bounded load client (test/systemd/load.mjs) run from a test on this
// host, in its own process so that its timing is not the test's.

import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, waitUntil } from './helpers.js';

export const LOAD_CLIENT = join(ROOT, 'test', 'systemd', 'load.mjs');

/** What load.mjs prints: requests sent, answered, failed (never resent), and answers per pid. */
export interface LoadCounts {
  sent: number;
  ok: number;
  failed: number;
  keepAlive: number;
  newConnection: number;
  errors: Record<string, number>;
  pids: Record<string, number>;
}

export type LoadTarget = { port: number } | { socket: string };

export interface LoadOptions {
  /** POST with a body: what no client may ever send twice. */
  method?: 'GET' | 'POST';
  /** The load ends once this file exists; `ms` is then its upper bound. */
  stopFile?: string;
}

/** `keepAlive` clients reuse one connection each; `fresh` clients open one per request. */
export function runLoad(target: LoadTarget, ms: number, keepAlive: number, fresh: number, options: LoadOptions = {}): Promise<LoadCounts> {
  const where = 'port' in target ? ['--host', '127.0.0.1', '--port', String(target.port)] : ['--socket', target.socket];
  const args = [LOAD_CLIENT, ...where, '--ms', String(ms), '--keep-alive', String(keepAlive), '--new', String(fresh)];
  if (options.method) args.push('--method', options.method);
  if (options.stopFile) args.push('--stop-file', options.stopFile);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: ms + 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`load.mjs: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as LoadCounts);
    });
  });
}

/**
 * Resolves once a connection to `target` is established, as ss(8) shows it
 * (the server's end: a TCP socket on that local port, or a unix socket on that
 * path): a runLoad() just started is under way then, so that what follows
 * happens under load. It takes the client a node start, a few hundred ms on
 * a busy machine; waiting a fixed second for it was either too long or not
 * long enough. The bound only catches a client that never connects: 10 s
 * ran out once on the loaded machine (load 10 to 20).
 */
export function loadConnected(target: LoadTarget, timeoutMs = 30_000): Promise<true> {
  const args = 'port' in target ? ['-Htn', 'state', 'established', `( sport = :${target.port} )`] : ['-Hx', 'state', 'established', 'src', target.socket];
  return waitUntil(() => execFileSync('ss', args, { encoding: 'utf8' }).trim() !== '', timeoutMs, `a load client connected to ${JSON.stringify(target)}`);
}
