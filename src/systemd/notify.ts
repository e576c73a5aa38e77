// Messages to the service manager (sd_notify(3)): one datagram of KEY=VALUE
// lines sent to the unix socket named by $NOTIFY_SOCKET. Node cannot send
// unix datagrams, so there are two transports:
//   - the sd-notify addon, libsystemd's own sd_notify(). It is compiled for
//     one Node ABI (process.versions.modules): the one in dist/addons/abiN/
//     for the running ABI (scripts/build-addons.sh), else the sd-notify
//     package's own build, made at install time where libsystemd-dev is
//     present (an optional dependency, so installing without it succeeds),
//     which Node refuses if it was built for another Node;
//   - systemd's systemd-notify program, one process per message. It waits
//     until systemd has read each message, so nothing is lost, but systemd
//     drops its messages, silently, unless NotifyAccess=all (or chaussette
//     runs with CAP_SYS_ADMIN): notify-access.ts asks systemd. Where systemd
//     would drop them, chaussette does not start (ERR_NOTIFY): READY=1 would
//     never arrive and systemd would kill it at its start timeout.
// Without $NOTIFY_SOCKET every call is a no-op. NOTIFY_SOCKET is never
// unset: a later READY=1 (after RELOADING=1, say) must still reach systemd.

import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ChaussetteError, errors } from '../errors.js';
import { importOnDemand } from '../modules.js';
import { askNotifyAccess, hasSysAdmin, systemdNotifyVerdict, type RunProgram } from './notify-access.js';

export type NotifyFields = Readonly<Record<string, string | number>>;

/** unavailable: nothing can reach systemd; refused: only systemd-notify could, and systemd would drop its messages. */
export type Transport = 'none' | 'sd-notify' | 'systemd-notify' | 'unavailable' | 'refused';

export interface Notifier {
  readonly transport: Transport;
  /** What the log says once about how systemd is told (undefined: nothing to say). */
  readonly report: { level: 'info' | 'warn' | 'error'; message: string } | undefined;
  /** Set with transport 'refused': the error to stop the start with (the command and serve() throw it). */
  readonly failure?: ChaussetteError;
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

/** The whole of a reason, on one line: Node's "compiled against a different Node.js version" spans five. */
export function wholeReason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const flat = text.split('\n').map((line) => line.trim()).filter(Boolean).join(' ');
  return code && !flat.includes(code) ? `${code}: ${flat}` : flat;
}

/** Where the addon built for one ABI lives (scripts/build-addons.sh writes it there). */
export function prebuiltAddonPath(addonDirectory: string, abi: string): string {
  return join(addonDirectory, `abi${abi}`, 'sd_notify.node');
}

/**
 * dist/addons of this package. The bundle (dist/chaussette.bundle.cjs) is
 * CommonJS, run with __dirname = dist/; the tsc build (dist/systemd/) and the
 * sources (src/systemd/, in tests) are ES modules two levels below the root.
 */
function packageAddonDirectory(): string {
  return typeof __dirname === 'string' ? join(__dirname, 'addons') : fileURLToPath(new URL('../../dist/addons', import.meta.url));
}

export interface NotifierOptions {
  /** Where the per-ABI addons are (default: this package's dist/addons). */
  addonDirectory?: string;
  /** The running ABI (default: process.versions.modules). */
  abi?: string;
}

/** `warn` hears of a message systemd-notify failed to deliver (once). */
export async function createNotifier(env: NodeJS.ProcessEnv, warn: (message: string) => void, options: NotifierOptions = {}): Promise<Notifier> {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return silent;
  const addonDirectory = options.addonDirectory ?? packageAddonDirectory();
  const abi = options.abi ?? process.versions.modules;

  const loaded = await loadAddon(env, addonDirectory, abi);
  if ('addon' in loaded) {
    const { addon, from } = loaded;
    return {
      transport: 'sd-notify',
      report: { level: 'info', message: `Notifying systemd at ${socket} through the sd-notify addon (${from})` },
      notify: (fields) => addon.sendState(formatNotification(fields)),
      settled: async () => {},
    };
  }
  const addonProblem = loaded.problem;

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

  const answer = await askNotifyAccess(readOptional('/proc/self/cgroup'), runProgram, env.CHAUSSETTE_NOTIFY_ACCESS);
  const verdict = systemdNotifyVerdict(answer.access, hasSysAdmin(readOptional('/proc/self/status') ?? ''), answer.unit !== undefined);
  if (verdict === 'refused') {
    const unit = answer.unit?.name ?? 'the unit';
    const access = answer.access ? `${unit} has NotifyAccess=${answer.access}` : `${unit}'s NotifyAccess= is unknown (${answer.why})`;
    const failure = errors.notifyRefused(unit, access, abi, addonProblem, resolve(addonDirectory, '..', '..'));
    return { ...silent, transport: 'refused', report: { level: 'error', message: failure.oneLine() }, failure };
  }
  // Loaded here, not at the top: child_process costs every start a few ms, and only this fallback needs it.
  const { spawn } = await importOnDemand<typeof import('node:child_process')>('node:child_process');
  const access =
    verdict === 'accepted'
      ? answer.access === 'all'
        ? `systemd takes its messages: ${answer.unit?.name ?? 'the unit'} has NotifyAccess=all`
        : 'systemd takes its messages: chaussette has CAP_SYS_ADMIN, so systemd-notify sends them in its name'
      : `this needs NotifyAccess=all in the service unit (systemd could not be asked: ${answer.why})`;
  return systemdNotifyTransport(spawn, program, socket, addonProblem, access, warn);
}

type Loaded = { addon: SdNotifyAddon; from: string } | { problem: string };

/**
 * The addon for this ABI: the prebuilt one, else the package's own build.
 * Never one built for another ABI: a prebuilt file is only looked for under
 * this ABI's name, and Node refuses a package build of the wrong one.
 */
async function loadAddon(env: NodeJS.ProcessEnv, addonDirectory: string, abi: string): Promise<Loaded> {
  // libsystemd's sd_notify() reads the process's own environment; another env (the library's
  // createNotifier({ env })) goes through systemd-notify, which is handed that socket.
  if (env.NOTIFY_SOCKET !== process.env.NOTIFY_SOCKET) return { problem: 'NOTIFY_SOCKET differs from the process environment, which the addon reads' };
  const problems: string[] = [];
  const prebuilt = prebuiltAddonPath(addonDirectory, abi);
  if (existsSync(prebuilt)) {
    try {
      const module = { exports: {} as Partial<SdNotifyAddon> };
      process.dlopen(module, prebuilt);
      if (typeof module.exports.sendState !== 'function') throw new Error('it has no sendState()');
      return { addon: module.exports as SdNotifyAddon, from: prebuilt };
    } catch (error) {
      problems.push(`${prebuilt}: ${wholeReason(error)}`);
    }
  } else {
    problems.push(`no ${prebuilt} for this Node.js (ABI ${abi})`);
  }
  try {
    const loaded = await importOnDemand<{ default?: SdNotifyAddon } & Partial<SdNotifyAddon>>('sd-notify');
    const addon = loaded.default ?? (loaded as SdNotifyAddon);
    if (typeof addon.sendState !== 'function') throw new Error('it has no sendState()');
    return { addon, from: 'the sd-notify package' };
  } catch (error) {
    problems.push(`the sd-notify package: ${wholeReason(error)}`);
  }
  return { problem: problems.join('; ') };
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const runProgram: RunProgram = async (file, args, timeoutMs) => {
  const { execFile } = await importOnDemand<typeof import('node:child_process')>('node:child_process');
  return new Promise((done, fail) =>
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? fail(new Error(stderr.trim().replace(/\s*\n\s*/g, ' ') || error.message)) : done(stdout),
    ),
  );
};

function systemdNotifyTransport(
  spawn: typeof import('node:child_process').spawn,
  program: string,
  socket: string,
  addonProblem: string,
  /** Whether systemd takes its messages: what systemd said, or that it could not be asked. */
  access: string,
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
      child.once('error', (error) => finish(wholeReason(error)));
      child.once('close', (code) => finish(code === 0 ? undefined : stderr.trim().replace(/\s*\n\s*/g, ' ') || `exit code ${code}`));
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
        `(${addonProblem}); ${access}`,
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
