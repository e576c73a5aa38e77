// --workers and --reload: this process owns the sockets and the worker
// processes, and is the only one systemd hears from. It resolves and opens
// the sockets once, accepts on them, and hands each connection to a worker
// (see pool.ts for why it does not leave that to the kernel). SIGHUP
// replaces the workers one at a time, so new code serves with no request
// refused; SIGTERM drains them all.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { type Backend, backendNames, getBackend, probeProtocol } from '../backends/index.js';
import { ChaussetteError, describeError, errors, ExitCode } from '../errors.js';
import { projectRoot, watchTree } from '../dev/watch.js';
import { loadHook, runHook } from '../hooks.js';
import { resolveModuleFile, splitSpec } from '../modules.js';
import type { Logger } from '../log.js';
import { onLogReopened } from '../logs/reopen.js';
import type { Options } from '../options.js';
import { claimInherited, readCertificates } from '../serving.js';
import { installStopHandlers } from '../signals.js';
import { openListeners, systemMaxBacklog } from '../sockets/open.js';
import { PROGRESS_EVERY_MS } from '../shutdown.js';
import { monotonicUsec, type Notifier } from '../systemd/notify.js';
import { drainingNotice, plural, servingStatus, startStatusReports } from '../systemd/status.js';
import { pingEveryMs, planWatchdog } from '../systemd/watchdog.js';
import { takeAccepted } from './handover.js';
import { WorkerPool } from './pool.js';
import { WORKER_VARIABLE } from './protocol.js';

const HEARTBEAT_MS = 1000;
/** Room after a worker's own graceful timeout before it is killed. */
const WORKER_STOP_SLACK_MS = 2000;

export async function servePool(options: Options, log: Logger, notifier: Notifier, onStopping: () => void): Promise<void> {
  const size = Math.max(1, options.workers);
  const cwd = process.cwd();
  const { targets, inspected, watchdog } = claimInherited(options, log);
  const backend = backendForPrimary(options);
  // The workers read the certificates themselves (again at each reload); reading them here too
  // makes a bad file one line and a clean exit before any worker starts.
  const tlsFiles = backend && readCertificates(backend, options).tlsFiles;
  const backendName = backend?.name ?? options.backend;
  for (const [fd, inherited] of inspected) if (inherited.role === 'connection') throw errors.workersNeedListeners(fd);

  const stopping = installStopHandlers(log);
  const preHook = await loadHook('--pre-hook', options.preHook, cwd);
  const postHook = await loadHook('--post-hook', options.postHook, cwd);
  await runHook('--pre-hook', options.preHook, preHook, options);

  // Accepted here, read by the worker: paused, so that no byte is consumed on the way.
  const listeners = await openListeners(targets, () => createServer({ pauseOnConnect: true }), options.backlog ?? systemMaxBacklog(), inspected);
  for (const opened of listeners) log.info(`Serving on ${opened.description}`);

  const graceMs = options.gracefulTimeout * 1000;
  const workerEnv = { ...process.env };
  delete workerEnv.NOTIFY_SOCKET; // Only this process speaks to systemd.
  const workerCommand = [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  const pool = new WorkerPool({
    size,
    launch: (slot) =>
      spawn(process.execPath, workerCommand, {
        env: { ...workerEnv, [WORKER_VARIABLE]: String(slot) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    log,
    heartbeatMs: watchdog.kind === 'on' ? Math.min(HEARTBEAT_MS, pingEveryMs(watchdog.intervalMs)) : HEARTBEAT_MS,
    stuckAfterMs: watchdog.kind === 'on' ? watchdog.intervalMs : undefined,
    stopTimeoutMs: graceMs + WORKER_STOP_SLACK_MS,
  });
  onLogReopened(() => pool.tellAll({ kind: 'reopen' }));
  listeners.forEach((opened, index) => takeAccepted(opened.server, (connection) => pool.dispatch(index, connection)));

  log.info(`Starting ${plural(size, 'worker')}`);
  try {
    await pool.start();
  } catch (error) {
    for (const opened of listeners) opened.server.close();
    throw error;
  }
  log.info(`Using ${backendName} backend with ${plural(size, 'worker')} (pids ${pool.pids().join(', ')})`);
  process.on('uncaughtException', (error) => {
    // A bug of ours, not the app's (the app runs in the workers): they drain and leave once we are gone.
    log.fatal({ err: error }, 'the primary failed; exiting');
    notifier.notify({ STATUS: `Failed: ${describeError(error)}` });
    process.exit(ExitCode.software);
  });

  // "http, 4 workers", or "http, 3 of 4 workers" while one is being replaced: systemctl status shows it.
  const label = () => {
    const ready = pool.load().ready;
    return `${backendName}, ${ready >= size ? plural(size, 'worker') : `${ready} of ${size} workers`}`;
  };
  const describe = (requests: number, connections: number, perSecond?: number) =>
    servingStatus(listeners.map((opened) => opened.address), label(), requests, connections, perSecond);
  const serving = () => {
    const load = pool.load();
    return describe(load.requests, load.connections);
  };

  // Registered before READY=1: systemd (>= 253) checks that SIGHUP is handled, and Node's default for it is to die.
  const reload = async (why: string) => {
    log.info(`Reloading (${why}): replacing ${plural(size, 'worker')} one at a time`);
    notifier.notify({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: `Reloading: starting new workers (${why})` });
    try {
      const replaced = await pool.reload();
      log.info(`Reloaded: ${plural(replaced, 'new worker')} serving (pids ${pool.pids().join(', ')})`);
      notifier.notify({ READY: 1, STATUS: serving() });
    } catch (error) {
      const known = error instanceof ChaussetteError;
      log.error(`Reload failed, the previous workers go on serving: ${known ? error.oneLine() : describeError(error)}`);
      const why = known ? `${error.message} (${error.code})` : describeError(error);
      notifier.notify({ READY: 1, STATUS: `Reload failed: ${why}; the previous workers go on serving` });
    }
  };
  process.on('SIGHUP', () => void reload('SIGHUP'));
  const watching = options.reload ? watchSources(options, cwd, log, (file) => void reload(`${file} changed`)) : undefined;

  const startPinging = planWatchdog(watchdog, options.watchdogProbe, backend ? probeProtocol(backend, tlsFiles) : 'http', listeners, notifier, log, () => pool.problem());
  notifier.notify({ READY: 1, STATUS: describe(0, 0, 0) });
  const pinger = startPinging?.();
  const telling = notifier.transport === 'sd-notify' || notifier.transport === 'systemd-notify';
  const reports = telling ? startStatusReports(notifier, () => pool.load(), describe) : undefined;

  const signal = await stopping.first;
  onStopping();
  watching?.close();
  reports?.stop();
  const before = pool.load();
  // The time left is the pool's: each worker's graceful timeout, plus the slack before it is killed.
  notifier.notify({ STOPPING: 1, ...drainingNotice(before.inFlight, before.connections, graceMs + WORKER_STOP_SLACK_MS) });
  log.info(`Received ${signal}: stopping ${plural(size, 'worker')}, each draining for up to ${options.gracefulTimeout} s`);
  const started = Date.now();
  // Stop accepting first: what arrives now waits in the socket's queue for whoever serves next.
  // Not awaited: for connections it handed over, close()'s callback waits until the workers have
  // closed them all, which they only do once told to stop, just below.
  for (const opened of listeners) opened.server.close();
  const { killed } = await pool.stop((load, msLeft) => notifier.notify(drainingNotice(load.inFlight, load.connections, msLeft)), PROGRESS_EVERY_MS);
  pinger?.stop();
  if (killed > 0) log.warn(`Killed ${plural(killed, 'worker')} that outlived the graceful timeout`);
  await runHook('--post-hook', options.postHook, postHook, options);
  log.info(`Stopped after ${Date.now() - started} ms; ${pool.load().requests} requests served`);
}

/**
 * The backend, when the primary knows it. One that a --require module
 * registers exists only in the workers (the primary loads no app code):
 * they check it, and report a failure before serving.
 */
function backendForPrimary(options: Options): Backend | undefined {
  if (options.require.length > 0 && !backendNames().includes(options.backend)) return undefined;
  return getBackend(options.backend);
}

function watchSources(options: Options, cwd: string, log: Logger, onChange: (file: string) => void) {
  const appFile = options.app === undefined ? undefined : resolveModuleFile(splitSpec(options.app).module, cwd);
  const root = projectRoot(appFile, cwd);
  const watching = watchTree(root, onChange);
  log.info(`Watching ${root} (${plural(watching.directories, 'directory', 'directories')}, without node_modules) to reload on changes`);
  return watching;
}
