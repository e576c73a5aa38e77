// Messages to the service manager (sd_notify(3)): one datagram of KEY=VALUE
// lines sent to the unix socket named by $NOTIFY_SOCKET. Node cannot send
// unix datagrams, so there are two transports:
//   - the sd-notify addon, libsystemd's own sd_notify(), compiled at install
//     time where libsystemd-dev is present (an optional dependency, so that
//     installing without it still succeeds);
//   - systemd's systemd-notify program, one process per message. It waits
//     until systemd has read each message, so nothing is lost, but systemd
//     only accepts it from a non-main process with NotifyAccess=all.
// Without $NOTIFY_SOCKET every call is a no-op. NOTIFY_SOCKET is never
// unset: a later READY=1 (after RELOADING=1, say) must still reach systemd.

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describeError } from '../errors.js';
import { importOnDemand } from '../modules.js';

export type NotifyFields = Readonly<Record<string, string | number>>;

export type Transport = 'none' | 'sd-notify' | 'systemd-notify' | 'unavailable';

export interface Notifier {
  readonly transport: Transport;
  /** What the log says once about how systemd is told (undefined: nothing to say). */
  readonly report: { level: 'info' | 'warn' | 'error'; message: string } | undefined;
  notify(fields: NotifyFields): void;
  /** Resolves once every message so far is handed over (systemd-notify runs as a child). */
  settled(): Promise<void>;
}

/** One value per line, as sd_notify(3) wants; STATUS= must be a single line. */
export function formatNotification(fields: NotifyFields): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${String(value).replace(/[\r\n]+/g, ' ')}`)
    .join('\n');
}

/** CLOCK_MONOTONIC in µs, which systemd wants with RELOADING=1 (Node's hrtime reads that clock). */
export const monotonicUsec = () => (process.hrtime.bigint() / 1000n).toString();

const silent: Notifier = { transport: 'none', report: undefined, notify() {}, settled: async () => {} };

interface SdNotifyAddon {
  sendState(state: string): void;
}

/** `warn` hears of a message systemd-notify failed to deliver (once). */
export async function createNotifier(env: NodeJS.ProcessEnv, warn: (message: string) => void): Promise<Notifier> {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return silent;

  let addonProblem: string;
  try {
    // libsystemd's sd_notify() reads the process's own environment; another env (the library's
    // createNotifier({ env })) goes through systemd-notify, which is handed that socket.
    if (env.NOTIFY_SOCKET !== process.env.NOTIFY_SOCKET) throw new Error('NOTIFY_SOCKET differs from the process environment, which the addon reads');
    const loaded = await importOnDemand<{ default?: SdNotifyAddon } & Partial<SdNotifyAddon>>('sd-notify');
    const addon = loaded.default ?? (loaded as SdNotifyAddon);
    if (typeof addon.sendState !== 'function') throw new Error('it has no sendState()');
    return {
      transport: 'sd-notify',
      report: { level: 'info', message: `Notifying systemd at ${socket} through the sd-notify addon` },
      notify: (fields) => addon.sendState(formatNotification(fields)),
      settled: async () => {},
    };
  } catch (error) {
    addonProblem = describeError(error);
  }

  const program = findProgram('systemd-notify', env.PATH);
  if (!program) {
    return {
      ...silent,
      transport: 'unavailable',
      report: {
        level: 'error',
        message:
          `NOTIFY_SOCKET is set but systemd cannot be told anything: the sd-notify addon did not load (${addonProblem}) ` +
          'and systemd-notify is not on PATH; install libsystemd-dev and reinstall chaussette so the addon builds, ' +
          'or use Type=exec instead of Type=notify',
      },
    };
  }
  // Loaded here, not at the top: child_process costs every start a few ms, and only this fallback needs it.
  const { spawn } = await importOnDemand<typeof import('node:child_process')>('node:child_process');
  return systemdNotifyTransport(spawn, program, socket, addonProblem, warn);
}

function systemdNotifyTransport(
  spawn: typeof import('node:child_process').spawn,
  program: string,
  socket: string,
  addonProblem: string,
  warn: (message: string) => void,
): Notifier {
  // One message at a time, in order: READY=1 must not overtake the STATUS= before it.
  let queue = Promise.resolve();
  let failureReported = false;
  const send = (fields: NotifyFields) =>
    new Promise<void>((resolve) => {
      const args = Object.entries(fields).map(([key, value]) => formatNotification({ [key]: value }));
      const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: socket } });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', (error) => finish(describeError(error)));
      child.once('close', (code) => finish(code === 0 ? undefined : stderr.trim() || `exit code ${code}`));
      function finish(problem: string | undefined) {
        if (problem && !failureReported) {
          failureReported = true;
          warn(`systemd-notify failed (${problem}); the service unit needs NotifyAccess=all for it`);
        }
        resolve();
      }
    });
  return {
    transport: 'systemd-notify',
    report: {
      level: 'warn',
      message:
        `Notifying systemd through ${program}, one process per message, because the sd-notify addon did not load ` +
        `(${addonProblem}); this needs NotifyAccess=all in the service unit`,
    },
    notify(fields) {
      queue = queue.then(() => send(fields));
    },
    settled: () => queue,
  };
}

function findProgram(name: string, path: string | undefined): string | undefined {
  const directories = (path || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter);
  for (const directory of directories) {
    const candidate = join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}
