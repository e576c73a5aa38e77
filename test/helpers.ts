// Shared plumbing for the tests: run the real CLI in a child process, hand it
// real fds, and talk to it over real sockets.

import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { ChaussetteError } from '../src/errors.js';
import { parseCommandLine, type Options } from '../src/options.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'dist', 'bin.cjs');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const PASS_FD = join(FIXTURES, 'pass-fd.py');

/** An environment without the variables a test harness, a parent service or a platform (PORT) may carry. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(LISTEN_|CHAUSSETTE_|NOTIFY_SOCKET|WATCHDOG_|PORT$)/.test(key)) delete env[key];
  }
  return { ...env, ...extra };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface Running {
  child: ChildProcess;
  lines: LogLine[];
  stderr: () => string;
  /** Resolves with the exit code (or 128+signal). */
  exited: Promise<number>;
  /** True once it has exited and all of its output has been read: no line will come any more. */
  closed: () => boolean;
  /** Wakes a waitUntil() on each line, each piece of stderr, and the exit. */
  onChange: Wake;
  /** The first "Serving on" address, parsed: port for TCP. */
  port: () => number;
  stop: (signal?: NodeJS.Signals) => Promise<number>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
  cwd?: string;
  /** Spawn this command instead of `node dist/bin.cjs` (wrappers such as systemd-socket-activate). */
  command?: string[];
  /** Wait for the server to be ready (default) or return at once. */
  waitReady?: boolean;
  timeoutMs?: number;
}

/** Starts the real CLI and waits until it logs "Using ... backend" (it is listening then). */
export async function startChaussette(args: string[], options: StartOptions = {}): Promise<Running> {
  const command = options.command ?? [process.execPath, CLI];
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? cleanEnv(),
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that stop() also reaches what a wrapper forked.
    detached: true,
  });
  const lines: LogLine[] = [];
  let stderr = '';
  let buffered = '';
  let closed = false;
  const changes = new EventEmitter();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ level: 0, msg: line });
      }
    }
    changes.emit('change');
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    changes.emit('change');
  });
  // 'close', not 'exit': only then has all of its stdout been read.
  const exited = new Promise<number>((resolve) =>
    child.once('close', (code, signal) => {
      closed = true;
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 1));
      changes.emit('change');
    }),
  );

  const running: Running = {
    child,
    lines,
    stderr: () => stderr,
    exited,
    closed: () => closed,
    onChange: onEvent(changes, 'change'),
    port: () => {
      const serving = lines.find((line) => line.msg.startsWith('Serving on'));
      const match = serving && /:(\d+)$/.exec(serving.msg);
      if (!match) throw new Error(`no TCP "Serving on" line in ${JSON.stringify(lines)}`);
      return Number(match[1]);
    },
    stop: async (signal = 'SIGTERM') => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // The whole group is gone already.
      }
      return exited;
    },
  };
  if (options.waitReady === false) return running;

  const timeoutMs = options.timeoutMs ?? 15000;
  try {
    await waitUntil(
      () => {
        if (lines.some((line) => /^Using \S+ backend/.test(line.msg))) return true;
        if (closed) throw new Error(`chaussette exited before serving: ${stderr}${JSON.stringify(lines)}`);
        return false;
      },
      timeoutMs,
      () => `chaussette to serve ("Using ... backend"): ${stderr}${JSON.stringify(lines)}`,
      { wake: running.onChange },
    );
  } catch (error) {
    if (!closed) void running.stop('SIGKILL');
    throw error;
  }
  return running;
}

/**
 * startChaussette() on 127.0.0.1, port 0 (the kernel picks one: running.port()
 * says which), stopped with SIGKILL when `t` ends if it is still running.
 * options.env is the whole environment, as for startChaussette() (cleanEnv() by default).
 */
export async function serve(t: Test, args: string[], options: StartOptions = {}): Promise<Running> {
  const running = await startChaussette(['--host', '127.0.0.1', '--port', '0', ...args], options);
  t.teardown(() => running.stop('SIGKILL'));
  return running;
}

/** Far above the fraction of a second a refusal takes: a start that serves or hangs instead is killed at it, and fails. */
export const REFUSAL_BOUND_MS = 10000;

/** What every refused input ends with: exit `code`, one line on stderr matching `error`, no stack trace. */
export function assertOneLineExit(t: Test, result: { code: number; stderr: string }, code: number, error: RegExp, exitMessage = `exit ${code}`): void {
  t.equal(result.code, code, exitMessage);
  const lines = result.stderr.trim().split('\n');
  t.equal(lines.length, 1, 'exactly one line on stderr');
  t.match(lines[0], error);
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

/** Runs the CLI with `args`, which must be refused as assertOneLineExit() says, within REFUSAL_BOUND_MS. */
export async function refused(t: Test, args: string[], code: number, error: RegExp, options: StartOptions = {}): Promise<void> {
  const started = Date.now();
  const result = await runToExit(args, { ...options, timeoutMs: REFUSAL_BOUND_MS });
  assertOneLineExit(t, result, code, error, `exit ${code}, within ${REFUSAL_BOUND_MS} ms (${Date.now() - started} ms)`);
}

/** Runs the CLI to its exit and returns what it printed. */
export async function runToExit(
  args: string[],
  options: StartOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const running = await startChaussette(args, { ...options, waitReady: false });
  const timer = setTimeout(() => running.child.kill('SIGKILL'), options.timeoutMs ?? 15000);
  const code = await running.exited;
  clearTimeout(timer);
  return { code, stdout: running.lines.map((line) => line.msg).join('\n'), stderr: running.stderr() };
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  port?: number;
  socketPath?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  agent?: Agent | false;
  timeoutMs?: number;
}

export function request(options: RequestOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: options.port,
        socketPath: options.socketPath,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 10000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes on a new connection and returns all the server sent until it closed. */
export function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
  });
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  // Below the kernel's ephemeral range: a port it picks for port 0 is also one it hands to outgoing
  // connections (the load clients of a test file running beside this one), which could take it
  // between this check and the bind that follows. Port 0 remains the fallback.
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  for (let attempt = 0; attempt < 20; attempt++) {
    const candidate = 10000 + Math.floor(Math.random() * Math.max(1, low - 10000));
    const bound = await bindOnce(candidate);
    if (bound !== undefined) return bound;
  }
  return (await bindOnce(0))!;
}

/** Binds 127.0.0.1:port and closes at once: the port bound, or undefined if it was taken. */
async function bindOnce(port: number): Promise<number | undefined> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) return undefined;
  const address = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address;
}

/**
 * A listening TCP socket to hand to children the way Circus and Supervisor
 * do. `passable` goes in a spawn stdio slot (child_process dups the handle's
 * fd there); close the server in the parent once the children have it.
 */
export async function listeningSocket(host = '127.0.0.1'): Promise<{ server: Server; port: number; passable: unknown }> {
  const server = createServer();
  server.on('connection', (socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen({ port: 0, host, backlog: 4096 }, resolve));
  // spawn() accepts a stream with a _handle; it pauses that stream afterwards, so give it one to pause.
  const passable = { _handle: (server as unknown as { _handle: unknown })._handle, pause() {}, _readableState: {} };
  return { server, port: (server.address() as { port: number }).port, passable };
}

/** stdio array that puts `handle` at fd `fd` in the child (stdout/stderr piped, the rest ignored). */
export function stdioWith(fd: number, handle: unknown): StdioOptions {
  const stdio: unknown[] = ['ignore', 'pipe', 'pipe'];
  for (let i = 3; i < fd; i++) stdio.push('ignore');
  stdio[fd] = handle;
  return stdio as StdioOptions;
}

/**
 * A fixed pause. Waiting for something to happen is waitUntil()'s job; a
 * sleep is only for proving that something does NOT happen within a time,
 * where there is no event to wait for (say so where it is used).
 */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Calls `wake` whenever what a waitUntil() predicate reads may have changed; returns how to stop. */
export type Wake = (wake: () => void) => () => void;

/** A Wake on `event` of `emitter` (a child's 'exit', a stream's 'data'...). */
export function onEvent(emitter: EventEmitter, event: string): Wake {
  return (wake) => {
    emitter.on(event, wake);
    return () => emitter.off(event, wake);
  };
}

export interface WaitOptions {
  /** Check again as soon as one of these fires, instead of at the next poll. */
  wake?: Wake | Wake[];
  /** Check at least this often (ms): 20 by default, 250 when `wake` is given (a safety net only). */
  everyMs?: number;
}

type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/**
 * Resolves with the first truthy value `predicate` (sync or async) returns.
 * It is called at once, then whenever a `wake` source fires, and every
 * `everyMs` in any case; never twice at a time. After `ms` it throws
 * "timed out after MS ms waiting for WHAT" (`what` may be a function, called
 * then, to describe the state at that moment). An error thrown by
 * `predicate` ends the wait with that error: throw when what is awaited can
 * no longer happen (the process exited, say).
 */
export async function waitUntil<T>(
  predicate: () => T | Promise<T>,
  ms: number,
  what: string | (() => string),
  options: WaitOptions = {},
): Promise<Truthy<T>> {
  const deadline = Date.now() + ms;
  const wakes = options.wake === undefined ? [] : Array.isArray(options.wake) ? options.wake : [options.wake];
  const everyMs = options.everyMs ?? (wakes.length > 0 ? 250 : 20);
  let woken = false;
  let interrupt = () => {};
  const stops = wakes.map((subscribe) =>
    subscribe(() => {
      woken = true;
      interrupt();
    }),
  );
  try {
    for (;;) {
      woken = false;
      const value = await predicate();
      if (value) return value as Truthy<T>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
      if (woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(everyMs, left));
        interrupt = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      interrupt = () => {};
    }
  } finally {
    stops.forEach((stop) => stop());
  }
}

/**
 * Waits for a log line: the child writes it to its stdout pipe before it
 * answers on the socket, but we may read the socket first. Throws, naming
 * `match`, when the time is up or the process exited without logging it.
 */
export function waitForLine(running: Running, match: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
  return waitUntil(
    () => {
      const found = running.lines.find(match);
      if (found || !running.closed()) return found;
      throw new Error(`chaussette exited without logging a line matching ${String(match)}: ${running.stderr()}${JSON.stringify(running.lines)}`);
    },
    timeoutMs,
    () => `a log line matching ${String(match)}; got ${JSON.stringify(running.lines.map((line) => line.msg))}`,
    { wake: running.onChange },
  );
}

/**
 * Waits until `count` requests for `path` reached the app: the fixtures that
 * hold requests (slow.mjs, pid.mjs with ?ms=) print "arrived: PATH (pid N)"
 * on stdout as one comes in, so a test can act while it is in flight.
 */
export function waitForArrival(running: Running, path: string, count = 1, timeoutMs = 5000): Promise<LogLine[]> {
  const arrivals = () => running.lines.filter((line) => line.level === 0 && line.msg.startsWith(`arrived: ${path} (pid `));
  return waitUntil(() => arrivals().length >= count && arrivals(), timeoutMs, () => `${count} request(s) for ${path} to reach the app; got ${arrivals().length}`, {
    wake: running.onChange,
  });
}

/**
 * The established connections on the server's side of 127.0.0.1:port, from
 * ss(8): each with its peer's port and the pids holding it (none while it
 * waits in the listening socket's queue, not yet accepted).
 */
export function serverConnections(port: number): Array<{ peerPort: number; pids: number[] }> {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => ({
      // Recv-Q, Send-Q, local address, peer address, users (no State column with a state filter).
      peerPort: Number(/:(\d+)$/.exec(line.trim().split(/\s+/)[3] ?? '')?.[1]),
      pids: [...line.matchAll(/pid=(\d+)/g)].map((match) => Number(match[1])),
    }));
}

/**
 * The TCP port `running` listens on, once ss(8) shows it listening: for a
 * process whose log does not say (--log-level warn hides "Serving on").
 */
export function listeningPort(running: Running, timeoutMs = 5000): Promise<number> {
  return waitUntil(
    () => {
      const ss = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
      const port = Number(new RegExp(`:(\\d+) .*pid=${running.child.pid},`).exec(ss)?.[1] ?? 0);
      if (port || !running.closed()) return port;
      throw new Error(`chaussette exited without listening: ${running.stderr()}`);
    },
    timeoutMs,
    `pid ${running.child.pid} to listen`,
  );
}

/** parseCommandLine() with a pretend file system: `files` maps a path to its text; any other file is missing. */
export function parse(argv: string[], env: NodeJS.ProcessEnv = {}, files: Record<string, string> = {}): Options {
  const result = parseCommandLine(argv, env, '0.0.0', (path, optional) => {
    if (Object.hasOwn(files, path)) return files[path];
    if (optional) return undefined;
    throw new Error(`the test read ${path}, which it did not provide`);
  });
  if (result.kind !== 'run') throw new Error('expected options');
  return result.options;
}

/** The ChaussetteError `fn` throws; any other outcome (nothing thrown, another error) fails the test. */
export function thrown(fn: () => unknown): ChaussetteError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ChaussetteError) return error;
    throw error;
  }
  throw new Error('expected a ChaussetteError, but nothing was thrown');
}
