// The signal table (src/signals.ts): the pure decision for each role, phase
// and signal, then each row as a user meets it, with real processes, real
// signals (to a pid, and to a whole process group as a terminal or
// `timeout` sends them) and real requests in flight.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide, type SignalState } from '../src/signals.js';
import { cleanEnv, FIXTURES, freePort, onEvent, request, ROOT, runToExit, type Running, serve, startChaussette, waitForArrival, waitForLine, waitUntil } from './helpers.js';
import { startReceiver } from './notify-receiver.js';

const GATED = join(FIXTURES, 'apps', 'load-gate.mjs');

const starting: SignalState = { phase: 'starting', stopAsked: false, interrupts: 0 };
const serving: SignalState = { phase: 'serving', stopAsked: false, interrupts: 0 };
const stopping: SignalState = { phase: 'stopping', stopAsked: true, interrupts: 0 };

t.test('the table: what each signal does, by role and phase', async (t) => {
  t.same(decide('main', 'SIGTERM', serving), { do: 'stop' });
  t.same(decide('main', 'SIGTERM', starting), { do: 'stop' }, 'asked while starting: a stop too (the start ends where it is)');
  t.match(decide('main', 'SIGTERM', stopping), { do: 'note', level: 'warn', message: /^Received SIGTERM again: the drain goes on/ });
  t.same(decide('main', 'SIGINT', serving), { do: 'stop' });
  t.same(decide('main', 'SIGINT', { ...stopping, interrupts: 1 }), { do: 'halt' }, 'Ctrl-C twice');
  t.match(decide('main', 'SIGINT', stopping), { do: 'note' }, 'a first SIGINT after a SIGTERM: the drain goes on');
  t.same(decide('main', 'SIGQUIT', serving), { do: 'halt' });
  t.same(decide('main', 'SIGQUIT', starting), { do: 'halt' });
  t.same(decide('main', 'SIGHUP', serving), { do: 'reload' });
  t.match(decide('main', 'SIGHUP', starting), { do: 'note', level: 'info', message: 'Received SIGHUP while starting: nothing to reload; ignored' });
  t.match(decide('main', 'SIGHUP', stopping), { do: 'note', message: 'Received SIGHUP while stopping: nothing to reload; ignored' });
  t.same(decide('main', 'SIGUSR1', serving), { do: 'reopen-log' });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1'] as const) {
    for (const state of [starting, serving, stopping]) {
      t.match(decide('worker', signal, state), { do: 'note', level: 'debug' }, `a worker ignores ${signal} while ${state.phase}`);
    }
  }
  t.same(decide('library', 'SIGHUP', serving), { do: 'reload' });
});

function gate(t: Test): { path: string; open: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-gate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'open');
  return { path, open: () => writeFileSync(path, '') };
}

async function startGated(t: Test, args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  return serve(t, [...args, GATED], { env: cleanEnv(env), waitReady: false });
}

/** Waits until `count` processes print that they are loading the app. */
const loading = (running: Running, count = 1) =>
  waitUntil(
    () => running.lines.filter((line) => line.msg.startsWith('loading ')).length >= count,
    15_000,
    () => `${count} process(es) loading the app: ${JSON.stringify(running.lines.map((line) => line.msg))}`,
    { wake: running.onChange },
  );

const servingLine = (running: Running) => waitForLine(running, (line) => /^Using \S+ backend/.test(line.msg), 15_000);

t.test('SIGHUP while the app loads: logged and ignored, then it serves (a single process)', async (t) => {
  const { path, open } = gate(t);
  const running = await startGated(t, [], { LOAD_GATE: path });
  await loading(running);
  running.child.kill('SIGHUP');
  t.ok(await waitForLine(running, (line) => line.msg === 'Received SIGHUP while starting: nothing to reload; ignored'), 'said so in the log');
  open();
  t.ok(await servingLine(running), 'then serves');
  t.equal((await request({ port: running.port() })).status, 200);
  t.equal(await running.stop(), 0);
});

t.test('SIGHUP while the workers load: the primary logs it, no worker dies, then they serve', async (t) => {
  const { path, open } = gate(t);
  const running = await startGated(t, ['--workers', '2'], { LOAD_GATE: path });
  await loading(running, 2);
  running.child.kill('SIGHUP');
  t.ok(await waitForLine(running, (line) => line.msg === 'Received SIGHUP while starting: nothing to reload; ignored'));
  open();
  t.ok(await servingLine(running), 'both workers start serving');
  t.notOk(running.lines.some((line) => /exited/.test(line.msg)), 'no worker exited');
  t.equal((await request({ port: running.port() })).status, 200);
  t.equal(await running.stop(), 0);
});

t.test('a second SIGTERM is logged and the drain goes on: the request in flight is answered, exit 0', async (t) => {
  const running = await serve(t, [GATED]);
  const inFlight = request({ port: running.port(), path: '/?ms=1500' });
  await waitForArrival(running, '/?ms=1500');
  running.child.kill('SIGTERM');
  t.ok(await waitForLine(running, (line) => /^Received SIGTERM: draining/.test(line.msg)));
  running.child.kill('SIGTERM');
  t.ok(await waitForLine(running, (line) => line.level === 40 && /^Received SIGTERM again: the drain goes on/.test(line.msg)), 'logged as a warning');
  const answer = await inFlight;
  t.equal(answer.body, `${running.child.pid} after 1500 ms\n`, 'answered whole');
  t.equal(await running.exited, 0, 'exit 0: systemd counts the stop as clean');
});

t.test('SIGINT twice (Ctrl-C twice) stops at once: exit 130; SIGQUIT too: exit 131', async (t) => {
  for (const [signals, code] of [[['SIGINT', 'SIGINT'], 130], [['SIGQUIT'], 131]] as const) {
    const running = await serve(t, [GATED]);
    void request({ port: running.port(), path: '/?ms=30000', timeoutMs: 40_000 }).catch(() => {});
    await waitForArrival(running, '/?ms=30000');
    const [first, second] = signals;
    running.child.kill(first);
    if (second) {
      t.ok(await waitForLine(running, (line) => /^Received SIGINT: draining/.test(line.msg)), 'the first one drains');
      running.child.kill(second);
    }
    const sent = Date.now();
    t.equal(await running.exited, code, `${signals.join(', ')}: exit ${code}`);
    t.ok(Date.now() - sent < 10_000, 'at once, not when the 30 s request or the 30 s graceful timeout ends');
    t.ok(running.lines.some((line) => line.msg === `Received ${second ?? first}: stopping at once`));
  }
});

/** Whether something accepts connections on 127.0.0.1:port. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

t.test('SIGUSR1 without a log file never opens the inspector (one process, and a pool signalled as a group)', async (t) => {
  t.notOk(await accepts(9229), 'nothing on the inspector port before');
  for (const args of [[], ['--workers', '2']]) {
    const running = await serve(t, ['--log-level', 'debug', ...args]);
    process.kill(-running.child.pid!, 'SIGUSR1');
    t.ok(
      await waitForLine(running, (line) => /^Received SIGUSR1: (the log is not a file|there is no log file)/.test(line.msg)),
      `${args.join(' ') || 'one process'}: said at debug`,
    );
    t.equal((await request({ port: running.port() })).status, 200, 'still serving');
    t.notMatch(running.stderr(), /Debugger listening/, 'no inspector started');
    t.notOk(await accepts(9229), 'nothing listens on 127.0.0.1:9229');
    t.equal(await running.stop(), 0);
  }
});

t.test('--workers 2, signals to the whole process group: only the primary acts; requests in flight are answered', async (t) => {
  const running = await serve(t, ['--workers', '2', GATED]);
  const group = -running.child.pid!;
  // A hangup to the group (a terminal closed, GNU timeout): a reload, no worker killed by it.
  const acrossReload = request({ port: running.port(), path: '/?ms=1500' });
  await waitForArrival(running, '/?ms=1500');
  process.kill(group, 'SIGHUP');
  t.ok(await waitForLine(running, (line) => /^Reloaded: 2 new workers serving/.test(line.msg), 20_000), 'the primary reloaded');
  t.equal((await acrossReload).body.endsWith('after 1500 ms\n'), true, 'the request in flight across the reload was answered');
  // Ctrl-C: SIGINT to the group. The primary drains its workers; they do not act on it themselves.
  const acrossStop = request({ port: running.port(), path: '/?ms=1500' });
  await waitForArrival(running, '/?ms=1500', 2);
  process.kill(group, 'SIGINT');
  t.equal((await acrossStop).body.endsWith('after 1500 ms\n'), true, 'the request in flight at Ctrl-C was answered');
  t.equal(await running.exited, 0);
  // Once it exited: the primary may log a worker's death after "Reloaded", and the pipe lags besides.
  t.notOk(running.lines.some((line) => /exited \(killed by SIGHUP\)/.test(line.msg)), 'no worker died of the hangup');
});

/** The children of a process, from /proc. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

for (const workers of [[], ['--workers', '2']]) {
  t.test(`SIGTERM while the app loads${workers.length ? ' in 2 workers' : ''}: the start ends there, no READY=1, exit 0, nothing accepted`, async (t) => {
    const { path } = gate(t); // Never opened: the app would load forever.
    const receiver = await startReceiver();
    t.teardown(receiver.close);
    const port = await freePort();
    const running = await startChaussette(['--host', '127.0.0.1', '--port', String(port), ...workers, GATED], {
      env: cleanEnv({ LOAD_GATE: path, NOTIFY_SOCKET: receiver.address }),
      waitReady: false,
    });
    t.teardown(() => running.stop('SIGKILL'));
    await loading(running, workers.length ? 2 : 1);
    const workerPids = childrenOf(running.child.pid!);
    // Nothing listens while the app loads: a connection now would wait in a manager's socket for the next process.
    const refused = await new Promise<string>((resolve) => connect({ port, host: '127.0.0.1' }).on('connect', () => resolve('connected')).on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? '')));
    t.equal(refused, 'ECONNREFUSED', 'nothing listens yet');
    running.child.kill('SIGTERM');
    t.equal(await running.exited, 0, 'exit 0: a clean stop');
    t.ok(running.lines.some((line) => line.msg === 'Received SIGTERM while starting: stopping before serving'), 'said so');
    t.notOk(running.lines.some((line) => /^Serving on/.test(line.msg)), 'never listened');
    const stopping = await receiver.waitFor('STOPPING', '1');
    t.equal(stopping.fields.STATUS, 'Stopped while starting (SIGTERM): nothing was served');
    t.notOk(receiver.messages.some((message) => message.fields.READY === '1'), 'no READY=1, ever');
    await waitUntil(() => !workerPids.some(alive), 10_000, () => `the workers to be gone: ${workerPids.filter(alive).join(', ')}`);
    t.equal(workerPids.length, workers.length ? 2 : 0);
  });
}

for (const [app, what] of [
  ['factory-never-settles.mjs', 'a factory whose promise never settles'],
  ['await-never-settles.mjs', 'a top-level await that never settles'],
]) {
  for (const workers of [[], ['--workers', '2']]) {
    t.test(`${what}${workers.length ? ', in 2 workers' : ''}: one line and exit 70, not a silent exit 0`, async (t) => {
      const { code, stderr } = await runToExit(['--host', '127.0.0.1', '--port', '0', ...workers, join(FIXTURES, 'apps', app!)], { timeoutMs: 20_000 });
      t.equal(code, 70);
      t.match(stderr, /^chaussette: ERR_START_NEVER_SETTLED: the start never finished: a promise it awaits .* never settled/m);
      t.equal(stderr.trim().split('\n').length, 1, 'one line');
    });
  }
}

t.test('workers leave by themselves when the primary is killed while they load the app', async (t) => {
  const { path } = gate(t); // Never opened: they are still loading when their primary dies.
  const running = await startGated(t, ['--workers', '2'], { LOAD_GATE: path });
  await loading(running, 2);
  const workers = childrenOf(running.child.pid!);
  t.equal(workers.length, 2, 'two workers, loading');
  t.teardown(() => workers.forEach((pid) => alive(pid) && process.kill(pid, 'SIGKILL')));
  running.child.kill('SIGKILL');
  await waitUntil(() => !workers.some(alive), 10_000, () => `the workers to leave; alive: ${workers.filter(alive).join(', ')}`).catch(() => undefined);
  for (const pid of workers) t.notOk(alive(pid), `worker ${pid} is gone, not left running under PID 1`);
});

t.test('an uncaught exception while the app loads: one line and exit 70, not a stack', async (t) => {
  const { path } = gate(t);
  const running = await startGated(t, [], { LOAD_GATE: path, LOAD_THROW: 'boom while loading' });
  t.equal(await running.exited, 70);
  t.equal(running.stderr(), 'chaussette: ERR_INTERNAL: boom while loading\n');
});

t.test("the library's serve(): once stopped, its signal handlers are gone", async (t) => {
  const child = spawn(process.execPath, [join(FIXTURES, 'api', 'stop-then-wait.mjs')], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await waitUntil(() => out.includes('"stopped"'), 10_000, () => `the program to say it stopped: ${out}`, { wake: onEvent(child.stdout, 'data') });
  child.kill('SIGTERM');
  t.equal(await exited, 'SIGTERM', 'SIGTERM now ends the program, as it would without chaussette');
});
