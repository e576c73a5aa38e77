// The run, in order: options -> sockets resolved and checked -> app loaded
// -> pre-hook -> listening -> wait for a signal -> drain -> post-hook -> exit.
// Sockets are checked before the app loads, so a bad fd fails fast; the app
// loads before anything listens, so nothing accepts a connection it cannot
// answer.

import { readFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { guardListener, REQUEST_FAILED } from './apps/guard.js';
import { loadApp } from './apps/load.js';
import { getBackend } from './backends/index.js';
import { ChaussetteError, describeError, ExitCode } from './errors.js';
import { loadHook, preload, runHook } from './hooks.js';
import { createLogger, type Logger } from './log.js';
import { type Options, parseCommandLine } from './options.js';
import { openListeners, preflight, systemMaxBacklog } from './sockets/open.js';
import { resolveListenTargets } from './sockets/resolve.js';
import { drain, openConnections } from './shutdown.js';
import { ACTIVATION_VARIABLES } from './systemd/activation.js';

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/** Set by the bundler; the unbundled library build reads package.json instead. */
declare const CHAUSSETTE_VERSION: string | undefined;

export function version(): string {
  if (typeof CHAUSSETTE_VERSION === 'string') return CHAUSSETTE_VERSION;
  const manifest = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** Runs chaussette; resolves once serving, and exits the process when done. */
export async function run(argv: string[]): Promise<void> {
  let log: Logger | undefined;
  try {
    const parsed = parseCommandLine(argv, process.env, version());
    if (parsed.kind === 'exit') {
      process.stdout.write(parsed.output);
      process.exit(ExitCode.ok);
    }
    log = await createLogger(parsed.options.logLevel, parsed.options.logOutput);
    await serve(parsed.options, log);
  } catch (error) {
    fail(error, log);
  }
}

function fail(error: unknown, log: Logger | undefined): never {
  if (error instanceof ChaussetteError) {
    process.stderr.write(`${error.oneLine()}\n`);
    process.exit(error.exitCode);
  }
  log?.fatal({ err: error }, 'unexpected failure');
  process.stderr.write(`chaussette: ERR_INTERNAL: ${describeError(error)}\n`);
  process.exit(ExitCode.software);
}

async function serve(options: Options, log: Logger): Promise<void> {
  const cwd = process.cwd();
  let resolution;
  try {
    resolution = resolveListenTargets(options, process.env, process.pid);
  } finally {
    // As sd_listen_fds(3) does, succeed or fail: the app's own children must never claim our sockets.
    for (const name of ACTIVATION_VARIABLES) delete process.env[name];
  }
  for (const warning of resolution.warnings) log.warn(warning);
  const backend = getBackend(options.backend);
  const inspected = preflight(resolution.targets);

  const stopping = installSignalHandlers(log);
  await preload(options.require, cwd);
  const app = await loadApp(options.app, options.args, cwd, (error) => log.error({ err: error }, REQUEST_FAILED));
  log.info(`Application is ${app.name} (${app.kind})`);
  const preHook = await loadHook('--pre-hook', options.preHook, cwd);
  const postHook = await loadHook('--post-hook', options.postHook, cwd);
  await runHook('--pre-hook', options.preHook, preHook, options);

  const listener = guardListener(app.listener, log) as RequestListener;
  const settings = {
    keepAliveTimeoutMs: options.keepAliveTimeout * 1000,
    headersTimeoutMs: options.headersTimeout * 1000,
    requestTimeoutMs: options.requestTimeout * 1000,
    maxHeaderSize: options.maxHeaderSize,
  };
  const listeners = await openListeners(
    resolution.targets,
    () => backend.createServer(listener, settings),
    options.backlog ?? systemMaxBacklog(),
    inspected,
  );
  for (const opened of listeners) log.info(`Serving on ${opened.description}`);
  log.info(`Using ${backend.name} backend`);

  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'the app threw outside any request; exiting');
    process.exit(ExitCode.software);
  });

  const signal = await stopping.first;
  const servers = listeners.map((opened) => opened.server);
  log.info(`Received ${signal}: draining ${openConnections(servers)} connection(s) for up to ${options.gracefulTimeout} s`);
  const result = await drain(servers, options.gracefulTimeout * 1000);
  if (result.forced > 0) log.warn(`Graceful timeout reached: closed ${result.forced} connection(s) by force`);
  await app.close?.().catch((error: unknown) => log.error({ err: error }, 'the app failed to close'));
  try {
    await runHook('--post-hook', options.postHook, postHook, options);
  } catch (error) {
    fail(error, log);
  }
  log.info(`Stopped after ${result.elapsedMs} ms of drain`);
  process.exit(ExitCode.ok);
}

/** The first SIGTERM/SIGINT starts the drain; a second one exits at once. */
function installSignalHandlers(log: Logger): { first: Promise<NodeJS.Signals> } {
  let received: NodeJS.Signals | undefined;
  const first = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
      if (received) {
        log.warn(`Received ${signal} again: exiting now`);
        process.exit(128 + SIGNAL_NUMBERS[signal]);
      }
      received = signal;
      resolve(signal);
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
  return { first };
}
