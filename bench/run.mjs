// Benchmark: chaussette's built-in hello app against a bare node:http server
// that answers the same bytes (bench/bare-hello.mjs). Both get their socket
// the same way, as fd 3 from systemd-socket-activate, so the only difference
// measured is what chaussette does around node:http.
//
//   node bench/run.mjs          (or: npm run bench)
//
// Env: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP (1), BENCH_COLD (15),
// BENCH_RSS (5). Results also go to bench/results.json.

import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS_FILE = join(BENCH_DIR, 'results.json');
const ACTIVATE = '/usr/bin/systemd-socket-activate';

const config = {
  rounds: intEnv('BENCH_ROUNDS', 3, 1),
  seconds: intEnv('BENCH_SECONDS', 5, 1),
  warmup: intEnv('BENCH_WARMUP', 1, 0),
  cold: intEnv('BENCH_COLD', 15, 1),
  rss: intEnv('BENCH_RSS', 5, 1),
  // One wrk thread against one Node thread: on 2 cores each gets its own.
  threads: 1,
  connections: 50,
};

// The same Node binary runs both servers and this script.
const SERVERS = {
  bare: { label: 'bare node:http', script: 'bench/bare-hello.mjs', args: [] },
  chaussette: { label: 'chaussette', script: 'dist/bin.cjs', args: ['--log-level', 'warn'] },
};
const ORDER = ['bare', 'chaussette'];

const GOALS = {
  keepAliveRps: { op: '>=', ratio: 0.97 },
  keepAliveP99: { op: '<=', ratio: 1.1 },
  closeRps: { op: '>=', ratio: 0.97 },
  closeP99: { op: '<=', ratio: 1.1 },
  // Server CPU time per request: the noise-resistant form of the throughput
  // goal (on a shared VM, throughput swings 2x between runs; CPU per request
  // barely moves). 1 / 0.97 = 1.03.
  keepAliveCpu: { op: '<=', ratio: 1.03 },
  closeCpu: { op: '<=', ratio: 1.03 },
  coldStartMs: { op: '<=', ratio: 1.35 },
  idleRssMb: { op: '<=', ratio: 1.2 },
};

// ---------------------------------------------------------------------------
// Child process bookkeeping: every process we start is in here until it is
// reaped, so that any way out of this script (normal end, error, Ctrl-C,
// watchdog) kills what is left.

const live = new Set(); // { pid, group: boolean }
const groups = new Set(); // every process group we created, for the final check

function track(child, group) {
  const entry = { pid: child.pid, group };
  live.add(entry);
  child.once('exit', () => live.delete(entry));
  return entry;
}

function killAllSync() {
  for (const { pid, group } of live) {
    try {
      process.kill(group ? -pid : pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function installExitHandlers(deadlineMs) {
  process.on('exit', killAllSync);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping servers and exiting`);
      killAllSync();
      process.exit(code);
    });
  }
  // Bound the whole run: a hung server or wrk must not hang the bench.
  setTimeout(() => {
    console.error(`bench: gave up after ${Math.round(deadlineMs / 1000)} s (something hung)`);
    killAllSync();
    process.exit(1);
  }, deadlineMs).unref();
}

// ---------------------------------------------------------------------------
// Small helpers

function intEnv(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    console.error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return value;
}

function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function log(message) {
  process.stderr.write(`${message}\n`);
}

// ---------------------------------------------------------------------------
// Prerequisites

function hasWrk() {
  return spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0;
}

function ensureWrk() {
  if (hasWrk()) return;
  log('wrk not found: installing it with apt-get (needs root and the Debian repos)');
  const install = spawnSync('sh', ['-c', 'apt-get update && apt-get install -y wrk'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 300_000,
  });
  if (install.status !== 0 || !hasWrk()) {
    console.error('bench: wrk is required and could not be installed; install it with `apt-get install wrk` and retry');
    process.exit(1);
  }
}

function checkPrerequisites() {
  if (!existsSync(ACTIVATE)) {
    console.error(`bench: ${ACTIVATE} is required (Debian package systemd)`);
    process.exit(1);
  }
  if (!existsSync(join(ROOT, SERVERS.chaussette.script))) {
    console.error('bench: dist/bin.cjs is missing; run `npm run build` first');
    process.exit(1);
  }
  ensureWrk();
}

// ---------------------------------------------------------------------------
// Networking

// A port nobody uses right now: bind port 0, read it, release it. Each server
// instance gets a fresh one, so no instance sees another's TIME_WAIT sockets.
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// One GET on a fresh connection; resolves with the status once the whole
// response has arrived.
function get(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
      res.once('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------
// Servers under systemd-socket-activate

function startServer(name) {
  return freePort().then((port) => {
    const { script, args } = SERVERS[name];
    const cmd = [process.execPath, script, ...args];
    // detached: its own process group, so one kill(-pid) reaches everything
    // and a Ctrl-C in the terminal does not race our own cleanup.
    const child = spawn(ACTIVATE, ['-l', `127.0.0.1:${port}`, ...cmd], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child, true);
    groups.add(child.pid);
    const server = { name, port, child, pid: child.pid, output: '', exit: null };
    // Keep the pipes drained (a full pipe would block the server) and the
    // tail of what it said, for error messages.
    const keep = (chunk) => {
      server.output = (server.output + chunk).slice(-4000);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    server.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve((server.exit = { code, signal })));
    });
    child.once('error', (error) => {
      server.exit = { code: null, signal: null, error };
    });
    return server;
  });
}

// systemd-socket-activate prints "Listening on ..." once its socket is bound;
// from then on connections queue in the backlog until the server accepts.
function waitListening(server, timeoutMs = 10_000) {
  const seen = () => /Listening on /.test(server.output);
  return withTimeout(
    new Promise((resolve, reject) => {
      if (seen()) return resolve();
      const onData = () => {
        if (seen()) done(resolve);
      };
      const onExit = () => done(() => reject(new Error(`${server.name} exited before listening:\n${server.output}`)));
      const done = (settle) => {
        server.child.stderr.off('data', onData);
        server.child.off('exit', onExit);
        settle();
      };
      server.child.stderr.on('data', onData);
      server.child.once('exit', onExit);
    }),
    timeoutMs,
    `${server.name}: "Listening on" from systemd-socket-activate`,
  );
}

// The first connection makes systemd-socket-activate exec the server; retry
// until a 200 comes back.
async function waitReady(server, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (server.exit) throw new Error(`${server.name} exited (${JSON.stringify(server.exit)}):\n${server.output}`);
    try {
      const status = await get(server.port, Math.max(100, deadline - Date.now()));
      if (status === 200) return;
      lastError = new Error(`status ${status}`);
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`${server.name} not ready within ${timeoutMs} ms (${lastError?.message}):\n${server.output}`);
}

async function launch(name) {
  const server = await startServer(name);
  await waitListening(server);
  await waitReady(server);
  return server;
}

// SIGTERM to the group, as a process manager would; SIGKILL if it does not
// exit in time. Resolves with how it exited.
async function stopServer(server) {
  if (!server.exit) {
    signalGroup(server.pid, 'SIGTERM');
    const exited = await Promise.race([server.exited, sleep(5000).then(() => null)]);
    if (!exited) {
      log(`  ${server.name} (pid ${server.pid}) ignored SIGTERM for 5 s: killing it`);
      signalGroup(server.pid, 'SIGKILL');
      await withTimeout(server.exited, 5000, `${server.name} exit after SIGKILL`);
    }
  }
  return server.exit;
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

// The pid systemd-socket-activate was spawned as is the server itself after
// its exec; check that, so RSS is read from the right process.
function serverRssKb(server) {
  const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0');
  if (cmdline[0] !== process.execPath || !cmdline.includes(SERVERS[server.name].script)) {
    throw new Error(`pid ${server.pid} is not the ${server.name} server: ${cmdline.join(' ')}`);
  }
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${server.pid}/status`);
  return Number(match[1]);
}

/** The server's user + system CPU time so far, in clock ticks (1/100 s). */
function serverCpuTicks(server) {
  const fields = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the whole line)
}

/** wrk against a server, with the server's CPU microseconds per request. */
async function loadWithCpu(server, options) {
  const before = serverCpuTicks(server);
  const result = await runWrk(server.port, config.seconds, options);
  const ticks = serverCpuTicks(server) - before;
  return { ...result, cpuUsPerRequest: result.requests ? (ticks * 10_000) / result.requests : NaN };
}

// ---------------------------------------------------------------------------
// wrk

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseWrk(text) {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(text);
  if (!rps || !p99) throw new Error(`could not parse wrk output:\n${text}`);
  const requests = /(\d+) requests in/.exec(text);
  const socketErrors = /Socket errors: (.*)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    rps: Number(rps[1]),
    p99Ms: Number(p99[1]) * UNIT_MS[p99[2]],
    requests: requests ? Number(requests[1]) : null,
    socketErrors: socketErrors ? socketErrors[1].trim() : null,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

function runWrk(port, seconds, { close = false } = {}) {
  const args = [`-t${config.threads}`, `-c${config.connections}`, `-d${seconds}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  return new Promise((resolve, reject) => {
    const child = execFile('wrk', args, { timeout: (seconds + 15) * 1000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`wrk ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
      try {
        resolve(parseWrk(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
    track(child, false);
  });
}

// ---------------------------------------------------------------------------
// The three measurements

// Throughput and p99: servers take turns (bare, chaussette, bare, ...), so
// any drift of the machine over the run hits both alike. Each turn is a fresh
// instance, warmed up (JIT) with a short run that is not counted.
async function measureLoad() {
  const rounds = [];
  for (let round = 1; round <= config.rounds; round++) {
    for (const name of ORDER) {
      const server = await launch(name);
      try {
        if (config.warmup > 0) await runWrk(server.port, config.warmup);
        const keepAlive = await loadWithCpu(server, {});
        const close = await loadWithCpu(server, { close: true });
        rounds.push({ round, server: name, keepAlive, close });
        warnIfErrors(name, 'keep-alive', keepAlive);
        warnIfErrors(name, 'close', close);
        log(`  round ${round} ${name.padEnd(10)} keep-alive ${fmtRps(keepAlive.rps)} req/s p99 ${fmtMs(keepAlive.p99Ms)} ms | close ${fmtRps(close.rps)} req/s p99 ${fmtMs(close.p99Ms)} ms`);
      } finally {
        const exit = await stopServer(server);
        checkCleanExit(server, exit);
      }
    }
  }
  return rounds;
}

// Cold start: from the request to its 200 while systemd-socket-activate
// already holds the socket, i.e. exec + Node startup + app load + listen +
// the first response, which is what a socket-activated service's first
// client waits for.
async function measureColdStart() {
  const samples = [];
  for (let i = 1; i <= config.cold; i++) {
    for (const name of ORDER) {
      const server = await startServer(name);
      try {
        await waitListening(server);
        const start = performance.now();
        const status = await get(server.port, 15_000);
        const ms = performance.now() - start;
        if (status !== 200) throw new Error(`${name}: cold start answered ${status}`);
        samples.push({ run: i, server: name, ms });
      } finally {
        await stopServer(server);
      }
    }
  }
  log(`  cold start medians: ${ORDER.map((n) => `${n} ${fmtMs(median(pick(samples, n, 'ms')))} ms`).join(', ')}`);
  return samples;
}

// Idle RSS: a server that has served a few requests and then sat idle ~1 s.
async function measureIdleRss() {
  const samples = [];
  for (let i = 1; i <= config.rss; i++) {
    for (const name of ORDER) {
      const server = await launch(name);
      try {
        for (let r = 0; r < 10; r++) await get(server.port, 5000);
        await sleep(1000);
        samples.push({ run: i, server: name, mb: serverRssKb(server) / 1024 });
      } finally {
        await stopServer(server);
      }
    }
  }
  log(`  idle RSS medians: ${ORDER.map((n) => `${n} ${median(pick(samples, n, 'mb')).toFixed(1)} MB`).join(', ')}`);
  return samples;
}

// A hello server has no reason to fail a request: flag it if one did.
function warnIfErrors(name, mode, result) {
  if (result.non2xx > 0) log(`  warning: ${name} ${mode}: ${result.non2xx} non-2xx responses`);
  if (result.socketErrors) log(`  warning: ${name} ${mode}: socket errors: ${result.socketErrors}`);
}

// Both servers promise to exit 0 on SIGTERM; say so when one does not.
function checkCleanExit(server, exit) {
  if (exit && exit.code !== 0) {
    log(`  warning: ${server.name} exited with ${JSON.stringify(exit)} after SIGTERM:\n${server.output}`);
  }
}

// TIME_WAIT entries in /proc/net/tcp{,6} (state 06, 4th field).
function countTimeWait() {
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim().split(/\s+/, 4)[3] === '06') count++;
    } catch {
      // no such table
    }
  }
  return count;
}

// A bench run just before this one (its close-mode rounds) leaves TIME_WAIT
// sockets that slow chaussette's startup, which reads /proc/net/tcp. Wait for
// them to expire (60 s on Linux), so that back-to-back runs measure alike.
async function waitForQuietTcpTable(limit = 1000, maxMs = 65_000) {
  const deadline = Date.now() + maxMs;
  let count = countTimeWait();
  if (count > limit) log(`waiting up to ${maxMs / 1000} s for ${count} TIME_WAIT sockets to expire`);
  while (count > limit && Date.now() < deadline) {
    await sleep(2000);
    count = countTimeWait();
  }
  if (count > limit) log(`  warning: still ${count} TIME_WAIT sockets; cold start and RSS may be inflated`);
  return count;
}

// After the run: no process may be left in any group we created.
function leftovers() {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the ")" that ends the command name: state ppid pgrp ...
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (groups.has(pgrp)) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

// ---------------------------------------------------------------------------
// Report

function pick(samples, server, key) {
  return samples.filter((s) => s.server === server).map((s) => s[key]);
}

function fmtRps(value) {
  return Math.round(value).toString().padStart(6);
}

function fmtMs(value) {
  return value.toFixed(2);
}

function summarize(load, cold, rss) {
  const metric = (key, label, unit, values, format) => {
    const bare = median(values('bare'));
    const chaussette = median(values('chaussette'));
    const ratio = chaussette / bare;
    const goal = GOALS[key];
    const ok = goal.op === '>=' ? ratio >= goal.ratio : ratio <= goal.ratio;
    return { key, label, unit, bare, chaussette, ratio, goal: `${goal.op} ${goal.ratio}`, ok, format };
  };
  const loadOf = (mode, field) => (name) => load.filter((r) => r.server === name).map((r) => r[mode][field]);
  return [
    metric('keepAliveRps', 'keep-alive throughput', 'req/s', loadOf('keepAlive', 'rps'), (v) => Math.round(v).toString()),
    metric('keepAliveP99', 'keep-alive p99 latency', 'ms', loadOf('keepAlive', 'p99Ms'), fmtMs),
    metric('closeRps', 'close throughput', 'req/s', loadOf('close', 'rps'), (v) => Math.round(v).toString()),
    metric('closeP99', 'close p99 latency', 'ms', loadOf('close', 'p99Ms'), fmtMs),
    metric('keepAliveCpu', 'keep-alive CPU per request', 'us', loadOf('keepAlive', 'cpuUsPerRequest'), (v) => v.toFixed(1)),
    metric('closeCpu', 'close CPU per request', 'us', loadOf('close', 'cpuUsPerRequest'), (v) => v.toFixed(1)),
    metric('coldStartMs', 'cold start', 'ms', (name) => pick(cold, name, 'ms'), fmtMs),
    metric('idleRssMb', 'idle RSS', 'MB', (name) => pick(rss, name, 'mb'), (v) => v.toFixed(1)),
  ];
}

function table(rows) {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  // Numbers right-aligned, words left-aligned.
  const align = (cell, width) => (/^[\d.]+$/.test(cell) ? cell.padStart(width) : cell.padEnd(width));
  const line = (row) => row.map((cell, col) => align(cell, widths[col])).join(' | ').trimEnd();
  const [head, ...body] = rows;
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

function printReport(metrics, load, cold, rss) {
  console.log(`\nchaussette vs bare node:http, hello app on fd 3 from systemd-socket-activate`);
  console.log(`wrk -t${config.threads} -c${config.connections} -d${config.seconds}s, ${config.rounds} alternating rounds; cold start x${config.cold}; idle RSS x${config.rss}; medians\n`);
  console.log(
    table([
      ['metric', 'bare node:http', 'chaussette', 'ratio', 'goal', 'ok?'],
      ...metrics.map((m) => [`${m.label} (${m.unit})`, m.format(m.bare), m.format(m.chaussette), m.ratio.toFixed(3), m.goal, m.ok ? 'yes' : 'NO']),
    ]),
  );
  const met = metrics.filter((m) => m.ok).length;
  console.log(`\n${met} of ${metrics.length} goals met (ratio = chaussette / bare)`);

  console.log('\nper round (req/s, p99 ms):');
  console.log(
    table([
      ['round', 'server', 'keep-alive req/s', 'keep-alive p99', 'close req/s', 'close p99', 'socket errors (close)'],
      ...load.map((r) => [String(r.round), r.server, String(Math.round(r.keepAlive.rps)), fmtMs(r.keepAlive.p99Ms), String(Math.round(r.close.rps)), fmtMs(r.close.p99Ms), r.close.socketErrors ?? 'none']),
    ]),
  );
  // The spread shows how much of a ratio the machine's own noise could explain.
  console.log('\nspread over rounds (min..max):');
  for (const [mode, field, format] of [['keepAlive', 'rps', Math.round], ['keepAlive', 'p99Ms', fmtMs], ['close', 'rps', Math.round], ['close', 'p99Ms', fmtMs]]) {
    const spread = ORDER.map((name) => {
      const values = load.filter((r) => r.server === name).map((r) => r[mode][field]);
      return `${name} ${format(Math.min(...values))}..${format(Math.max(...values))}`;
    });
    console.log(`  ${mode} ${field}: ${spread.join(', ')}`);
  }
  for (const name of ORDER) {
    console.log(`\ncold start ${name} (ms): ${pick(cold, name, 'ms').map(fmtMs).join(' ')}`);
    console.log(`idle RSS ${name} (MB): ${pick(rss, name, 'mb').map((v) => v.toFixed(1)).join(' ')}`);
  }
}

function writeResults(metrics, load, cold, rss, startedAt, timeWaitBefore) {
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].trim();
  const results = {
    date: startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    environment: { node: process.version, wrk: wrkVersion, cpus: os.cpus().length, kernel: os.release(), loadAverageAtStart, loadAverageAtEnd: os.loadavg() },
    // TIME_WAIT sockets when cold start and RSS were measured (see waitForQuietTcpTable).
    tcpTimeWaitAtColdStart: timeWaitBefore,
    config,
    summary: Object.fromEntries(
      metrics.map(({ key, unit, bare, chaussette, ratio, goal, ok }) => [key, { unit, bare, chaussette, ratio, goal, ok }]),
    ),
    rounds: load,
    coldStart: cold,
    idleRss: rss,
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults written to ${RESULTS_FILE}`);
}

// ---------------------------------------------------------------------------

function estimatedSeconds() {
  const load = config.rounds * ORDER.length * (config.warmup + 2 * config.seconds + 3);
  return load + config.cold * ORDER.length * 1.5 + config.rss * ORDER.length * 3;
}

let loadAverageAtStart = null;

async function main() {
  checkPrerequisites();
  const estimate = estimatedSeconds();
  // Twice the estimate, plus the TIME_WAIT wait and slack.
  installExitHandlers((estimate * 2 + 130) * 1000);
  const startedAt = new Date();
  // Anything else busy on the machine skews both servers, but not evenly.
  const [load1] = os.loadavg();
  loadAverageAtStart = os.loadavg();
  if (load1 > 0.5) log(`bench: warning: load average is ${load1.toFixed(2)}; other processes may skew the numbers`);
  log(`bench: about ${Math.round(estimate)} s (BENCH_ROUNDS=${config.rounds} BENCH_SECONDS=${config.seconds} BENCH_COLD=${config.cold} BENCH_RSS=${config.rss})`);

  // Cold start and RSS first: the close-mode load leaves tens of thousands
  // of TIME_WAIT sockets in /proc/net/tcp for 60 s, and chaussette reads that
  // table at startup to check the socket it inherited.
  const timeWaitBefore = await waitForQuietTcpTable();
  log('cold start:');
  const cold = await measureColdStart();
  log('idle RSS:');
  const rss = await measureIdleRss();
  log('load (alternating rounds):');
  const load = await measureLoad();

  const stray = leftovers();
  if (stray.length > 0) throw new Error(`processes left running after the bench: ${stray.join(', ')}`);

  const metrics = summarize(load, cold, rss);
  printReport(metrics, load, cold, rss);
  writeResults(metrics, load, cold, rss, startedAt, timeWaitBefore);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench failed: ${error.stack ?? error}`);
    killAllSync();
    process.exit(1);
  },
);
