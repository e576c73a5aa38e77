// The chaussette command: options -> logger -> what was handed over,
// claimed and checked -> the lifecycle over the engine the options ask for
// (in this process, or a pool of workers) -> exit. A worker process of a
// pool runs workers/worker.ts instead. Sockets are checked before the app
// loads, so a bad fd fails fast; the app loads before anything listens, so
// nothing accepts a connection it cannot answer. Every failure ends here:
// one line on stderr, STATUS= and ERRNO= for systemd, a sysexits code.

import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { readConfigFile } from './config/read.js';
import { sourceWatcher } from './dev/watch.js';
import type { Startup } from './compile-cache.cjs';
import { asChaussetteError, describeError, errors, ExitCode, summary } from './errors.js';
import { commandHooks } from './hooks.js';
import { InProcess } from './in-process.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger, openAccessLog } from './log.js';
import { stderrErrorPrefix } from './logs/journal.js';
import { reopenLog } from './logs/reopen.js';
import { type Options, parseCommandLine } from './options.js';
import { claimInherited, prepareApp } from './prepare.js';
import type { SignalTable } from './signals.js';
import { createNotifier, type Notifier } from './systemd/notify.js';
import { Primary } from './workers/primary.js';
import { runWorker } from './workers/worker.js';

/** Set by the bundler; the unbundled library build reads package.json instead. */
declare const CHAUSSETTE_VERSION: string | undefined;

export function version(): string {
  if (typeof CHAUSSETTE_VERSION === 'string') return CHAUSSETTE_VERSION;
  const manifest = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** How long an exit waits for systemd to have read the last messages (systemd-notify runs as a child). */
const LAST_NOTICE_WAIT_MS = 2000;

/**
 * Runs chaussette, and exits the process when done. `slot` is set in a
 * worker of a pool; `signals` is the table entry.ts installed first thing;
 * `startup` what the bin did before (the compile cache).
 */
export async function run(argv: string[], signals: SignalTable, slot: number | undefined, startup?: Startup): Promise<void> {
  let log: Logger | undefined;
  let lifecycle: Lifecycle | undefined;
  // First, so that even a bad option in an EnvironmentFile= or --config file reaches `systemctl status`.
  const notifier = await createNotifier(process.env, (message) =>
    log ? log.warn(message) : process.stderr.write(`chaussette: ${message}\n`),
  );
  let isPool = false;
  const failed = (error: unknown) => fail(error, log, notifier, lifecycle?.phase === 'stopping' ? 'stop' : 'start');
  signals.bind({
    // Thrown by nothing we awaited: while starting, a failure to start; once serving (or in a worker), a crash.
    fatal: (error) => {
      const serving = slot === undefined ? lifecycle !== undefined && lifecycle.phase !== 'starting' : log !== undefined;
      if (serving && log) crash(error, log, notifier, isPool && slot === undefined, lifecycle);
      else void failed(error);
    },
    startStalled: () => void failed(errors.startNeverSettled()),
  });
  try {
    const parsed = parseCommandLine(argv, process.env, version(), readConfigFile);
    if (parsed.kind === 'exit') {
      process.stdout.write(parsed.output);
      process.exit(ExitCode.ok);
    }
    const options = parsed.options;
    log = await createLogger(options.logLevel, options.logOutput);
    signals.setLogger(log);
    if (startup) log.debug(startup.codeCache);
    // Opened by the primary too, which writes no access line: a path that cannot be written fails here, once.
    if (options.accessLog !== 'off') await openAccessLog(options.accessLogOutput);
    else if (options.accessLogOutput !== undefined && slot === undefined) log.warn('--access-log-output is set but --access-log is off: no access line is written');
    if (slot !== undefined) return void (await runWorker(options, log.child({ worker: slot }), slot, signals));
    if (notifier.failure) throw notifier.failure;
    if (notifier.report) log[notifier.report.level](notifier.report.message);
    // Here only, not in each worker: once per start.
    for (const warning of parsed.warnings) log.warn(warning);
    signals.bind({ reopenLog: () => reopenLog(log!) });
    isPool = options.workers > 0 || options.reload;
    lifecycle = commandLifecycle(options, log, notifier, signals, isPool);
    await lifecycle.start();
    startup?.serving();
    await lifecycle.stopped;
    await Promise.race([notifier.settled(), delay(LAST_NOTICE_WAIT_MS)]);
    process.exit(ExitCode.ok);
  } catch (error) {
    await failed(error);
  }
}

function commandLifecycle(options: Options, log: Logger, notifier: Notifier, signals: SignalTable, isPool: boolean): Lifecycle {
  const cwd = process.cwd();
  const claimed = claimInherited(options, log);
  const engine = isPool
    ? new Primary(options, claimed, log)
    : new InProcess({ log, claimed, backlog: options.backlog, lingerMs: options.drainLinger * 1000, prepare: () => prepareApp(options, log, cwd) });
  return new Lifecycle(engine, {
    gracefulTimeoutS: options.gracefulTimeout,
    watchdog: claimed.watchdog,
    watchdogProbe: options.watchdogProbe,
    log,
    notifier,
    signals,
    hooks: commandHooks(options, cwd),
    ...(options.reload ? { watchSources: sourceWatcher(options.app, cwd, log) } : {}),
  });
}

/** A failure to start (or in the post-hook): the one line, STATUS= and ERRNO= for systemd, the error's exit code. */
async function fail(error: unknown, log: Logger | undefined, notifier: Notifier, phase: 'start' | 'stop'): Promise<never> {
  const failure = asChaussetteError(error);
  if (failure.code === 'ERR_INTERNAL') log?.fatal({ err: error }, 'unexpected failure');
  else if (failure.cause !== undefined) log?.debug({ err: failure.cause }, `${failure.code}: the cause`);
  process.stderr.write(`${stderrErrorPrefix()}${failure.oneLine()}\n`);
  const errno = failure.errnoNumber(constants.errno);
  notifier.notify({ STATUS: `Failed to ${phase}: ${summary(error)}`, ...(errno === undefined ? {} : { ERRNO: errno }) });
  await Promise.race([notifier.settled(), delay(LAST_NOTICE_WAIT_MS)]);
  process.exit(failure.exitCode);
}

/**
 * An exception nothing caught, once serving. In a single process it is the
 * app's: logged with its stack, then a stop like SIGTERM's, the requests in
 * flight given up to CRASH_GRACE_S, then exit 70 for the manager to restart
 * it (new connections wait in its socket meanwhile); a second one exits at
 * once. In a primary (which runs no app code) it is ours: it exits, and its
 * workers drain and leave once it is gone. (A worker handles its own: worker.ts.)
 */
let crashed = false;
function crash(error: unknown, log: Logger, notifier: Notifier, inPrimary: boolean, lifecycle: Lifecycle | undefined): void {
  if (inPrimary || crashed || !lifecycle) {
    log.fatal({ err: error }, inPrimary ? 'the primary failed; exiting' : 'the app threw outside any request again; exiting now');
    notifier.notify({ STATUS: `Failed: ${describeError(error)}` });
    process.exit(ExitCode.software);
  }
  crashed = true;
  log.fatal({ err: error }, 'the app threw outside any request; stopping, then exiting 70 for a restart');
  notifier.notify({ STATUS: `Failed: the app threw outside any request: ${describeError(error)}` });
  void lifecycle.stop('an uncaught exception').finally(() => process.exit(ExitCode.software));
}
