// Benchmark: chaussette's built-in hello app against a bare Node server that
// answers the same bytes. Both get their socket the same way, as fd 3 from
// systemd-socket-activate, so the only difference measured is what
// chaussette does around Node's server. Scenarios:
//
//   http        chaussette vs bare node:http (bench/bare-hello.mjs): wrk,
//               keep-alive and Connection: close; cold start; idle RSS
//   https       --backend https vs bare node:https (bench/bare-hello-https.mjs): wrk
//   h2          --backend http2 with certificates vs bare node:http2 over TLS
//               (bench/bare-hello-http2.mjs): h2load
//   h2c         --backend http2 without certificates vs bare cleartext node:http2: h2load
//   access-log  chaussette --access-log common and json vs --access-log off
//               (and vs bare node:http): wrk; "not available" when the
//               build has no --access-log
//   module      chaussette serving a user module (bench/apps/hello.cjs, .mjs)
//               vs bare node:http importing the same module (bench/bare-module.mjs),
//               the built-in hello app beside; A/A control: wrk; cold start; idle RSS
//   workers     chaussette --workers N, N bare processes on one fd, node:cluster
//               with N workers, vs one bare process and one chaussette; A/A
//               control: wrk, CPU of every process, the split; cold start
//
//   node bench/run.mjs          (or: npm run bench)
//   npm run bench -- workers module               (scenarios named on the command line)
//   BENCH_ONLY=https,http2 node bench/run.mjs     (http2 = h2 + h2c)
//
// Env: BENCH_ONLY (all), BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP (1),
// BENCH_COLD (15), BENCH_RSS (5), BENCH_H2_STREAMS (10), BENCH_WORKERS (2). Results go to
// bench/results.json, one entry per scenario; a run of a subset replaces
// only the entries of the scenarios it ran.
//
// This file runs the servers and the load clients, times them and writes
// the results. What it runs and what it expects is bench/lib/scenarios.mjs;
// reading the tools' output, parse.mjs; the arithmetic, stats.mjs; the
// printed report and results.json's entries, report.mjs. Those are pure, and
// tested by test/bench-*.test.ts.

import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { countAccessLines, countTimeWait, cpuNsFromSchedstat, groupCpuTicks, parseCounts, parseH2load, parseWrk, processGroupFromStat, vmRssKb } from './lib/parse.mjs';
import { fmtMs, fmtRps, scenarioRecord, scenarioReport, summarize } from './lib/report.mjs';
import { CHAUSSETTE, MODES, SCENARIOS, selectScenarios } from './lib/scenarios.mjs';
import { accessLogCheck, countsDelta, cpuUsPerRequest, median, splitOf, valuesOf } from './lib/stats.mjs';

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
  // One client thread against one Node thread: on 2 cores each gets its own.
  threads: 1,
  connections: 50,
  // h2load: streams in flight per connection (-m), so 50 x 10 requests at once.
  h2Streams: intEnv('BENCH_H2_STREAMS', 10, 1),
  // N of the workers scenario: processes per multi-process server.
  workers: intEnv('BENCH_WORKERS', 2, 1),
};

// ---------------------------------------------------------------------------
// Scenarios (bench/lib/scenarios.mjs): the chosen ones, and whether this
// build can run each.

let helpText;
function chaussetteHelp() {
  helpText ??= spawnSync(process.execPath, [CHAUSSETTE, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
  return helpText;
}

/** Why this build cannot run the scenario, or null. */
function unavailableReason(scenario) {
  if (!scenario.requiresFlag || chaussetteHelp().includes(scenario.requiresFlag)) return null;
  return `${CHAUSSETTE} --help has no ${scenario.requiresFlag} (not in this build)`;
}

function selectedScenarios() {
  try {
    return selectScenarios(process.env.BENCH_ONLY, process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

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

// The tools the chosen scenarios drive, installed when missing by the
// project's one apt installer.
function ensureTools(scenarios) {
  const needs = new Set();
  for (const name of scenarios) {
    const scenario = SCENARIOS[name];
    needs.add(scenario.client === 'h2load' ? 'h2load=nghttp2-client' : 'wrk=wrk');
    if (['https', 'h2'].includes(scenario.protocol)) needs.add('openssl=openssl');
  }
  const install = spawnSync('bash', [join(ROOT, 'scripts/apt-install-missing.sh'), 'bench', ...needs], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 300_000,
  });
  if (install.status !== 0) {
    console.error(`bench: needs ${[...needs].map((n) => n.split('=')[0]).join(', ')}; scripts/apt-install-missing.sh could not install them`);
    process.exit(1);
  }
}

function checkPrerequisites(scenarios) {
  if (!existsSync(ACTIVATE)) {
    console.error(`bench: ${ACTIVATE} is required (Debian package systemd)`);
    process.exit(1);
  }
  if (!existsSync(join(ROOT, CHAUSSETTE))) {
    console.error('bench: dist/bin.cjs is missing; run `npm run build` first');
    process.exit(1);
  }
  ensureTools(scenarios);
}

// A throwaway self-signed certificate for the TLS scenarios, in the run's
// temporary directory. P-256: the key type certbot issues by default.
function makeCertificate(dir) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (made.status !== 0) throw new Error(`openssl could not make a certificate:\n${made.stderr}`);
  return { cert, key };
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

// One GET on a fresh connection, in the scenario's protocol (certificates
// are not checked: they are our own throwaway ones); resolves with the
// status once the whole response has arrived.
function get(port, timeoutMs, protocol = 'http') {
  if (protocol === 'h2' || protocol === 'h2c') return getH2(port, timeoutMs, protocol);
  const request = protocol === 'https' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, rejectUnauthorized: false };
    const req = request(options, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
      res.once('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

function getH2(port, timeoutMs, protocol) {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`${protocol === 'h2' ? 'https' : 'http'}://127.0.0.1:${port}`, { rejectUnauthorized: false });
    const fail = (error) => {
      session.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    session.once('error', fail);
    const stream = session.request({ ':path': '/' });
    let status;
    stream.once('response', (headers) => (status = headers[':status']));
    stream.once('error', fail);
    stream.resume();
    stream.once('end', () => {
      clearTimeout(timer);
      session.close();
      resolve(status);
    });
    stream.end();
  });
}

// ---------------------------------------------------------------------------
// Servers under systemd-socket-activate

/** Starts one server of a scenario; ctx gives its arguments what they refer to. */
async function startServer(scenario, name, ctx) {
  const port = await freePort();
  const spec = scenario.servers[name];
  const logFile = spec.logFile ? join(ctx.tmp, `${name}-${port}.log`) : undefined;
  const cmd = [process.execPath, spec.script, ...spec.args({ ...ctx, logFile })];
  // The counting app's directory, fresh per instance; systemd-socket-activate
  // passes on only the variables it is told (-E).
  const countsDir = spec.counts ? join(ctx.tmp, `counts-${name}-${port}`) : undefined;
  if (countsDir) mkdirSync(countsDir);
  const variables = { ...(countsDir ? { BENCH_COUNTS_DIR: countsDir } : {}), ...spec.env?.(ctx) };
  const env = Object.entries(variables).flatMap(([key, value]) => ['-E', `${key}=${value}`]);
  // detached: its own process group, so one kill(-pid) reaches everything
  // and a Ctrl-C in the terminal does not race our own cleanup.
  const child = spawn(ACTIVATE, ['-l', `127.0.0.1:${port}`, ...env, ...cmd], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child, true);
  groups.add(child.pid);
  const server = { name, script: spec.script, protocol: scenario.protocol, port, child, pid: child.pid, output: '', exit: null, probes: 0, logFile, countsDir };
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
      const status = await get(server.port, Math.max(100, deadline - Date.now()), server.protocol);
      // Answered requests, which an access log has a line for.
      server.probes++;
      if (status === 200) return;
      lastError = new Error(`status ${status}`);
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`${server.name} not ready within ${timeoutMs} ms (${lastError?.message}):\n${server.output}`);
}

async function launch(scenario, name, ctx) {
  const server = await startServer(scenario, name, ctx);
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
  if (cmdline[0] !== process.execPath || !cmdline.includes(server.script)) {
    throw new Error(`pid ${server.pid} is not the ${server.name} server: ${cmdline.join(' ')}`);
  }
  const kb = vmRssKb(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
  if (kb === null) throw new Error(`no VmRSS in /proc/${server.pid}/status`);
  return kb;
}

/**
 * The server's user + system CPU time so far, in clock ticks (1/100 s): all
 * threads of all its processes, i.e. of its process group (the server was
 * started detached, so the group is its pid). A pool's primary and workers,
 * or N processes on one socket, all count.
 */
function serverCpuTicks(server) {
  const stats = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      stats.push(readFileSync(`/proc/${entry}/stat`, 'utf8'));
    } catch {
      // exited while we looked
    }
  }
  return groupCpuTicks(stats, server.pid);
}

/** Every process's counts so far (bench/apps/counting.cjs), by pid. */
function serverCounts(server) {
  const counts = new Map();
  for (const file of readdirSync(server.countsDir)) {
    const parsed = parseCounts(readFileSync(join(server.countsDir, file), 'utf8'));
    if (parsed) counts.set(Number(file), parsed);
  }
  return counts;
}

// The counting app writes its file every 100 ms: wait for the last write of the run before.
const COUNTS_SETTLE_MS = 250;

/** One load run in a mode, with the server's CPU microseconds per request, and with the counting app, the split. */
async function loadWithCpu(server, mode, ctx) {
  let counts;
  if (server.countsDir) {
    await sleep(COUNTS_SETTLE_MS);
    counts = serverCounts(server);
  }
  const before = serverCpuTicks(server);
  const result = await runLoad(server, mode, config.seconds, ctx);
  const ticks = serverCpuTicks(server) - before;
  const measured = { ...result, cpuUsPerRequest: cpuUsPerRequest(ticks, result.requests) };
  if (!counts) return measured;
  await sleep(COUNTS_SETTLE_MS);
  const processes = countsDelta(counts, serverCounts(server));
  return { ...measured, processes, split: splitOf(processes) };
}

function runLoad(server, mode, seconds, ctx) {
  const scheme = server.protocol === 'https' || server.protocol === 'h2' ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${server.port}/`;
  if (mode === 'multiplexed') return runH2load(url, seconds, server, ctx);
  return runWrk(url, seconds, { close: mode === 'close' });
}

// ---------------------------------------------------------------------------
// Load clients: wrk (HTTP/1.1, with or without TLS) and h2load (HTTP/2)

function runWrk(url, seconds, { close = false } = {}) {
  const args = [`-t${config.threads}`, `-c${config.connections}`, `-d${seconds}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  args.push(url);
  return runClient('wrk', args, seconds + 15, parseWrk);
}

function runClient(command, args, timeoutSeconds, parse) {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: timeoutSeconds * 1000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${command} ${args.join(' ')} failed (${error.killed ? 'killed after' : 'within'} ${timeoutSeconds} s): ${error.message}\n${stdout}${stderr}`));
      try {
        resolve(parse(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
    track(child, false);
  });
}

// A number of requests (-n), not a duration (-D): h2load 1.52 in duration
// mode, against a server still cold, went on sending after "Stopped all
// clients" and never exited. The count is the rate of the instance's
// previous h2load run (its warm-up) times the planned seconds, at least 1000;
// 10 000 a second for its first run (the warm-up, or the measured run when
// BENCH_WARMUP=0). So a measured run lasts about BENCH_SECONDS.
let h2logs = 0;
async function runH2load(url, seconds, server, ctx) {
  const requests = Math.max(1000, Math.round((server.h2Rate ?? 10_000) * seconds));
  const logFile = join(ctx.tmp, `h2load-${++h2logs}.tsv`);
  const args = [`-t${config.threads}`, `-c${config.connections}`, `-m${config.h2Streams}`, `-n${requests}`, `--log-file=${logFile}`, url];
  const result = await runClient('h2load', args, seconds * 4 + 15, (text) => {
    const log = readFileSync(logFile, 'utf8');
    rmSync(logFile, { force: true });
    return parseH2load(text, log, server.protocol);
  });
  server.h2Rate = result.rps;
  return result;
}

// ---------------------------------------------------------------------------
// The measurements

// Throughput, p99 and CPU per request: servers take turns (bare, chaussette,
// bare, ...), so any drift of the machine over the run hits all alike. Each
// turn is a fresh instance, warmed up (JIT) with a short run that is not
// counted in the figures (but is in the access log check).
async function measureLoad(scenario, ctx) {
  const rounds = [];
  const accessChecks = [];
  const warmupMode = scenario.modes[0];
  for (let round = 1; round <= config.rounds; round++) {
    for (const name of scenario.order) {
      const server = await launch(scenario, name, ctx);
      const record = { round, server: name };
      let served = 0;
      try {
        if (config.warmup > 0) served += (await runLoad(server, warmupMode, config.warmup, ctx)).requests ?? 0;
        for (const mode of scenario.modes) {
          const result = await loadWithCpu(server, mode, ctx);
          served += result.requests ?? 0;
          record[mode] = result;
          warnIfErrors(name, MODES[mode].label, result);
        }
        rounds.push(record);
        const split = (m) => (record[m].split ? ` split ${record[m].split.requests}` : '');
        log(`  round ${round} ${name.padEnd(10)} ${scenario.modes.map((m) => `${MODES[m].label} ${fmtRps(record[m].rps)} req/s p99 ${fmtMs(record[m].p99Ms)} ms${split(m)}`).join(' | ')}`);
      } finally {
        const exit = await stopServer(server);
        checkCleanExit(server, exit);
      }
      if (server.logFile) {
        const check = checkAccessLog(scenario.servers[name], server, served + server.probes);
        accessChecks.push({ round, server: name, ...check });
        if (!check.ok) log(`  warning: ${name}: ${check.lines} access lines in ${server.logFile} for ${check.requests} requests: the cost measured is not that of a working access log`);
        rmSync(server.logFile, { force: true });
      }
    }
  }
  return { rounds, accessChecks };
}

// After the server's exit (its log flushed): does its log file hold a line
// per request (wrk counts only completed responses, so a few more lines than
// requests are fine), or none when the access log is off?
function checkAccessLog(spec, server, requests) {
  let text = '';
  try {
    text = readFileSync(server.logFile, 'utf8');
  } catch {
    // no file: no line
  }
  return accessLogCheck(countAccessLines(text), requests, Boolean(spec.accessLines));
}

// Cold start: from the request to its 200 while systemd-socket-activate
// already holds the socket, i.e. exec + Node startup + app load + listen +
// the first response, which is what a socket-activated service's first
// client waits for.
async function measureColdStart(scenario, ctx) {
  const samples = [];
  for (let i = 1; i <= config.cold; i++) {
    for (const name of scenario.order) {
      const server = await startServer(scenario, name, ctx);
      try {
        await waitListening(server);
        const start = performance.now();
        const status = await get(server.port, 15_000, server.protocol);
        const ms = performance.now() - start;
        if (status !== 200) throw new Error(`${name}: cold start answered ${status}`);
        samples.push({ run: i, server: name, ms, cpuMs: startupCpuMs(server) });
      } finally {
        await stopServer(server);
      }
    }
  }
  log(`  cold start medians: ${scenario.order.map((n) => `${n} ${fmtMs(median(valuesOf(samples, n, 'ms')))} ms`).join(', ')}`);
  log(`  CPU time to the first answer, medians: ${scenario.order.map((n) => `${n} ${fmtMs(median(valuesOf(samples, n, 'cpuMs')))} ms`).join(', ')}`);
  return samples;
}

// The CPU time a server has used so far, all its threads (V8 compiles and
// collects on helper threads): on a busy machine the wall clock of a cold
// start mostly measures the others' load, its CPU time much less.
function startupCpuMs(server) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${server.pid}/task`)) {
    try {
      ns += cpuNsFromSchedstat(readFileSync(`/proc/${server.pid}/task/${tid}/schedstat`, 'utf8')) ?? 0;
    } catch {
      // a thread that ended meanwhile
    }
  }
  return ns / 1e6;
}

// Idle RSS: a server that has served a few requests and then sat idle ~1 s.
async function measureIdleRss(scenario, ctx) {
  const samples = [];
  for (let i = 1; i <= config.rss; i++) {
    for (const name of scenario.order) {
      const server = await launch(scenario, name, ctx);
      try {
        for (let r = 0; r < 10; r++) await get(server.port, 5000, server.protocol);
        await sleep(1000);
        samples.push({ run: i, server: name, mb: serverRssKb(server) / 1024 });
      } finally {
        await stopServer(server);
      }
    }
  }
  log(`  idle RSS medians: ${scenario.order.map((n) => `${n} ${median(valuesOf(samples, n, 'mb')).toFixed(1)} MB`).join(', ')}`);
  return samples;
}

// A hello server has no reason to fail a request: flag it if one did.
function warnIfErrors(name, mode, result) {
  if (result.non2xx > 0) log(`  warning: ${name} ${mode}: ${result.non2xx} non-2xx responses`);
  if (result.socketErrors) log(`  warning: ${name} ${mode}: socket errors: ${result.socketErrors}`);
}

// Every server promises to exit 0 on SIGTERM; say so when one does not.
function checkCleanExit(server, exit) {
  if (exit && exit.code !== 0) {
    log(`  warning: ${server.name} exited with ${JSON.stringify(exit)} after SIGTERM:\n${server.output}`);
  }
}

// TIME_WAIT entries in /proc/net/tcp and tcp6.
function timeWaitSockets() {
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      count += countTimeWait(readFileSync(file, 'utf8'));
    } catch {
      // no such table
    }
  }
  return count;
}

// A bench run just before this one (its close-mode rounds) leaves tens of
// thousands of TIME_WAIT sockets for 60 s. chaussette reads /proc/net/tcp at
// startup to check its socket, but now only up to the end of the listening
// part, which comes before them; when there are more than `limit`, waiting
// for them to expire still keeps back-to-back runs measured alike.
async function waitForQuietTcpTable(limit = 1000, maxMs = 65_000) {
  const deadline = Date.now() + maxMs;
  let count = timeWaitSockets();
  if (count > limit) log(`waiting up to ${maxMs / 1000} s for ${count} TIME_WAIT sockets to expire`);
  while (count > limit && Date.now() < deadline) {
    await sleep(2000);
    count = timeWaitSockets();
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
      if (groups.has(processGroupFromStat(readFileSync(`/proc/${entry}/stat`, 'utf8')))) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

// ---------------------------------------------------------------------------
// Results (the report's text and records: bench/lib/report.mjs)

function environment() {
  const version = (command, args) => {
    const out = spawnSync(command, args, { encoding: 'utf8' });
    return `${out.stdout ?? ''}${out.stderr ?? ''}`.split('\n')[0].trim() || null;
  };
  return {
    node: process.version,
    wrk: version('wrk', ['-v']),
    h2load: version('h2load', ['--version']),
    openssl: process.versions.openssl,
    cpus: os.cpus().length,
    kernel: os.release(),
    loadAverageAtStart,
    loadAverageAtEnd: os.loadavg(),
  };
}

// One entry per scenario; a subset run keeps the entries it did not run.
function writeResults(records) {
  let previous = {};
  try {
    previous = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')).scenarios ?? {};
  } catch {
    // none yet, or unreadable: start over
  }
  const results = { updated: new Date().toISOString(), scenarios: { ...previous, ...records } };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults written to ${RESULTS_FILE} (${Object.keys(records).join(', ')})`);
}

// ---------------------------------------------------------------------------

function estimatedSeconds(names) {
  let total = 0;
  for (const name of names) {
    const scenario = SCENARIOS[name];
    const servers = scenario.order.length;
    if (scenario.modes.length > 0) total += config.rounds * servers * (config.warmup + scenario.modes.length * config.seconds + 3);
    if (scenario.startup) total += config.cold * servers * 1.5;
    if (scenario.startup === 'cold+rss') total += config.rss * servers * 3;
  }
  return total;
}

let loadAverageAtStart = null;

async function main() {
  const names = selectedScenarios();
  // Scenarios this build cannot run are reported, not failed.
  const unavailable = Object.fromEntries(names.map((name) => [name, unavailableReason(SCENARIOS[name])]));
  const runnable = names.filter((name) => !unavailable[name]);
  checkPrerequisites(runnable);
  const estimate = estimatedSeconds(runnable);
  // Twice the estimate, plus the TIME_WAIT wait and slack.
  installExitHandlers((estimate * 2 + 130) * 1000);
  // Anything else busy on the machine skews the servers, but not evenly.
  const [load1] = os.loadavg();
  loadAverageAtStart = os.loadavg();
  if (load1 > 0.5) log(`bench: warning: load average is ${load1.toFixed(2)}; other processes may skew the numbers`);
  log(`bench: ${names.join(', ')}: about ${Math.round(estimate)} s (BENCH_ROUNDS=${config.rounds} BENCH_SECONDS=${config.seconds} BENCH_COLD=${config.cold} BENCH_RSS=${config.rss})`);

  const tmp = mkdtempSync(join(os.tmpdir(), 'chaussette-bench-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const needsCert = runnable.some((name) => ['https', 'h2'].includes(SCENARIOS[name].protocol));
  const ctx = { tmp, workers: config.workers, ...(needsCert ? makeCertificate(tmp) : {}) };

  const reports = [];
  for (const name of names) {
    const scenario = SCENARIOS[name];
    const startedAt = new Date();
    let result;
    if (unavailable[name]) {
      log(`${name}: not available: ${unavailable[name]}`);
      result = { unavailable: unavailable[name] };
    } else {
      result = {};
      if (scenario.startup) {
        // Cold start and RSS first, before this run's close-mode load
        // leaves tens of thousands of TIME_WAIT sockets (see
        // waitForQuietTcpTable).
        result.timeWait = await waitForQuietTcpTable();
        log(`${name}: cold start:`);
        result.cold = await measureColdStart(scenario, ctx);
        if (scenario.startup === 'cold+rss') {
          log(`${name}: idle RSS:`);
          result.rss = await measureIdleRss(scenario, ctx);
        }
      }
      if (scenario.modes.length > 0) {
        log(`${name}: load (alternating rounds):`);
        Object.assign(result, await measureLoad(scenario, ctx));
      } else {
        Object.assign(result, { rounds: [], accessChecks: [] });
      }
    }
    const comparisons = result.unavailable ? [] : summarize(scenario, result);
    reports.push({ name, scenario, result, comparisons, startedAt });
  }

  const stray = leftovers();
  if (stray.length > 0) throw new Error(`processes left running after the bench: ${stray.join(', ')}`);

  for (const { name, scenario, result, comparisons } of reports) console.log(scenarioReport(name, scenario, result, comparisons, config));
  writeResults(
    Object.fromEntries(reports.map(({ name, scenario, result, comparisons, startedAt }) => [name, scenarioRecord(scenario, result, comparisons, { startedAt, environment: environment(), config })])),
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench failed: ${error.stack ?? error}`);
    killAllSync();
    process.exit(1);
  },
);
