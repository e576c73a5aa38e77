// The library: serve(), listenTargets(), createNotifier() and
// registerBackend(), used as a program with its own entry point uses them,
// through the package's own name ('chaussette', as installed).
import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createNotifier, listenTargets, registerBackend, serve } from 'chaussette';
import { cleanEnv, FIXTURES, freePort, onEvent, request, ROOT, runToExit, serve as serveCli, waitUntil } from './helpers.js';
import { startReceiver } from './notify-receiver.js';

const ENTRY = join(FIXTURES, 'api', 'entry.mjs');
const TAGGED = join(FIXTURES, 'backends', 'tagged.mjs');

interface Event {
  event: string;
  [key: string]: unknown;
}

/** Runs a user's entry point under systemd-socket-activate, as a socket unit would start it. */
function startEntry(port: number, env: NodeJS.ProcessEnv) {
  const child = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '--fdname=web', '-E', 'NOTIFY_SOCKET', process.execPath, ENTRY], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Event[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline; (newline = buffered.indexOf('\n')) >= 0; ) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      try {
        events.push(JSON.parse(line) as Event);
      } catch {
        events.push({ event: 'text', line });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const onChange = [onEvent(child.stdout, 'data'), onEvent(child.stderr, 'data'), onEvent(child, 'exit')];
  return { child, events, exited, stderr: () => stderr, onChange };
}

t.test('serve() in a program of its own: the socket systemd handed over, READY=1, and a drain on SIGTERM', async (t) => {
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const port = await freePort();
  const entry = startEntry(port, { NOTIFY_SOCKET: receiver.address });
  t.teardown(() => entry.child.kill('SIGKILL'));
  await waitUntil(() => entry.stderr().includes('Listening on'), 5000, () => `systemd-socket-activate to listen: ${entry.stderr()}`, { wake: entry.onChange });
  const first = await request({ port, path: '/' });
  t.equal(first.status, 200);
  t.match(first.body, /^answered by \d+ after 0 ms\n$/);
  const serving = entry.events.find((event) => event.event === 'serving');
  t.match(serving, { listeners: [{ description: new RegExp(`^fd 3 \\(web\\) -> 127\\.0\\.0\\.1:${port}$`) }] }, 'it served fd 3, named web');
  const ready = await receiver.waitFor('READY', '1');
  t.match(ready.fields.STATUS, new RegExp(`^Serving 127\\.0\\.0\\.1:${port}`));

  const slow = request({ port, path: '/?ms=800' });
  await waitUntil(() => entry.events.some((event) => event.event === 'arrived' && event.url === '/?ms=800'), 5000, 'the slow request to arrive', {
    wake: entry.onChange,
  });
  entry.child.kill('SIGTERM');
  await receiver.waitFor('STOPPING', '1');
  const answer = await slow;
  t.match(answer.body, /after 800 ms/, 'the request in flight was answered');
  t.equal(await entry.exited, 0, 'the program exits by itself once serve() has stopped');
  t.match(entry.events.at(-1), { event: 'stopped', forced: 0 });
});

t.test('listenTargets(): what systemd handed this process, without changing anything', async (t) => {
  const env = { LISTEN_FDS: '2', LISTEN_PID: String(process.pid), LISTEN_FDNAMES: 'web:admin' };
  t.same(listenTargets({}, env).targets, [
    { kind: 'fd', fd: 3, source: 'systemd', name: 'web' },
    { kind: 'fd', fd: 4, source: 'systemd', name: 'admin' },
  ]);
  t.same(listenTargets({ fd: 'admin' }, env).targets, [{ kind: 'fd', fd: 4, source: 'systemd', name: 'admin' }]);
  t.equal(env.LISTEN_FDS, '2', 'the environment is left as it was');
  t.same(listenTargets({ fd: 0 }, {}).targets, [{ kind: 'fd', fd: 0, source: 'cli' }], 'Supervisor: fd 0');
  t.same(listenTargets({}, {}).targets, [{ kind: 'tcp', host: 'localhost', port: 8080 }], 'nothing handed over: the default address');
  const notOurs = listenTargets({}, { LISTEN_FDS: '1', LISTEN_PID: '1' });
  t.match(notOurs.warnings.join('\n'), /LISTEN_PID/, 'LISTEN_FDS meant for another process is said so');
  t.throws(() => listenTargets({ fd: 'web' }, {}), { code: 'ERR_FD_NAME_NO_SYSTEMD' });
  t.throws(() => listenTargets({ fd: 3, port: 80 }, {}), { code: 'ERR_USAGE_FD_AND_ADDRESS' });
});

t.test('createNotifier(): sd_notify messages reach NOTIFY_SOCKET', async (t) => {
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const notifier = await createNotifier({ env: { NOTIFY_SOCKET: receiver.address } });
  t.not(notifier.transport, 'none');
  notifier.notify({ STATUS: 'warming the cache', EXTEND_TIMEOUT_USEC: 5_000_000 });
  await notifier.settled();
  const message = await receiver.waitFor('STATUS', 'warming the cache');
  t.equal(message.fields.EXTEND_TIMEOUT_USEC, '5000000');
  const silent = await createNotifier({ env: {} });
  t.equal(silent.transport, 'none', 'without NOTIFY_SOCKET it does nothing');
});

t.test('serve() in this process: options checked like the command line, stop() drains, a Koa app and a factory', async (t) => {
  const { default: Koa } = await import('koa');
  const koa = new Koa();
  koa.use((ctx) => (ctx.body = { app: 'koa', path: ctx.path }));
  const quiet = { logLevel: 'silent' as const, signals: false, env: {} };
  const serving = await serve(koa, { ...quiet, host: '127.0.0.1', port: 0 });
  const port = Number(/:(\d+)$/.exec(serving.listeners[0]!.address)![1]);
  t.same(JSON.parse((await request({ port, path: '/k' })).body), { app: 'koa', path: '/k' });
  t.same(await serving.stop(), { forced: 0, elapsedMs: (await serving.stopped).elapsedMs });
  await t.rejects(request({ port, path: '/' }), 'stopped: nothing listens');

  const factory = (args: string[]) => (_req: unknown, res: { end(body: string): void }) => res.end(`made with ${args.join(' ')}\n`);
  const made = await serve(factory, { ...quiet, host: '127.0.0.1', port: 0, args: ['a', 'b'] });
  t.equal((await request({ port: Number(/:(\d+)$/.exec(made.listeners[0]!.address)![1]) })).body, 'made with a b\n');
  await made.stop();

  await t.rejects(serve(koa, { ...quiet, port: 70000 }), { code: 'ERR_USAGE_VALUE', message: /--port "70000" is not a port number/ });
  await t.rejects(serve(42, quiet), { code: 'ERR_APP_SHAPE' });
  await t.rejects(serve(koa, { ...quiet, backend: 'https' }), { code: 'ERR_USAGE_TLS' });
});

t.test('registerBackend(): a third-party backend, from a --require module, for the command and its workers', async (t) => {
  for (const extra of [[], ['--workers', '2']]) {
    const running = await serveCli(t, ['--require', TAGGED, '--backend', 'tagged', ...extra]);
    const answer = await request({ port: running.port() });
    t.equal(answer.body, 'Hello from chaussette\n');
    t.match(answer.headers['x-backend'], /^tagged by \d+$/, `served by the registered backend ${extra.join(' ')}`);
    t.ok(running.lines.some((line) => /^Using tagged backend/.test(line.msg)));
    t.equal(await running.stop(), 0);
  }
  const unknown = await runToExit(['--backend', 'tagged']);
  t.equal(unknown.code, 64, 'without the module the name is unknown');
  t.match(unknown.stderr, /ERR_BACKEND: backend "tagged" is not known; available: http, https, http2/);
});

t.test('registerBackend() in this process, then serve() with it', async (t) => {
  registerBackend({
    name: 'stamped',
    tls: 'none',
    createServer: (listener) =>
      createServer((req, res) => {
        res.setHeader('x-stamp', 'yes');
        listener(req, res);
      }),
  });
  const serving = await serve((_req: unknown, res: { end(body: string): void }) => res.end('ok\n'), {
    backend: 'stamped',
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    signals: false,
    env: {},
  });
  t.teardown(() => serving.stop());
  const answer = await request({ port: Number(/:(\d+)$/.exec(serving.listeners[0]!.address)![1]) });
  t.equal(answer.headers['x-stamp'], 'yes');
  t.equal(answer.body, 'ok\n');
});
