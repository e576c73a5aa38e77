// Every app shape chaussette serves, turned into one (req, res) listener.
// Detection is by what the value can do, not by instanceof, so that two
// copies of a framework (or a wrapper around one) are still recognised.

import { IncomingMessage, type RequestListener, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { importOnDemand } from '../modules.js';
import { INTERNAL_ERROR, type Listener } from './guard.js';

/** node:http's 'upgrade' listener: a request asking for another protocol (WebSocket), with its socket. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface AdaptedApp {
  /** What the app was recognised as, for the "Application is ..." line. */
  kind: string;
  listener: Listener;
  /** Where upgrade requests go (the app's own server's 'upgrade' listeners: ws, socket.io, @fastify/websocket); none: served as plain requests. */
  upgrade?: UpgradeListener;
  /**
   * The app's own teardown, run after the drain: Fastify's and NestJS's
   * close() (onClose hooks; onModuleDestroy, onApplicationShutdown), an
   * exported server's close() ('close'). Only a method that is a teardown
   * by the framework's contract: shapes without one hear `stopping`.
   */
  close?: () => Promise<void>;
}

type AnyRecord = Record<string, unknown>;
const isFunction = (value: unknown): value is (...args: unknown[]) => unknown => typeof value === 'function';
const isObjectLike = (value: unknown): value is AnyRecord =>
  (typeof value === 'object' && value !== null) || typeof value === 'function';

/** Where adapters that catch errors themselves report them (the fetch bridge does). */
export type ReportError = (error: unknown) => void;

/** Adapts a served value; returns undefined when it is a factory (or nothing servable). */
export async function adaptServable(value: unknown, reportError: ReportError): Promise<AdaptedApp | undefined> {
  if (!isObjectLike(value)) return undefined;

  // NestJS: NestFactory.create()'s application, first since its proxy also
  // answers for its HTTP adapter's methods. init() runs what listen() would
  // (onModuleInit, the routes, the gateways attaching to its http server);
  // requests go to its Express instance (the HTTP/2 bridge included) or its
  // server's own listener, upgrades to that server's 'upgrade' listeners
  // (@nestjs/platform-ws, socket.io gateways), and close() after the drain
  // runs onModuleDestroy, beforeApplicationShutdown and onApplicationShutdown.
  if (isNestApplication(value)) {
    await value.init();
    // enableShutdownHooks() would close the app at SIGTERM, under the requests
    // still draining, then raise SIGTERM again: its listeners are removed (with
    // the method Nest's own close() uses), and close() runs after the drain.
    value.unsubscribeFromProcessSignals?.();
    const server = value.getHttpServer();
    const instance = value.getHttpAdapter().getInstance();
    return {
      kind: 'a NestJS application',
      listener: isObjectLike(instance) && isExpress(instance) ? expressOnEveryVersion(instance) : requestListenersOf(server),
      ...upgradesOf(server),
      close: async () => void (await value.close()),
    };
  }
  // Fastify: an instance routes through its own handler once ready.
  if (isFunction(value.routing) && isFunction(value.ready) && isFunction(value.inject)) {
    await (value.ready as () => Promise<unknown>)();
    const routing = value.routing as Listener;
    return {
      kind: 'a Fastify instance',
      listener: (req, res) => routing(req, res),
      // @fastify/websocket listens for upgrades on the instance's own server.
      ...upgradesOf(value.server),
      close: async () => void (await (value.close as () => Promise<unknown>)()),
    };
  }
  // Koa: callback() builds the (req, res) handler and handles its own errors.
  if (isFunction(value.callback) && isFunction(value.use) && Array.isArray(value.middleware)) {
    return { kind: 'a Koa app', listener: (value.callback as () => Listener)() };
  }
  // An http.Server someone built: serve through its own request listeners.
  if (value instanceof NetServer) {
    const server = value;
    return {
      kind: 'an http.Server',
      listener: requestListenersOf(server),
      ...upgradesOf(server),
      // Its teardown: close() is what ends a server. Never listening, it only
      // emits 'close' (next tick), so the app's server.on('close') runs.
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
  // Express, Connect and plain listeners take (req, res[, next]).
  if (isFunction(value) && !isClass(value) && (isFunction(value.handle) || value.length >= 2)) {
    const kind = isFunction(value.handle) ? 'a (req, res, next) app (Express/Connect)' : 'a (req, res) listener';
    return { kind, listener: isExpress(value) ? expressOnEveryVersion(value) : (value as Listener) };
  }
  // Fetch-style handlers (Hono, { fetch }): adapted by @hono/node-server, a
  // maintained Request/Response bridge, loaded only for apps that need it.
  if (!isFunction(value) && isFunction(value.fetch)) {
    const { getRequestListener } = await importOnDemand<typeof import('@hono/node-server')>('@hono/node-server');
    const fetch = (value.fetch as (request: Request) => Response | Promise<Response>).bind(value);
    const listener = getRequestListener(fetch, {
      // The bridge catches the handler's errors itself; answer them as the
      // request guard does for every other shape, without leaking the message.
      errorHandler: (error) => {
        reportError(error);
        return new Response(INTERNAL_ERROR.body, { status: INTERNAL_ERROR.status, headers: INTERNAL_ERROR.headers });
      },
    });
    return { kind: 'a fetch handler', listener: listener as unknown as Listener };
  }
  // Polka keeps its listener in .handler.
  if (!isFunction(value) && isFunction(value.handler) && isFunction(value.use)) {
    const handler = (value.handler as Listener).bind(value);
    return { kind: 'a Polka app', listener: handler };
  }
  return undefined;
}

interface NestApplicationLike {
  init(): Promise<unknown>;
  close(): Promise<unknown>;
  getHttpServer(): NetServer;
  getHttpAdapter(): { getInstance(): unknown };
  /** Protected in Nest's types; removes what enableShutdownHooks() added (absent before Nest 8). */
  unsubscribeFromProcessSignals?: () => void;
}

const isNestApplication = (value: AnyRecord): value is AnyRecord & NestApplicationLike =>
  isFunction(value.getHttpAdapter) &&
  isFunction(value.getHttpServer) &&
  isFunction(value.init) &&
  isFunction(value.close) &&
  isFunction(value.enableShutdownHooks);

interface ExpressLike {
  (req: IncomingMessage, res: ServerResponse): unknown;
  handle(req: IncomingMessage, res: ServerResponse): unknown;
  request: object;
  response: object;
}

const isExpress = (value: AnyRecord): value is AnyRecord & ExpressLike =>
  isFunction(value.handle) && isObjectLike(value.request) && isObjectLike(value.response) && isFunction(value.set);

/**
 * Express re-parents every request and response onto its own objects, which
 * inherit from node:http's IncomingMessage and ServerResponse. An HTTP/2
 * request (the http2 backend's compatibility API) re-parented so loses its
 * own getters and breaks. For HTTP/2, Express is given a view of the app
 * whose request and response objects carry the same methods on top of the
 * HTTP/2 prototypes instead; HTTP/1.1 requests take Express's usual path.
 */
function expressOnEveryVersion(app: ExpressLike): Listener {
  let http2View: ExpressLike | undefined;
  return (req, res) => {
    if (req.httpVersionMajor !== 2) return app(req, res);
    http2View ??= Object.create(app, {
      request: { value: rebase(app.request, IncomingMessage.prototype, Object.getPrototypeOf(req) as object) },
      response: { value: rebase(app.response, ServerResponse.prototype, Object.getPrototypeOf(res) as object) },
    }) as ExpressLike;
    return app.handle.call(http2View, req, res);
  };
}

/**
 * A server's own 'request' listeners, as one listener. An HTTP/2 request
 * reaches an Express app among them through expressOnEveryVersion(), as it
 * would exported alone (the usual server around Express:
 * `http.createServer(app)`, with express-ws or socket.io attached); HTTP/1.1
 * takes node:http's own path, one emit.
 */
function requestListenersOf(server: NetServer): Listener {
  const bridged = new WeakMap<ExpressLike, Listener>();
  return (req, res) => {
    if (req.httpVersionMajor !== 2) return server.emit('request', req, res);
    for (const listener of server.listeners('request') as Listener[]) {
      if (!isExpress(listener as unknown as AnyRecord)) {
        listener.call(server, req, res);
        continue;
      }
      const app = listener as unknown as ExpressLike;
      let viaBridge = bridged.get(app);
      if (!viaBridge) bridged.set(app, (viaBridge = expressOnEveryVersion(app)));
      viaBridge(req, res);
    }
    return undefined;
  };
}

/** The chain from `view` down to (not including) `until`, copied level by level onto `base`. */
function rebase(view: object, until: object, base: object): object {
  const levels: object[] = [];
  for (let level: object | null = view; level && level !== until; level = Object.getPrototypeOf(level) as object | null) levels.push(level);
  return levels.reverse().reduce((proto, level) => Object.create(proto, Object.getOwnPropertyDescriptors(level)) as object, base);
}

/**
 * Upgrades go to a server's own 'upgrade' listeners (what ws, socket.io and
 * @fastify/websocket attach to the server they are given), when it has
 * some: node:http serves an upgrade request as a plain request only while
 * no 'upgrade' listener exists, so none is added for a server without.
 */
function upgradesOf(server: unknown): { upgrade?: UpgradeListener } {
  if (!(server instanceof NetServer) || server.listenerCount('upgrade') === 0) return {};
  return { upgrade: (req, socket, head) => void server.emit('upgrade', req, socket, head) };
}

/** A function of at most one parameter that is not a listener: called with the extra args. */
export function isFactory(value: unknown): value is (args: string[]) => unknown {
  return isFunction(value) && !isClass(value) && value.length <= 1 && !isFunction((value as unknown as AnyRecord).handle);
}

function isClass(value: (...args: unknown[]) => unknown): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(value));
}

/** What a value is, in a few words, for "app X is <this>, which chaussette cannot serve". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') {
    if (isClass(value as (...args: unknown[]) => unknown)) return `the class ${value.name || '(anonymous)'}`;
    return `a function of ${value.length} parameter(s)`;
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value).slice(0, 6);
    return keys.length ? `an object with keys ${keys.join(', ')}` : 'an empty object';
  }
  return `a ${typeof value} (${JSON.stringify(value)})`;
}

export type { RequestListener };
