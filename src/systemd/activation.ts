// systemd's socket-passing protocol (sd_listen_fds_with_names(3)), read from
// an environment without touching it. Passed fds start at 3; LISTEN_PID
// says which process they are for; LISTEN_FDNAMES names them, colon-separated.

import { errors } from '../errors.js';

export const SD_LISTEN_FDS_START = 3;

/** The variables sd_listen_fds() unsets once read, so that children never claim our sockets. */
export const ACTIVATION_VARIABLES = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'LISTEN_PIDFDID'] as const;

export interface PassedFd {
  fd: number;
  /** From LISTEN_FDNAMES; "unknown" when the manager gave none (systemd's own default). */
  name: string;
}

export type Activation =
  /** LISTEN_FDS absent (or 0): nothing was passed. */
  | { kind: 'none' }
  /** Passed to another process: LISTEN_PID is set and is not us, or LISTEN_PID is missing. */
  | { kind: 'not-ours'; listenPid: number | undefined; count: number }
  | { kind: 'ours'; fds: PassedFd[] };

/**
 * `fdLimit` is this process's limit on open files (fd-limit.ts): fds 3 to
 * LISTEN_FDS+2 must all lie below it, so a larger count cannot be true, and
 * believing it would build an array of that size before the first fd check.
 */
export function readActivation(env: NodeJS.ProcessEnv, pid: number, fdLimit: number): Activation {
  const rawCount = env.LISTEN_FDS;
  if (rawCount === undefined || rawCount.trim() === '') return { kind: 'none' };
  if (!/^\d+$/.test(rawCount.trim())) throw errors.listenFdsNotNumber(rawCount);
  const count = Number(rawCount);
  if (count === 0) return { kind: 'none' };

  const rawPid = env.LISTEN_PID;
  if (rawPid === undefined || rawPid.trim() === '') return { kind: 'not-ours', listenPid: undefined, count };
  if (!/^\d+$/.test(rawPid.trim())) throw errors.listenPidNotNumber(rawPid);
  const listenPid = Number(rawPid);
  if (listenPid !== pid) return { kind: 'not-ours', listenPid, count };
  if (count > fdLimit - SD_LISTEN_FDS_START) throw errors.listenFdsOverLimit(rawCount, fdLimit);

  const rawNames = env.LISTEN_FDNAMES;
  const names = rawNames === undefined ? Array<string>(count).fill('unknown') : rawNames.split(':');
  if (names.length !== count) throw errors.listenFdNamesCount(names.length, count);
  return {
    kind: 'ours',
    fds: names.map((name, i) => ({ fd: SD_LISTEN_FDS_START + i, name: name === '' ? 'unknown' : name })),
  };
}

/** Why no passed fd is ours, in a few words. */
export function activationProblem(activation: Activation, pid: number): string {
  if (activation.kind === 'ours') return 'none';
  if (activation.kind === 'none') return 'LISTEN_FDS is not set';
  return activation.listenPid === undefined
    ? 'LISTEN_PID is not set'
    : `LISTEN_PID=${activation.listenPid} but this process is ${pid}`;
}

/** Why fds in the environment were not ours, in words a person can act on. */
export function notOursExplanation(activation: Extract<Activation, { kind: 'not-ours' }>, pid: number): string {
  return (
    `ignoring LISTEN_FDS=${activation.count}: ${activationProblem(activation, pid)}. The sockets were handed to another process, ` +
    'usually a wrapper (npx, npm run, a shell script) that started chaussette as a child instead of exec-ing it; ' +
    'start chaussette with exec or by its path (node_modules/.bin/chaussette)'
  );
}
