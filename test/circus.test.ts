// chaussette under Circus, as the shipped examples/circus.ini configures it.
// Circus is not installable here, so test/fixtures/circus-standin.py plays
// circusd: it reads the same ini, binds the socket itself at whatever fd
// comes next, hands it to each process under that number with an empty
// environment, and stops processes with SIGTERM, then SIGKILL after
// graceful_timeout. The config is the example with only the paths (command,
// app, working_dir) and the port or socket path swapped for this machine's.
import t, { type Test } from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, cleanEnv, FIXTURES, freePort, onEvent, ROOT, type LogLine, waitUntil } from './helpers.js';
import { EventSource } from 'eventsource';
import { type LoadCounts, loadConnected, runLoad } from './load.js';

const STANDIN = join(FIXTURES, 'circus-standin.py');
const PID_APP = join(FIXTURES, 'apps', 'pid.mjs');
const SSE_APP = join(FIXTURES, 'apps', 'sse.mjs');
const EXAMPLE = readFileSync(join(ROOT, 'examples', 'circus.ini'), 'utf8');

t.setTimeout(120_000);

/** Replaces `from` once, and fails loudly if the example no longer has it. */
function swap(text: string, from: string | RegExp, to: string): string {
  const count = typeof from === 'string' ? text.split(from).length - 1 : (text.match(new RegExp(from, 'gm')) ?? []).length;
  if (count !== 1) throw new Error(`examples/circus.ini: expected ${String(from)} once, found it ${count} times`);
  return text.replace(from, to);
}

/** examples/circus.ini for this machine: a TCP port or a unix socket path. */
function exampleConfig(socket: { port: number } | { path: string }, edit: (ini: string) => string = (ini) => ini): string {
  for (const path of [process.execPath, CLI, PID_APP, ROOT]) if (/\s/.test(path)) throw new Error(`a space in ${path}`);
  let ini = swap(EXAMPLE, /^cmd = \/usr\/bin\/chaussette /m, `cmd = ${process.execPath} ${CLI} `);
  // The app first, chaussette's options after it, as the example (and many a Circus user) writes it.
  ini = swap(ini, / \/srv\/app\/server\.js --fd /, ` ${PID_APP} --fd `);
  ini = swap(ini, /^working_dir = \/srv\/app$/m, `working_dir = ${ROOT}`);
  if ('port' in socket) {
    ini = swap(ini, /^port = 8000$/m, `port = ${socket.port}`);
  } else {
    ini = swap(ini, /^host = .*\n/m, '');
    ini = swap(ini, /^port = .*\n/m, '');
    ini = swap(ini, /^# path = .*$/m, `path = ${socket.path}`);
  }
  return edit(ini);
}

interface Ready {
  ready: true;
  sockets: Record<string, { fd: number; address: string }>;
  pids: Record<string, number[]>;
}

/** The stand-in circusd, driven through its stdin/stdout command lines. */
class Circusd {
  readonly child: ChildProcess;
  /** Its stderr: its own event lines and everything the processes wrote. */
  readonly output: string[] = [];
  readonly exited: Promise<number>;
  private answers: string[] = [];
  private waiting: Array<(line: string) => void> = [];
  private spawned = new Set<number>();

  constructor(configPath: string) {
    this.child = spawn('python3', [STANDIN, configPath], { cwd: ROOT, env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 1))));
    lines(this.child.stdout!, (line) => {
      const wake = this.waiting.shift();
      if (wake) wake(line);
      else this.answers.push(line);
    });
    lines(this.child.stderr!, (line) => {
      this.output.push(line);
      const spawned = /^circus-standin: \w+: spawned pid (\d+)/.exec(line);
      if (spawned) this.spawned.add(Number(spawned[1]));
    });
  }

  /** chaussette's pino lines (each names its pid). */
  logs(pid?: number): LogLine[] {
    const parsed: LogLine[] = [];
    for (const line of this.output) {
      if (!line.startsWith('{')) continue;
      try {
        const log = JSON.parse(line) as LogLine;
        if (pid === undefined || log.pid === pid) parsed.push(log);
      } catch {
        // Not a log line.
      }
    }
    return parsed;
  }

  nextLine(timeoutMs: number): Promise<string> {
    const buffered = this.answers.shift();
    if (buffered !== undefined) return Promise.resolve(buffered);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== wake);
        reject(new Error(`no answer from the stand-in within ${timeoutMs} ms; its output:\n${this.output.join('\n')}`));
      }, timeoutMs);
      const wake = (line: string) => {
        clearTimeout(timer);
        resolve(line);
      };
      this.waiting.push(wake);
    });
  }

  async command<T = Record<string, unknown>>(command: string, timeoutMs = 60_000): Promise<T> {
    this.child.stdin!.write(`${command}\n`);
    const answer = JSON.parse(await this.nextLine(timeoutMs)) as T & { error?: string };
    if (answer.error) throw new Error(`${command}: ${answer.error}`);
    return answer;
  }

  /** Resolves once `pid` logged that it serves (it listens then). */
  async serving(pid: number, timeoutMs = 30_000): Promise<void> {
    await waitUntil(
      () => {
        if (this.logs(pid).some((log) => /^Using \S+ backend/.test(log.msg))) return true;
        if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the stand-in exited; output:\n${this.output.join('\n')}`);
        return false;
      },
      timeoutMs,
      () => `pid ${pid} to serve; output:\n${this.output.join('\n')}`,
      { wake: [onEvent(this.child.stderr!, 'data'), onEvent(this.child, 'exit')] },
    );
  }

  async quit(): Promise<{ answer: { stopped: Record<string, Record<string, number>> }; code: number }> {
    const answer = await this.command<{ stopped: Record<string, Record<string, number>> }>('quit');
    return { answer, code: await this.exited };
  }

  /** Teardown: a graceful quit if it is still running, then nothing left behind whatever happened. */
  async cleanup(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin!.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 40_000);
      await this.exited;
      clearTimeout(timer);
    }
    for (const pid of this.spawned) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void) {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
}

/** Writes the config, starts the stand-in and waits for its ready line. */
async function startCircusd(t: Test, ini: string): Promise<{ circusd: Circusd; ready: Ready; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-circus-'));
  const configPath = join(dir, 'circus.ini');
  writeFileSync(configPath, ini);
  const circusd = new Circusd(configPath);
  t.teardown(async () => {
    await circusd.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const ready = JSON.parse(await circusd.nextLine(30_000)) as Ready;
  return { circusd, ready, dir };
}

/** The variables a process really got, from /proc. */
function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).sort();
}

/** Says when a slow machine made a step outlast the load meant to cover it; a fact to read, not to assert. */
function reportTiming(t: Test, what: string, ms: number, loadMs: number) {
  t.comment(`${what} done ${ms} ms into a ${loadMs} ms load${ms > loadMs ? ' (slow machine: part of it ran after the load)' : ''}`);
}

function describeLoad(load: LoadCounts, labels: Record<string, string>): string {
  const perPid = Object.entries(load.pids)
    .map(([pid, count]) => `${pid}${labels[pid] ? ` (${labels[pid]})` : ''}: ${count}`)
    .join(', ');
  return `sent ${load.sent} (keep-alive ${load.keepAlive}, new connection ${load.newConnection}), ok ${load.ok}, failed ${load.failed}; per pid: ${perPid}`;
}

t.test('numprocesses = 3, cmd with the app before --fd: each chaussette serves the fd circusd bound, and all of them answer', async (t) => {
  const port = await freePort();
  const { circusd, ready } = await startCircusd(t, exampleConfig({ port }));
  const { fd, address } = ready.sockets.web!;
  t.comment(`circusd bound 127.0.0.1:${port} at fd ${fd}`);
  t.equal(address, `127.0.0.1:${port}`);
  t.ok(fd !== 0 && fd !== 3, `the socket is at an arbitrary fd (${fd}), not 0 or 3`);
  const pids = ready.pids.web!;
  t.equal(pids.length, 3, 'three processes');
  await Promise.all(pids.map((pid) => circusd.serving(pid)));
  for (const pid of pids) {
    t.ok(
      circusd.logs(pid).some((log) => log.msg === `Serving on fd ${fd} -> 127.0.0.1:${port}`),
      `pid ${pid} logs "Serving on fd ${fd} -> 127.0.0.1:${port}"`,
    );
    t.same(environOf(pid), ['NODE_ENV=production', 'PATH=/usr/local/bin:/usr/bin:/bin'], `pid ${pid} got [env:web] and nothing else`);
  }

  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  const listening = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  t.match(listening, new RegExp(`LISTEN\\s+\\d+\\s+${Math.max(2048, somaxconn)}\\s`), 'the backlog is circusd\'s 2048 or the system maximum, whichever is higher');

  // New connections only, so that every request is a fresh accept() on the shared socket.
  const counts: Record<string, number> = {};
  for (let round = 1; round <= 3 && !pids.every((pid) => counts[pid]); round++) {
    const load = await runLoad({ port }, 3000, 0, 6);
    t.comment(`round ${round}: ${describeLoad(load, {})}`);
    t.equal(load.failed, 0, 'no request failed', { errors: load.errors });
    for (const [pid, count] of Object.entries(load.pids)) counts[pid] = (counts[pid] ?? 0) + count;
  }
  for (const pid of pids) t.ok(counts[pid], `pid ${pid} answered ${counts[pid] ?? 0} requests`);
  t.same(Object.keys(counts).map(Number).sort(), [...pids].sort(), 'no one else answered');

  const { answer, code } = await circusd.quit();
  t.same(Object.values(answer.stopped.web!), [0, 0, 0], 'SIGTERM: every process drained and exited 0');
  t.equal(code, 0);
});

t.test('under load: restart the processes one by one, then all at once; nothing fails', async (t) => {
  const port = await freePort();
  const { circusd, ready } = await startCircusd(t, exampleConfig({ port }));
  const original = ready.pids.web!;
  await Promise.all(original.map((pid) => circusd.serving(pid)));
  const labels: Record<string, string> = Object.fromEntries(original.map((pid) => [pid, 'original']));

  const target = { port };

  // One by one, as `circusctl signal web PID 15` and the watcher's respawn do.
  let started = Date.now();
  const oneByOne = runLoad(target, 6000, 4, 4);
  await loadConnected(target);
  const replacements: number[] = [];
  for (const slot of [0, 1, 2]) {
    const step = await circusd.command<{ stopped: Record<string, number>; started: number }>(`restart-one ${slot}`);
    t.same(Object.values(step.stopped), [0], `restart-one ${slot}: pid ${Object.keys(step.stopped)[0]} drained and exited 0`);
    labels[step.started] = `replacement ${slot}`;
    replacements.push(step.started);
    // As an operator rolling a restart would: the next one once this one serves.
    await circusd.serving(step.started);
  }
  reportTiming(t, 'one-by-one restarts', Date.now() - started, 6000);
  const first = await oneByOne;
  t.comment(`one by one: ${describeLoad(first, labels)}`);
  t.equal(first.failed, 0, 'no request failed while restarting one by one', { errors: first.errors });
  t.ok(replacements.some((pid) => first.pids[pid]), 'replacement processes answered during that load');

  // All at once, as `circusctl restart web`: for a moment no process accepts
  // and new connections wait in the backlog of the socket circusd kept open.
  started = Date.now();
  const allAtOnce = runLoad(target, 4000, 4, 4);
  await loadConnected(target);
  const all = await circusd.command<{ stopped: Record<string, number>; started: number[] }>('restart');
  t.same(Object.values(all.stopped), [0, 0, 0], 'restart: the three processes drained and exited 0');
  for (const pid of all.started) labels[pid] = 'after restart';
  await Promise.all(all.started.map((pid) => circusd.serving(pid)));
  reportTiming(t, 'restart', Date.now() - started, 4000);
  const second = await allAtOnce;
  t.comment(`all at once: ${describeLoad(second, labels)}`);
  t.equal(second.failed, 0, 'no request failed while restarting all at once', { errors: second.errors });
  t.ok(all.started.some((pid) => second.pids[pid]), 'the new processes answered during that load');
  t.same(
    circusd.logs().filter((log) => log.level >= 40).map((log) => log.msg),
    [],
    'no warning or error logged (no drain hit its deadline)',
  );

  // Only the processes of the last start answer now.
  const after = await runLoad(target, 2000, 0, 4);
  t.comment(`after: ${describeLoad(after, labels)}`);
  t.equal(after.failed, 0);
  t.ok(Object.keys(after.pids).every((pid) => all.started.includes(Number(pid))), 'every answer comes from the new processes');

  const status = await circusd.command<Record<string, { exits: unknown[] }>>('status');
  t.same(status.web!.exits, [], 'no process exited unasked');
  t.equal((await circusd.quit()).code, 0);
});

t.test('an EventSource client follows a restart: its stream ends cleanly at the stop, and it reconnects to the next process', async (t) => {
  const port = await freePort();
  const ini = exampleConfig({ port }, (text) => swap(swap(text, PID_APP, SSE_APP), /^numprocesses = 3$/m, 'numprocesses = 1'));
  const { circusd, ready } = await startCircusd(t, ini);
  const [first] = ready.pids.web!;
  await circusd.serving(first!);

  // The eventsource package: the WHATWG EventSource on Node's fetch, which
  // reconnects after a stream ends or a connection fails, as browsers do.
  const events = new EventSource(`http://127.0.0.1:${port}/`);
  t.teardown(() => events.close());
  const seen = { opens: 0, errors: 0, pids: [] as number[] };
  events.onopen = () => seen.opens++;
  events.onerror = () => seen.errors++;
  events.onmessage = (event: MessageEvent<string>) => {
    const pid = Number(/from (\d+)$/.exec(event.data)?.[1]);
    if (seen.pids.at(-1) !== pid) seen.pids.push(pid);
  };
  await waitUntil(() => seen.pids.includes(first!), 10_000, () => `an event from pid ${first}: ${JSON.stringify(seen)}`);

  const asked = Date.now();
  const restart = await circusd.command<{ stopped: Record<string, number>; started: number[] }>('restart');
  const stopTook = Date.now() - asked;
  t.same(restart.stopped, { [first!]: 0 }, `pid ${first} drained and exited 0`);
  const [next] = restart.started;
  t.comment(`restart (SIGTERM to exit, then the next start) took ${stopTook} ms with the stream open`);
  t.ok(stopTook < 10_000, `the open stream did not hold the stop for the 25 s graceful timeout (${stopTook} ms)`);
  t.notOk(circusd.logs(first).some((log) => /Graceful timeout reached/.test(log.msg)), 'the stream was ended, not cut at the deadline');

  await waitUntil(() => seen.pids.includes(next!), 20_000, () => `an event from the next process ${next}: ${JSON.stringify(seen)}`);
  t.same(seen.pids, [first, next], 'events came from the old process, then from the new one');
  t.equal(seen.opens, 2, 'the client opened the stream twice: once, and once again after the restart');
  t.equal(events.readyState, EventSource.OPEN, 'and it is open now');
  events.close();
  t.equal((await circusd.quit()).code, 0);
});

t.test('copy_env = False and no [env:web]: chaussette starts with an empty environment', async (t) => {
  const port = await freePort();
  const ini = exampleConfig({ port }, (text) => swap(text, /^\[env:web\]\n(?:\w+ = .*\n)+/m, ''));
  const { circusd, ready } = await startCircusd(t, ini);
  const pids = ready.pids.web!;
  await Promise.all(pids.map((pid) => circusd.serving(pid)));
  for (const pid of pids) t.same(environOf(pid), [], `pid ${pid}: no variable at all, not even PATH or HOME`);
  const load = await runLoad({ port }, 1500, 0, 2);
  t.equal(load.failed, 0);
  t.ok(load.ok > 0, `answered ${load.ok} requests`);
  t.same(
    circusd.logs().filter((log) => log.level >= 40).map((log) => log.msg),
    [],
    'no warning or error logged',
  );
  const { answer, code } = await circusd.quit();
  t.same(Object.values(answer.stopped.web!), [0, 0, 0]);
  t.equal(code, 0);
});

t.test('a unix socket (path =): served, and a restart of one process loses nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-circus-unix-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'web.sock');
  const { circusd, ready } = await startCircusd(t, exampleConfig({ path }));
  const { fd } = ready.sockets.web!;
  t.comment(`circusd bound unix:${path} at fd ${fd}`);
  const original = ready.pids.web!;
  await Promise.all(original.map((pid) => circusd.serving(pid)));
  for (const pid of original) {
    t.ok(circusd.logs(pid).some((log) => log.msg === `Serving on fd ${fd} -> unix:${path}`), `pid ${pid} serves fd ${fd} -> unix:${path}`);
  }

  const loading = runLoad({ socket: path }, 6000, 4, 4);
  await loadConnected({ socket: path });
  const step = await circusd.command<{ stopped: Record<string, number>; started: number }>('restart-one 1');
  t.same(Object.values(step.stopped), [0], 'the stopped process exited 0');
  t.ok(existsSync(path), 'the socket file is still there: chaussette did not unlink what circusd bound');
  await circusd.serving(step.started);
  const load = await loading;
  t.comment(describeLoad(load, { ...Object.fromEntries(original.map((pid) => [pid, 'original'])), [step.started]: 'replacement' }));
  t.equal(load.failed, 0, 'no request failed', { errors: load.errors });

  t.equal((await circusd.quit()).code, 0);
  t.notOk(existsSync(path), 'circusd removes its socket file when it quits');
});

t.test('--fd 3 typed by hand while circusd put the socket elsewhere: a one-line error, exit 78', async (t) => {
  const port = await freePort();
  const ini = exampleConfig({ port }, (text) => swap(text, '--fd $(circus.sockets.web)', '--fd 3'));
  const { circusd, ready } = await startCircusd(t, ini);
  t.not(ready.sockets.web!.fd, 3, `the socket is at fd ${ready.sockets.web!.fd}`);
  // Each failed process is respawned until the flapping check (two exits
  // within a second) stops the watcher; wait for that or for three exits.
  let status: Record<string, { status: string; exits: Array<{ pid: number; code: number }> }> = {};
  await waitUntil(
    async () => {
      status = await circusd.command('status');
      return status.web!.status === 'stopped' || status.web!.exits.length >= 3;
    },
    30_000,
    () => `the watcher to stop or three exits: ${JSON.stringify(status)}`,
    { everyMs: 200 },
  );
  const { exits } = status.web!;
  t.comment(`watcher ${status.web!.status} after ${exits.length} exits`);
  t.ok(exits.length >= 2, `circusd saw the processes exit (${exits.length} exits)`);
  t.same([...new Set(exits.map((exit) => exit.code))], [78], 'every process exited 78 (EX_CONFIG)');
  const errors = circusd.output.filter((line) => line.startsWith('chaussette: '));
  t.comment(errors[0]);
  t.ok(errors.length >= exits.length, 'one error line per exit');
  t.ok(
    errors.every((line) => /^chaussette: ERR_FD_[A-Z_]+: fd 3 .*\(hint: .*--fd \$\(circus\.sockets\.NAME\).*\)$/.test(line)),
    'each is one line with an ERR_FD_ code, the fd and a hint',
  );
  t.equal((await circusd.quit()).code, 0);
});
