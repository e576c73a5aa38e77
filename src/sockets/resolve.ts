// The one resolver: every way of getting a socket (--fd N, --fd NAME,
// LISTEN_FDS from systemd, --host/--port, unix:/path) becomes one list of
// listen targets, each saying where it came from. Pure: options, environment,
// our pid and our limit on open files in; targets and warnings out. Opening
// them is open.ts's job.

import { errors } from '../errors.js';
import { openFileLimit } from '../fd-limit.js';
import type { Options } from '../options.js';
import { activationProblem, notOursExplanation, readActivation } from '../systemd/activation.js';
import { isUnixHost, UNIX_PREFIX } from './address.js';

export type ListenTarget =
  /** An inherited fd named on the command line by number (Circus, Supervisor's fd 0). */
  | { kind: 'fd'; fd: number; source: 'cli' }
  /** An fd passed by systemd's protocol, with its LISTEN_FDNAMES name. */
  | { kind: 'fd'; fd: number; source: 'systemd'; name: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

export interface Resolution {
  targets: ListenTarget[];
  /** Things worth a warning line that do not stop us. */
  warnings: string[];
}

export type SocketOptions = Pick<Options, 'fds' | 'host' | 'port' | 'socketChoice'>;

/** `fdLimit`: this process's limit on open files, which bounds LISTEN_FDS; read from /proc unless given. */
export function resolveListenTargets(options: SocketOptions, env: NodeJS.ProcessEnv, pid: number, fdLimit: number = openFileLimit()): Resolution {
  const warnings: string[] = [];
  const activation = readActivation(env, pid, fdLimit);
  const notOurs = activation.kind === 'not-ours' ? notOursExplanation(activation, pid) : undefined;

  if (options.socketChoice === 'fd') {
    const targets: ListenTarget[] = [];
    for (const value of options.fds) {
      if (/^\d+$/.test(value)) {
        targets.push({ kind: 'fd', fd: Number(value), source: 'cli' });
        continue;
      }
      if (activation.kind !== 'ours') {
        throw errors.fdNameWithoutSystemd(value, activationProblem(activation, pid));
      }
      // Names are not unique (sd_listen_fds(3)): serve every fd with this name.
      const matches = activation.fds.filter((passed) => passed.name === value);
      if (matches.length === 0) throw errors.fdNameUnknown(value, activation.fds.map((passed) => passed.name));
      for (const passed of matches) targets.push({ kind: 'fd', fd: passed.fd, source: 'systemd', name: passed.name });
    }
    if (notOurs && targets.every((t) => t.kind === 'fd' && t.source === 'cli')) warnings.push(notOurs);
    return { targets: dedupe(targets), warnings };
  }

  if (options.socketChoice === 'none' && activation.kind === 'ours') {
    return {
      targets: activation.fds.map((passed) => ({ kind: 'fd', fd: passed.fd, source: 'systemd', name: passed.name })),
      warnings,
    };
  }
  if (notOurs) warnings.push(notOurs);
  return { targets: [addressTarget(options.host, options.port)], warnings };
}

function addressTarget(host: string, port: number): ListenTarget {
  if (isUnixHost(host)) return { kind: 'unix', path: host.slice(UNIX_PREFIX.length) };
  // [::1] is how people write IPv6 next to a port; node wants it bare.
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return { kind: 'tcp', host: bare, port };
}

/** The same fd named twice (--fd 3 --fd web) is served once: one fd, one handle. */
function dedupe(targets: ListenTarget[]): ListenTarget[] {
  const seen = new Set<number>();
  return targets.filter((target) => {
    if (target.kind !== 'fd') return true;
    if (seen.has(target.fd)) return false;
    seen.add(target.fd);
    return true;
  });
}

export function describeTarget(target: ListenTarget): string {
  switch (target.kind) {
    case 'fd':
      return target.source === 'systemd' ? `fd ${target.fd} (${target.name})` : `fd ${target.fd}`;
    case 'tcp':
      return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    case 'unix':
      return `unix:${target.path}`;
  }
}
