// The run, in order: options -> sockets resolved and checked -> app loaded
// -> pre-hook -> listening -> READY=1 -> wait for a signal -> STOPPING=1,
// drain -> post-hook -> exit. systemd hears of each step it cares about
// (readiness, status, watchdog, stopping), and of a failed start.
// Sockets are checked before the app loads, so a bad fd fails fast; the app
// loads before anything listens, so nothing accepts a connection it cannot
// answer.

import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { readConfigFile } from './config/read.js';
import { ChaussetteError, describeError, errnoOf, ExitCode } from './errors.js';
import { loadHook, runHook } from './hooks.js';
import { createLogger, type Logger } from './log.js';
import { stderrErrorPrefix } from './logs/journal.js';
import { reopenLogOnSignal } from './logs/reopen.js';
import { type Options, parseCommandLine } from './options.js';
import { startServing } from './serve.js';
import { claimInherited, prepareApp } from './serving.js';
import { installStopHandlers } from './signals.js';
import { createNotifier, type Notifier } from './systemd/notify.js';
import { servePool } from './workers/primary.js';
import { WORKER_VARIABLE } from './workers/protocol.js';
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

/** Runs chaussette; resolves once serving, and exits the process when done. */
export async function run(argv: string[]): Promise<void> {
  let log: Logger | undefined;
  // First, so that even a bad option in an EnvironmentFile= or --config file reaches `systemctl status`.
  const notifier = await createNotifier(process.env, (message) =>
    log ? log.warn(message) : process.stderr.write(`chaussette: ${message}\n`),
  );
  let phase: 'start' | 'stop' = 'start';
  try {
    const parsed = parseCommandLine(argv, process.env, version(), readConfigFile);
    if (parsed.kind === 'exit') {
      process.stdout.write(parsed.output);
      process.exit(ExitCode.ok);
    }
    log = await createLogger(parsed.options.logLevel, parsed.options.logOutput);
    const slot = takeWorkerSlot();
    reopenLogOnSignal(log, slot === undefined ? 'main' : 'worker');
    if (slot !== undefined) return void (await runWorker(parsed.options, log.child({ worker: slot }), slot));
    if (notifier.report) log[notifier.report.level](notifier.report.message);
    const serveHow = parsed.options.workers > 0 || parsed.options.reload ? servePool : serve;
    await serveHow(parsed.options, log, notifier, () => (phase = 'stop'));
    await Promise.race([notifier.settled(), delay(LAST_NOTICE_WAIT_MS)]);
    process.exit(ExitCode.ok);
  } catch (error) {
    await fail(error, log, notifier, phase);
  }
}

/** A worker of a primary (--workers) is told its slot; the variable is gone before the app can see it. */
function takeWorkerSlot(): number | undefined {
  const value = process.env[WORKER_VARIABLE];
  delete process.env[WORKER_VARIABLE];
  const slot = Number(value);
  return value !== undefined && process.send && Number.isSafeInteger(slot) && slot > 0 ? slot : undefined;
}

async function fail(error: unknown, log: Logger | undefined, notifier: Notifier, phase: 'start' | 'stop'): Promise<never> {
  const known = error instanceof ChaussetteError;
  if (!known) log?.fatal({ err: error }, 'unexpected failure');
  const line = known ? error.oneLine() : `chaussette: ERR_INTERNAL: ${describeError(error)}`;
  process.stderr.write(`${stderrErrorPrefix()}${line}\n`);
  const errno = known ? errnoOf(error.code, constants.errno) : undefined;
  notifier.notify({
    STATUS: `Failed to ${phase}: ${known ? `${error.message} (${error.code})` : describeError(error)}`,
    ...(errno === undefined ? {} : { ERRNO: errno }),
  });
  await Promise.race([notifier.settled(), delay(LAST_NOTICE_WAIT_MS)]);
  process.exit(known ? error.exitCode : ExitCode.software);
}

async function serve(options: Options, log: Logger, notifier: Notifier, onStopping: () => void): Promise<void> {
  const cwd = process.cwd();
  const claimed = claimInherited(options, log);
  const stopping = installStopHandlers(log);
  const prepared = await prepareApp(options, log, cwd);
  const preHook = await loadHook('--pre-hook', options.preHook, cwd);
  const postHook = await loadHook('--post-hook', options.postHook, cwd);
  await runHook('--pre-hook', options.preHook, preHook, options);

  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'the app threw outside any request; exiting');
    notifier.notify({ STATUS: `Failed: the app threw outside any request: ${describeError(error)}` });
    process.exit(ExitCode.software);
  });
  const serving = await startServing({ options, claimed, prepared, log, notifier, stopSignal: stopping.first, handleReload: true, onStopping });
  await serving.stopped;
  await runHook('--post-hook', options.postHook, postHook, options);
}
