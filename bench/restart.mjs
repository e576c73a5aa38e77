// What does a restart cost, in time and in failed requests, and what does
// --drain-linger add to it?
//
//   node bench/restart.mjs                 (BENCH_ROUNDS=5)
//   BENCH_BEFORE=/path/to/other/dist/bin.cjs node bench/restart.mjs
//
// A restart as systemd's `systemctl restart` and Circus's `restart` do it:
// SIGTERM to the serving process, wait for it to exit, start the next one on
// the same socket. The socket is bound once, by a small Python holder that
// puts it at fd 3 and execs this script again: Node never polls that fd, so
// between the two processes no one accepts and new connections wait in the
// backlog, as they do in the manager's socket.
//
// The load never resends: 4 keep-alive GET clients (http.Agent, Node's
// default since 19), 2 keep-alive POST clients and 2 clients opening a new
// connection per request, each one request at a time, pausing a random 0 to
// BENCH_THINK_MS (20) ms between two (a client with no pause always has a
// request in flight, so its connection is never quiet and a drain never
// races it). Every error counts as failed. Measured per subject, quiet (no load) and loaded:
//   stop      SIGTERM to exit of the old process
//   restart   SIGTERM to the first answer from the new one
// Subjects: chaussette with --drain-linger 0, 0.25 (the default) and 1; with
// BENCH_BEFORE, another build of chaussette (say, the commit before a drain
// change) with its defaults.

import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(ROOT, 'dist', 'bin.cjs');
const APP = join(ROOT, 'bench', 'pid-app.mjs');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LOAD_BEFORE_MS = 1000;
const LOAD_AFTER_MS = 1000;
const THINK_MS = Number(process.env.BENCH_THINK_MS ?? 20);

const SUBJECTS = [
  ...(process.env.BENCH_BEFORE ? [{ name: 'before (BENCH_BEFORE)', command: [process.env.BENCH_BEFORE] }] : []),
  { name: 'chaussette --drain-linger 0', command: [CLI, '--drain-linger', '0'] },
  { name: 'chaussette (--drain-linger 0.25)', command: [CLI] },
  { name: 'chaussette --drain-linger 1', command: [CLI, '--drain-linger', '1'] },
];

if (process.env.BENCH_RESTART_PORT) await main(Number(process.env.BENCH_RESTART_PORT));
else holdSocketThenRerun();

/** Binds 127.0.0.1:0 in Python, dups it to fd 3, and execs this script with the port in the environment. */
function holdSocketThenRerun() {
  const holder = `
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4096)
os.dup2(s.fileno(), 3)
# The socket may be fd 3 already, and Python makes its sockets close-on-exec.
os.set_inheritable(3, True)
os.environ["BENCH_RESTART_PORT"] = str(s.getsockname()[1])
os.execv(sys.argv[1], sys.argv[1:])
`;
  const child = spawn('python3', ['-c', holder, process.execPath, fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
}

async function main(port) {
  console.log(`restart on 127.0.0.1:${port}, ${ROUNDS} rounds per subject: quiet, idle connections, loaded\n`);
  const rows = [];
  for (const subject of SUBJECTS) {
    const quiet = [];
    const idle = [];
    const loaded = [];
    let sent = 0;
    let failed = 0;
    const errors = new Set();
    for (let round = 0; round < ROUNDS; round++) {
      quiet.push(await restartOnce(subject, port, 'quiet'));
      idle.push(await restartOnce(subject, port, 'idle'));
      const trial = await restartOnce(subject, port, 'loaded');
      loaded.push(trial);
      sent += trial.sent;
      failed += trial.failed;
      for (const error of trial.errors) errors.add(error);
    }
    const median = (list, key) => list.map((trial) => trial[key]).sort((a, b) => a - b)[list.length >> 1];
    rows.push({
      subject: subject.name,
      'quiet stop ms': median(quiet, 'stopMs'),
      'quiet restart ms': median(quiet, 'restartMs'),
      'idle stop ms': median(idle, 'stopMs'),
      'idle restart ms': median(idle, 'restartMs'),
      'loaded stop ms': median(loaded, 'stopMs'),
      'loaded restart ms': median(loaded, 'restartMs'),
      sent,
      failed,
      errors: [...errors].join(' ') || '-',
    });
    console.log(`${subject.name}: done`);
  }
  console.log();
  console.table(rows);
}

/** Starts a process, then restarts it: with no connection, with idle ones, or under load; measures. */
async function restartOnce(subject, port, mode) {
  let current = await start(subject, port);
  const load = mode === 'loaded' ? startLoad(port) : undefined;
  if (load) {
    await load.firstAnswers;
    await sleep(LOAD_BEFORE_MS); // a load running, as a restart meets it in production
  }
  const idlers = mode === 'idle' ? Array.from({ length: 4 }, () => new Agent({ keepAlive: true, maxSockets: 1 })) : [];
  await Promise.all(idlers.map((agent) => get(port, agent, 'GET')));

  const signalled = performance.now();
  current.child.kill('SIGTERM');
  const code = await current.exited;
  const stopMs = performance.now() - signalled;
  if (code !== 0) throw new Error(`${subject.name} exited ${code} at SIGTERM`);
  current = await start(subject, port);
  const restartMs = performance.now() - signalled;

  for (const agent of idlers) agent.destroy();
  if (load) await sleep(LOAD_AFTER_MS);
  const counts = load ? await load.stop() : { sent: 0, failed: 0, errors: [] };
  current.child.kill('SIGTERM');
  await current.exited;
  return { stopMs: Math.round(stopMs), restartMs: Math.round(restartMs), ...counts };
}

/** Spawns the subject on fd 3 and resolves once it answers. */
async function start(subject, port) {
  const child = spawn(process.execPath, [...subject.command, '--log-level', 'warn', '--fd', '3', APP], {
    stdio: ['ignore', 'ignore', 'inherit', 3],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  // Answers come from the old process until it stops accepting; ask until
  // this one's pid answers.
  const agent = new Agent({ keepAlive: false });
  for (;;) {
    const answer = await get(port, agent, 'GET').catch(() => undefined);
    if (answer === String(child.pid)) break;
    if (child.exitCode !== null) throw new Error(`${subject.name} exited ${child.exitCode} before serving`);
    await sleep(5);
  }
  return { child, exited };
}

function get(port, agent, method) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, agent, method, path: '/', headers: method === 'POST' ? { 'content-type': 'text/plain' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => resolve(body)).on('error', reject);
    });
    req.on('error', reject);
    req.end(method === 'POST' ? 'a body no client may send twice' : undefined);
  });
}

/** The clients: each sends its next request once the last is answered, and never resends. */
function startLoad(port) {
  const clients = [
    ...Array.from({ length: 4 }, () => ({ agent: new Agent({ keepAlive: true, maxSockets: 1 }), method: 'GET' })),
    ...Array.from({ length: 2 }, () => ({ agent: new Agent({ keepAlive: true, maxSockets: 1 }), method: 'POST' })),
    ...Array.from({ length: 2 }, () => ({ agent: new Agent({ keepAlive: false }), method: 'GET' })),
  ];
  let running = true;
  const counts = { sent: 0, failed: 0, errors: [] };
  let answered = 0;
  let onFirst;
  const firstAnswers = new Promise((resolve) => (onFirst = resolve));
  const loops = clients.map(async ({ agent, method }) => {
    while (running) {
      counts.sent++;
      try {
        await get(port, agent, method);
        if (++answered === clients.length) onFirst();
      } catch (error) {
        counts.failed++;
        if (!counts.errors.includes(error.code)) counts.errors.push(error.code ?? error.message);
      }
      await sleep(Math.random() * THINK_MS);
    }
    agent.destroy();
  });
  return {
    firstAnswers,
    async stop() {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}
