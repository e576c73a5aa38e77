// Shared plumbing for the tests: run the real CLI in a child process, hand it
// real fds, and talk to it over real sockets.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'dist', 'bin.cjs');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const PASS_FD = join(FIXTURES, 'pass-fd.py');

/** An environment without the variables a test harness or a parent service may carry. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(LISTEN_|CHAUSSETTE_|NOTIFY_SOCKET|WATCHDOG_)/.test(key)) delete env[key];
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
  const waiters: Array<() => void> = [];
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
      waiters.forEach((wake) => wake());
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close', not 'exit': only then has all of its stdout been read.
  const exited = new Promise<number>((resolve) =>
    child.once('close', (code, signal) => {
      waiters.forEach((wake) => wake());
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 1));
    }),
  );

  const running: Running = {
    child,
    lines,
    stderr: () => stderr,
    exited,
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

  const deadline = Date.now() + (options.timeoutMs ?? 15000);
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  while (!lines.some((line) => /^Using \S+ backend/.test(line.msg))) {
    if (exitedEarly) throw new Error(`chaussette exited before serving: ${stderr}${JSON.stringify(lines)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`chaussette did not start in time: ${stderr}${JSON.stringify(lines)}`);
    }
    await new Promise<void>((wake) => {
      waiters.push(wake);
      setTimeout(wake, 100);
    });
  }
  return running;
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
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits for a log line: the child writes it to its stdout pipe before it
 * answers on the socket, but we may read the socket first.
 */
export async function waitForLine(running: Running, match: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine | undefined> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(20)) {
    const found = running.lines.find(match);
    if (found) return found;
  }
  return undefined;
}
