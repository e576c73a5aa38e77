// How evenly do N processes share one listening socket's requests?
//
//   node bench/spread.mjs          (BENCH_WORKERS=4, BENCH_SECONDS=5)
//
// One socket is bound here and handed as fd 3, the way a manager hands it,
// to three set-ups in the same run:
//   bare      N bare node:http processes, each accepting on the socket itself
//             (the kernel decides who gets a connection)
//   numprocs  N `chaussette --fd 3` processes, the same way (what Circus's
//             numprocesses and Supervisor's numprocs do)
//   workers   one `chaussette --workers N --fd 3`: the primary accepts and
//             hands each connection to the worker with the fewest pending
// wrk counts which pid answered each request. Printed per set-up and load:
// requests per second (and the ratio to bare), the per-process counts, and
// the spread as busiest/idlest and the busiest process's share.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const N = Number(process.env.BENCH_WORKERS ?? 4);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LOADS = [
  { name: 'keep-alive, 16 connections', connections: 16, headers: [] },
  { name: 'new connection per request, 16 at once', connections: 16, headers: ['-H', 'Connection: close'] },
  { name: 'new connection per request, 64 at once', connections: 64, headers: ['-H', 'Connection: close'] },
];
const CLI = join(ROOT, 'dist', 'bin.cjs');
const APP = join(ROOT, 'bench', 'pid-app.mjs');
const SETUPS = {
  bare: () => Array.from({ length: N }, () => [process.execPath, join(ROOT, 'bench', 'bare-pid.mjs')]),
  numprocs: () => Array.from({ length: N }, () => [process.execPath, CLI, '--log-level', 'warn', '--fd', '3', APP]),
  workers: () => [[process.execPath, CLI, '--log-level', 'warn', '--workers', String(N), '--fd', '3', APP]],
};

// wrk tallies the bodies (pids) in each thread; done() adds them up.
const COUNT_PIDS = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body) counts[body] = (counts[body] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for pid, n in pairs(thread:get("counts")) do total[pid] = (total[pid] or 0) + n end
  end
  for pid, n in pairs(total) do io.write("PID " .. pid .. " " .. n .. "\\n") end
  io.write("RPS " .. summary.requests / (summary.duration / 1e6) .. "\\n")
  io.write("ERRORS " .. (summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout) .. "\\n")
end
`;

async function bindSocket() {
  const server = createServer();
  await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  return server;
}

async function waitServing(port) {
  for (let i = 0; i < 100; i++) {
    const ok = spawnSync('curl', ['-s', '-o', '/dev/null', '-m', '1', `http://127.0.0.1:${port}/`]).status === 0;
    if (ok) return;
    await sleep(100);
  }
  throw new Error('the servers did not answer');
}

async function measure(setup, load, script) {
  const socket = await bindSocket();
  const { port } = socket.address();
  const children = SETUPS[setup]().map(([command, ...args]) =>
    spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit', socket._handle] }),
  );
  // The children hold the socket now; this process must not accept on it.
  socket.close();
  try {
    await waitServing(port);
    await sleep(setup === 'workers' ? 300 : 300); // let every process reach its accept loop
    spawnSync('wrk', ['-t1', '-c', String(load.connections), '-d', '1s', ...load.headers, `http://127.0.0.1:${port}/`]); // warm-up
    const out = spawnSync('wrk', ['-t1', '-c', String(load.connections), '-d', `${SECONDS}s`, '-s', script, ...load.headers, `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout;
    const counts = [...out.matchAll(/^PID (\d+) (\d+)$/gm)].map((m) => Number(m[2])).sort((a, b) => b - a);
    while (counts.length < N) counts.push(0);
    const rps = Number(/^RPS ([\d.]+)$/m.exec(out)?.[1] ?? 0);
    const errors = Number(/^ERRORS (\d+)$/m.exec(out)?.[1] ?? 0);
    return { rps, counts, errors };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'spread-'));
const script = join(dir, 'count-pids.lua');
writeFileSync(script, COUNT_PIDS);
const results = [];
console.log(`${N} processes on one socket, ${SECONDS} s per load, wrk -t1\n`);
for (const load of LOADS) {
  console.log(load.name);
  let bareRps;
  for (const setup of Object.keys(SETUPS)) {
    const { rps, counts, errors } = await measure(setup, load, script);
    bareRps ??= rps;
    const total = counts.reduce((a, b) => a + b, 0);
    const spread = counts.at(-1) === 0 ? 'inf' : (counts[0] / counts.at(-1)).toFixed(2);
    const share = ((100 * counts[0]) / Math.max(1, total)).toFixed(0);
    console.log(
      `  ${setup.padEnd(9)} ${rps.toFixed(0).padStart(6)} req/s (${(rps / bareRps).toFixed(2)} of bare)  per process ${counts.join(' / ')}  busiest/idlest ${spread}, busiest ${share}%${errors ? `, ${errors} errors` : ''}`,
    );
    results.push({ load: load.name, setup, rps, counts, errors });
  }
}
writeFileSync(join(ROOT, 'bench', 'spread-results.json'), `${JSON.stringify({ workers: N, seconds: SECONDS, results }, null, 2)}\n`);
