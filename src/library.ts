// The library: what the command does, for a program that keeps its own
// entry point. serve(app, options) takes the sockets systemd, Circus or
// Supervisor handed over (or binds one), serves the app on them, tells
// systemd READY=1, feeds the watchdog, and drains on SIGTERM. The pieces
// are exported too: listenTargets() says what this process was handed,
// createNotifier() speaks sd_notify, registerBackend() adds a backend.

import type { Server } from 'node:net';
import { adaptLoaded } from './apps/load.js';
import { REQUEST_FAILED } from './apps/guard.js';
import type { DrainResult } from './drain.js';
import { errors } from './errors.js';
import { InProcess } from './in-process.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger } from './log.js';
import { flagName, type LogLevel, OPTION_TABLE, type Options } from './options.js';
import { claimInherited, prepareServers } from './prepare.js';
import { SignalTable } from './signals.js';
import { isUnixHost } from './sockets/address.js';
import { type ListenTarget, resolveListenTargets } from './sockets/resolve.js';
import { createNotifier as createSystemdNotifier, type Notifier } from './systemd/notify.js';

/** What serve() resolves with, once every socket accepts. */
export interface Serving {
  /** Each socket served, as the log says it: "fd 3 (web) -> 127.0.0.1:8000", "127.0.0.1:41234". */
  readonly listeners: ReadonlyArray<{ description: string; address: string }>;
  /** The servers, one per socket (node:http, node:https or node:http2 servers). */
  readonly servers: readonly Server[];
  /** Stops as SIGTERM does: STOPPING=1, then the drain. Resolves when it is done. */
  stop(): Promise<DrainResult>;
  /** Settles once stopped, whatever stopped it; the app's own close() (Fastify, NestJS, an http.Server) has run by then. */
  readonly stopped: Promise<DrainResult>;
}

/** The options serve() takes: the command's, by their camelCase names, with values of their own types. */
export interface ServeOptions {
  host?: string;
  port?: number;
  /** Inherited sockets: fd numbers (Circus, Supervisor's 0) or systemd FileDescriptorName= names. */
  fd?: number | string | Array<number | string>;
  backlog?: number;
  backend?: string;
  certfile?: string;
  keyfile?: string;
  caCerts?: string;
  keyfilePassword?: string;
  gracefulTimeout?: number;
  drainLinger?: number;
  keepAliveTimeout?: number;
  headersTimeout?: number;
  requestTimeout?: number;
  maxHeaderSize?: number;
  /** Largest request body in bytes, answered 413 above; 0 (the default): no limit. */
  maxBodySize?: number;
  watchdogProbe?: string;
  /** One line per request: 'common', 'combined' or 'json'; written where chaussette's own logger writes, so not with `logger`. */
  accessLog?: 'off' | 'common' | 'combined' | 'json';
  /** Arguments for an app that is a factory. */
  args?: string[];
  /** A pino logger (or one with the same methods); default: JSON lines on stdout at logLevel. */
  logger?: Logger;
  logLevel?: LogLevel;
  /**
   * Whether serve() takes SIGTERM and SIGINT (drain; a second SIGINT exits
   * at once) and SIGHUP (certificates reloaded, systemd's reload answered),
   * as the command does, and gives them back once stopped. Default true.
   * Without, call stop() yourself.
   */
  signals?: boolean;
  /** Where LISTEN_FDS, NOTIFY_SOCKET and WATCHDOG_USEC are read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Options the command has that a library call cannot honour. */
const COMMAND_ONLY = new Set<keyof Options>(['workers', 'reload', 'preHook', 'postHook', 'require', 'logOutput', 'accessLogOutput', 'logLevel', 'fds']);

/**
 * The command's Options from serve()'s: each value goes through the same
 * parser as on the command line, so it is checked the same way and fails
 * with the same catalogued error.
 */
export function toOptions(input: ServeOptions): Options {
  const values: Record<string, unknown> = {};
  for (const spec of OPTION_TABLE) {
    const given = (input as Record<string, unknown>)[spec.key];
    if (COMMAND_ONLY.has(spec.key) || given === undefined) {
      values[spec.key] = spec.default;
      continue;
    }
    // A parser may say "not set" (an empty host): then the default, as on the command line.
    values[spec.key] = spec.parse(String(given), flagName(spec.flags)) ?? spec.default;
  }
  const fds = input.fd === undefined ? [] : (Array.isArray(input.fd) ? input.fd : [input.fd]).map(String);
  const address = input.host !== undefined || input.port !== undefined;
  if (fds.length > 0 && address) throw errors.fdAndAddress('to serve()');
  if (isUnixHost(values.host as string) && input.port !== undefined) throw errors.unixHostWithPort(`host ${values.host as string}`, `port ${input.port}`);
  return {
    ...(values as unknown as Options),
    fds,
    app: undefined,
    args: input.args ?? [],
    socketChoice: fds.length > 0 ? 'fd' : address ? 'address' : 'none',
  };
}

/**
 * Serves an app: a (req, res) listener, an Express/Connect app, a Koa app,
 * a Fastify instance, a { fetch } handler (Hono), a NestJS application, an
 * http.Server, or a factory returning one (called with options.args). Resolves once every
 * socket accepts and systemd has been told READY=1.
 */
export async function serve(app: unknown, input: ServeOptions = {}): Promise<Serving> {
  const options = toOptions(input);
  if (input.logger && options.accessLog !== 'off') {
    throw new TypeError('serve(): accessLog writes where chaussette\'s own logger writes; with your own logger, log requests in the app');
  }
  const env = input.env ?? process.env;
  const log = input.logger ?? (await createLogger(input.logLevel ?? 'info', '-'));
  const notifier = await createSystemdNotifier(env, (message) => log.warn(message));
  if (notifier.failure) throw notifier.failure;
  if (notifier.report) log[notifier.report.level](notifier.report.message);
  const claimed = claimInherited(options, log, env);
  const adapted = await adaptLoaded('the app given to serve()', app, options.args, (error) => log.error({ err: error }, REQUEST_FAILED));
  const engine = new InProcess({ log, claimed, backlog: options.backlog, lingerMs: options.drainLinger * 1000, prepare: async () => prepareServers(adapted, options, log) });
  const signals = (input.signals ?? true) ? SignalTable.install('library') : undefined;
  const lifecycle = new Lifecycle(engine, {
    gracefulTimeoutS: options.gracefulTimeout,
    watchdog: claimed.watchdog,
    watchdogProbe: options.watchdogProbe,
    log,
    notifier,
    ...(signals ? { signals } : {}),
  });
  let listeners;
  try {
    listeners = await lifecycle.start();
  } catch (error) {
    signals?.dispose();
    throw error;
  }
  const stopped = lifecycle.stopped.finally(() => signals?.dispose());
  return {
    listeners: listeners.map(({ description, address }) => ({ description, address })),
    servers: engine.servers,
    stop: () => lifecycle.stop(),
    stopped,
  };
}

/**
 * What this process was handed, resolved as the command resolves it:
 * systemd's LISTEN_FDS (checked against LISTEN_PID, named by
 * LISTEN_FDNAMES), fds named by number, or an address to bind. Pure: it
 * reads the environment and changes nothing.
 */
export function listenTargets(
  input: Pick<ServeOptions, 'fd' | 'host' | 'port'> = {},
  env: NodeJS.ProcessEnv = process.env,
): { targets: ListenTarget[]; warnings: string[] } {
  return resolveListenTargets(toOptions(input), env, process.pid);
}

/**
 * A notifier for systemd (sd_notify(3)): notify({ READY: 1, STATUS: '...' }).
 * It uses the sd-notify addon where it is installed, systemd-notify
 * otherwise, and does nothing without NOTIFY_SOCKET.
 */
export function createNotifier(options: { env?: NodeJS.ProcessEnv; onWarning?: (message: string) => void } = {}): Promise<Notifier> {
  return createSystemdNotifier(options.env ?? process.env, options.onWarning ?? ((message) => process.emitWarning(message)));
}

export type { ListenTarget, Notifier, Logger };
