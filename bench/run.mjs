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
//
//   node bench/run.mjs          (or: npm run bench)
//   BENCH_ONLY=https,http2 node bench/run.mjs     (http2 = h2 + h2c)
//
// Env: BENCH_ONLY (all), BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP (1),
// BENCH_COLD (15), BENCH_RSS (5), BENCH_H2_STREAMS (10). Results go to
// bench/results.json, one entry per scenario; a run of a subset replaces
// only the entries of the scenarios it ran.

import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS_FILE = join(BENCH_DIR, 'results.json');
const ACTIVATE = '/usr/bin/systemd-socket-activate';
const CHAUSSETTE = 'dist/bin.cjs';

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
};

// ---------------------------------------------------------------------------
// Scenarios. Each names its servers (a script run by the same Node binary,
// with arguments from the run's context: certificate, key, log file), the
// order they take turns in, the load modes, and which server is compared
// with which. Goals are ratios subject / reference; a metric without a goal
// is reported only.

// keep-alive and close: wrk; multiplexed: h2load, many streams per connection.
const MODES = {
  keepAlive: { label: 'keep-alive' },
  close: { label: 'close' },
  multiplexed: { label: 'h2 multiplexed' },
};
const METRICS = [
  { field: 'rps', suffix: 'Rps', label: 'throughput', unit: 'req/s', format: (v) => Math.round(v).toString() },
  { field: 'p99Ms', suffix: 'P99', label: 'p99 latency', unit: 'ms', format: (v) => v.toFixed(2) },
  { field: 'cpuUsPerRequest', suffix: 'Cpu', label: 'CPU per request', unit: 'us', format: (v) => v.toFixed(1) },
];

const HTTP_GOALS = {
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

// chaussette wraps node:http2 a little more than node:http: per session a
// timer and a 'stream' listener, per stream a 'close' listener and the Host
// header from :authority (src/backends/http2.ts). Hence 5 %, not 3 %.
const H2_GOALS = {
  multiplexedRps: { op: '>=', ratio: 0.95 },
  multiplexedP99: { op: '<=', ratio: 1.1 },
  multiplexedCpu: { op: '<=', ratio: 1.05 },
};

// The access log's own cost, against the same chaussette with it off: a
// line per request, buffered, should cost at most 10 % of a hello request
// served with keep-alive (the cheapest request there is, so the worst case
// for the ratio); with a new connection per request, at most 5 %.
const ACCESS_LOG_GOALS = {
  keepAliveRps: { op: '>=', ratio: 0.9 },
  keepAliveCpu: { op: '<=', ratio: 1.11 },
  closeRps: { op: '>=', ratio: 0.95 },
  closeCpu: { op: '<=', ratio: 1.05 },
};

const bareHttp = { label: 'bare node:http', script: 'bench/bare-hello.mjs', args: () => [] };
const chaussette = (label, args) => ({ label, script: CHAUSSETTE, args: (ctx) => ['--log-level', 'warn', ...args(ctx)] });
const tlsArgs = (ctx) => ['--certfile', ctx.cert, '--keyfile', ctx.key];
// At the default log level, unlike the other scenarios: should access
// records go through the logger, --log-level warn would drop them (the line
// check would catch it, but the scenario would measure nothing).
const accessLog = (format) => ({
  label: `chaussette access log ${format}`,
  script: CHAUSSETTE,
  args: (ctx) => ['--access-log', format, '--log-output', ctx.logFile],
  logFile: true,
  // A line per request, or none at all when off.
  accessLines: format !== 'off',
});

const SCENARIOS = {
  http: {
    title: 'chaussette vs bare node:http, hello app on fd 3 from systemd-socket-activate',
    client: 'wrk',
    protocol: 'http',
    modes: ['keepAlive', 'close'],
    servers: { bare: bareHttp, chaussette: chaussette('chaussette', () => []) },
    order: ['bare', 'chaussette'],
    comparisons: [{ subject: 'chaussette', reference: 'bare', goals: HTTP_GOALS }],
    startup: true, // cold start and idle RSS too
  },
  https: {
    title: 'chaussette --backend https vs bare node:https, self-signed P-256 certificate',
    client: 'wrk',
    protocol: 'https',
    modes: ['keepAlive', 'close'],
    servers: {
      bare: { label: 'bare node:https', script: 'bench/bare-hello-https.mjs', args: (ctx) => [ctx.cert, ctx.key] },
      chaussette: chaussette('chaussette https', (ctx) => ['--backend', 'https', ...tlsArgs(ctx)]),
    },
    order: ['bare', 'chaussette'],
    // Both do the same TLS work; what is left is chaussette's HTTP/1.1 wrapping, as for http.
    comparisons: [{ subject: 'chaussette', reference: 'bare', goals: pickGoals(HTTP_GOALS, /^(keepAlive|close)/) }],
  },
  h2: {
    title: 'chaussette --backend http2 (TLS, ALPN h2) vs bare node:http2 secure server, compatibility API',
    client: 'h2load',
    protocol: 'h2',
    modes: ['multiplexed'],
    servers: {
      bare: { label: 'bare node:http2 TLS', script: 'bench/bare-hello-http2.mjs', args: (ctx) => [ctx.cert, ctx.key] },
      chaussette: chaussette('chaussette http2 TLS', (ctx) => ['--backend', 'http2', ...tlsArgs(ctx)]),
    },
    order: ['bare', 'chaussette'],
    comparisons: [{ subject: 'chaussette', reference: 'bare', goals: H2_GOALS }],
  },
  h2c: {
    title: 'chaussette --backend http2 (cleartext h2c) vs bare node:http2, compatibility API',
    client: 'h2load',
    protocol: 'h2c',
    modes: ['multiplexed'],
    servers: {
      bare: { label: 'bare node:http2 h2c', script: 'bench/bare-hello-http2.mjs', args: () => [] },
      chaussette: chaussette('chaussette http2 h2c', () => ['--backend', 'http2']),
    },
    order: ['bare', 'chaussette'],
    comparisons: [{ subject: 'chaussette', reference: 'bare', goals: H2_GOALS }],
  },
  'access-log': {
    title: 'chaussette --access-log common / json vs --access-log off (same --log-output file), and vs bare node:http',
    client: 'wrk',
    protocol: 'http',
    modes: ['keepAlive', 'close'],
    servers: { bare: bareHttp, off: accessLog('off'), common: accessLog('common'), json: accessLog('json') },
    order: ['bare', 'off', 'common', 'json'],
    comparisons: [
      { subject: 'common', reference: 'off', goals: ACCESS_LOG_GOALS },
      { subject: 'json', reference: 'off', goals: ACCESS_LOG_GOALS },
      { subject: 'off', reference: 'bare', goals: {} },
      { subject: 'common', reference: 'bare', goals: {} },
      { subject: 'json', reference: 'bare', goals: {} },
    ],
    // The option comes with the access log; a build without it cannot run this.
    unavailable: () => (chaussetteHelp().includes('--access-log') ? null : `${CHAUSSETTE} --help has no --access-log (not in this build)`),
  },
};
// BENCH_ONLY names: the scenarios, plus http2 for both of its forms.
const ALIASES = { http2: ['h2', 'h2c'] };

function pickGoals(goals, pattern) {
  return Object.fromEntries(Object.entries(goals).filter(([key]) => pattern.test(key)));
}

let helpText;
function chaussetteHelp() {
  helpText ??= spawnSync(process.execPath, [CHAUSSETTE, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
  return helpText;
}

function selectedScenarios() {
  const raw = process.env.BENCH_ONLY;
  if (raw === undefined || raw.trim() === '') return Object.keys(SCENARIOS);
  const chosen = new Set();
  for (const name of raw.split(/[\s,]+/).filter(Boolean)) {
    const names = ALIASES[name] ?? (SCENARIOS[name] ? [name] : null);
    if (!names) {
      console.error(`BENCH_ONLY: unknown scenario ${JSON.stringify(name)}; known: ${[...Object.keys(SCENARIOS), ...Object.keys(ALIASES)].join(', ')}`);
      process.exit(1);
    }
    for (const n of names) chosen.add(n);
  }
  // In the order of SCENARIOS: http first, so cold start sees a quiet TCP table.
  return Object.keys(SCENARIOS).filter((name) => chosen.has(name));
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
  // detached: its own process group, so one kill(-pid) reaches everything
  // and a Ctrl-C in the terminal does not race our own cleanup.
  const child = spawn(ACTIVATE, ['-l', `127.0.0.1:${port}`, ...cmd], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child, true);
  groups.add(child.pid);
  const server = { name, script: spec.script, protocol: scenario.protocol, port, child, pid: child.pid, output: '', exit: null, probes: 0, logFile };
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
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${server.pid}/status`);
  return Number(match[1]);
}

/** The server's user + system CPU time so far (all its threads), in clock ticks (1/100 s). */
function serverCpuTicks(server) {
  const fields = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the whole line)
}

/** One load run in a mode, with the server's CPU microseconds per request. */
async function loadWithCpu(server, mode, ctx) {
  const before = serverCpuTicks(server);
  const result = await runLoad(server, mode, config.seconds, ctx);
  const ticks = serverCpuTicks(server) - before;
  return { ...result, cpuUsPerRequest: result.requests ? (ticks * 10_000) / result.requests : NaN };
}

function runLoad(server, mode, seconds, ctx) {
  const scheme = server.protocol === 'https' || server.protocol === 'h2' ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${server.port}/`;
  if (mode === 'multiplexed') return runH2load(url, seconds, server, ctx);
  return runWrk(url, seconds, { close: mode === 'close' });
}

// ---------------------------------------------------------------------------
// Load clients: wrk (HTTP/1.1, with or without TLS) and h2load (HTTP/2)

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

// h2load prints throughput and counts but no percentiles; its --log-file has
// one line per request (start us, status, duration us), from which p99.
function parseH2load(text, logFile, protocol) {
  const finished = /^finished in [\d.]+m?s, ([\d.]+) req\/s/m.exec(text);
  const counts = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(text);
  const status = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(text);
  const spoken = /^Application protocol: (\S+)/m.exec(text);
  if (!finished || !counts || !status) throw new Error(`could not parse h2load output:\n${text}`);
  // A TLS server that fell back to HTTP/1.1 would be a different benchmark.
  if (spoken?.[1] !== protocol) throw new Error(`h2load spoke ${spoken?.[1] ?? 'nothing'}, expected ${protocol}:\n${text}`);
  const durations = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const [, , us] = line.split('\t');
    if (us !== undefined) durations.push(Number(us));
  }
  rmSync(logFile, { force: true });
  durations.sort((a, b) => a - b);
  const [failed, errored, timedOut] = [counts[5], counts[6], counts[7]].map(Number);
  return {
    rps: Number(finished[1]),
    p99Ms: durations.length ? durations[Math.min(durations.length - 1, Math.ceil(durations.length * 0.99) - 1)] / 1000 : NaN,
    requests: Number(counts[4]),
    socketErrors: failed + errored + timedOut ? `failed ${failed}, errored ${errored}, timeout ${timedOut}` : null,
    non2xx: Number(status[2]) + Number(status[3]) + Number(status[4]),
  };
}

// A number of requests (-n), not a duration (-D): h2load 1.52 in duration
// mode, against a server still cold, went on sending after "Stopped all
// clients" and never exited. The count is what the instance served in the
// planned seconds during its warm-up (10000 a second without one), so a run
// lasts about BENCH_SECONDS.
let h2logs = 0;
async function runH2load(url, seconds, server, ctx) {
  const requests = Math.max(1000, Math.round((server.h2Rate ?? 10_000) * seconds));
  const logFile = join(ctx.tmp, `h2load-${++h2logs}.tsv`);
  const args = [`-t${config.threads}`, `-c${config.connections}`, `-m${config.h2Streams}`, `-n${requests}`, `--log-file=${logFile}`, url];
  const result = await runClient('h2load', args, seconds * 4 + 15, (text) => parseH2load(text, logFile, server.protocol));
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
        log(`  round ${round} ${name.padEnd(10)} ${scenario.modes.map((m) => `${MODES[m].label} ${fmtRps(record[m].rps)} req/s p99 ${fmtMs(record[m].p99Ms)} ms`).join(' | ')}`);
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
  let lines = 0;
  let text = '';
  try {
    text = readFileSync(server.logFile, 'utf8');
  } catch {
    // no file: no line
  }
  // A request line of either format names the method and the status.
  for (const line of text.split('\n')) if (line.includes('GET') && /\b200\b/.test(line)) lines++;
  const ratio = requests ? lines / requests : NaN;
  const ok = spec.accessLines ? ratio >= 0.98 && ratio <= 1.02 : lines === 0;
  return { lines, requests, ratio, ok };
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
        samples.push({ run: i, server: name, ms });
      } finally {
        await stopServer(server);
      }
    }
  }
  log(`  cold start medians: ${scenario.order.map((n) => `${n} ${fmtMs(median(pick(samples, n, 'ms')))} ms`).join(', ')}`);
  return samples;
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
  log(`  idle RSS medians: ${scenario.order.map((n) => `${n} ${median(pick(samples, n, 'mb')).toFixed(1)} MB`).join(', ')}`);
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

/** Per comparison, one row per mode and metric (plus cold start and RSS for http): medians, ratio, goal. */
function summarize(scenario, result) {
  const { rounds, cold, rss } = result;
  const loadOf = (mode, field) => (name) => rounds.filter((r) => r.server === name).map((r) => r[mode][field]);
  const rowsFor = ({ subject, reference, goals }) => {
    const metric = (key, label, unit, values, format) => {
      const ref = median(values(reference));
      const sub = median(values(subject));
      const ratio = sub / ref;
      const goal = goals[key];
      const ok = goal ? (goal.op === '>=' ? ratio >= goal.ratio : ratio <= goal.ratio) : null;
      return { key, label, unit, reference: ref, subject: sub, ratio, goal: goal ? `${goal.op} ${goal.ratio}` : null, ok, format };
    };
    const rows = [];
    for (const mode of scenario.modes) {
      for (const m of METRICS) rows.push(metric(`${mode}${m.suffix}`, `${MODES[mode].label} ${m.label}`, m.unit, loadOf(mode, m.field), m.format));
    }
    if (cold) rows.push(metric('coldStartMs', 'cold start', 'ms', (name) => pick(cold, name, 'ms'), fmtMs));
    if (rss) rows.push(metric('idleRssMb', 'idle RSS', 'MB', (name) => pick(rss, name, 'mb'), (v) => v.toFixed(1)));
    return { subject, reference, rows };
  };
  return scenario.comparisons.map(rowsFor);
}

function table(rows) {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  // Numbers right-aligned, words left-aligned.
  const align = (cell, width) => (/^[\d.]+$/.test(cell) ? cell.padStart(width) : cell.padEnd(width));
  const line = (row) => row.map((cell, col) => align(cell, widths[col])).join(' | ').trimEnd();
  const [head, ...body] = rows;
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

function clientLine(scenario) {
  const client = scenario.client === 'h2load'
    ? `h2load -t${config.threads} -c${config.connections} -m${config.h2Streams} -n<req/s of the warm-up x ${config.seconds} s> (${scenario.protocol})`
    : `wrk -t${config.threads} -c${config.connections} -d${config.seconds}s${scenario.protocol === 'https' ? ' over https' : ''}`;
  const extra = scenario.startup ? `; cold start x${config.cold}; idle RSS x${config.rss}` : '';
  return `${client}, ${config.rounds} alternating rounds${extra}; medians`;
}

function printScenario(name, scenario, result, comparisons) {
  console.log(`\n=== ${name}: ${scenario.title}`);
  if (result.unavailable) {
    console.log(`not available: ${result.unavailable}`);
    return;
  }
  console.log(`${clientLine(scenario)}\n`);
  const label = (server) => scenario.servers[server].label;
  let met = 0;
  let goals = 0;
  for (const { subject, reference, rows } of comparisons) {
    if (comparisons.length > 1) console.log(`${label(subject)} vs ${label(reference)}:`);
    console.log(
      table([
        ['metric', label(reference), label(subject), 'ratio', 'goal', 'ok?'],
        ...rows.map((m) => [`${m.label} (${m.unit})`, m.format(m.reference), m.format(m.subject), m.ratio.toFixed(3), m.goal ?? 'report', m.ok === null ? '' : m.ok ? 'yes' : 'NO']),
      ]),
    );
    console.log('');
    goals += rows.filter((m) => m.goal).length;
    met += rows.filter((m) => m.ok).length;
  }
  if (goals > 0) console.log(`${met} of ${goals} goals met (ratio = ${comparisons.length > 1 ? 'first / second' : `${scenario.order[1]} / ${scenario.order[0]}`})`);

  const modes = scenario.modes;
  console.log('\nper round (req/s, p99 ms):');
  console.log(
    table([
      ['round', 'server', ...modes.flatMap((m) => [`${MODES[m].label} req/s`, `${MODES[m].label} p99`]), 'errors'],
      ...result.rounds.map((r) => [
        String(r.round),
        r.server,
        ...modes.flatMap((m) => [String(Math.round(r[m].rps)), fmtMs(r[m].p99Ms)]),
        modes.map((m) => r[m].socketErrors).filter(Boolean).join('; ') || 'none',
      ]),
    ]),
  );
  // The spread shows how much of a ratio the machine's own noise could explain.
  console.log('\nspread over rounds (min..max):');
  for (const mode of modes) {
    for (const [field, format] of [['rps', Math.round], ['p99Ms', fmtMs], ['cpuUsPerRequest', (v) => v.toFixed(1)]]) {
      const spread = scenario.order.map((server) => {
        const values = result.rounds.filter((r) => r.server === server).map((r) => r[mode][field]);
        return `${server} ${format(Math.min(...values))}..${format(Math.max(...values))}`;
      });
      console.log(`  ${mode} ${field}: ${spread.join(', ')}`);
    }
  }
  for (const server of scenario.startup ? scenario.order : []) {
    console.log(`\ncold start ${server} (ms): ${pick(result.cold, server, 'ms').map(fmtMs).join(' ')}`);
    console.log(`idle RSS ${server} (MB): ${pick(result.rss, server, 'mb').map((v) => v.toFixed(1)).join(' ')}`);
  }
  if (result.accessChecks.length > 0) {
    const bad = result.accessChecks.filter((c) => !c.ok);
    console.log(`\naccess log check (lines with GET and 200 / requests served, after exit): ${result.accessChecks.map((c) => `${c.server} ${c.lines}/${c.requests}`).join(', ')}`);
    console.log(bad.length === 0 ? '  every log held a line per request (none when off)' : `  FAILED for ${bad.map((c) => `${c.server} round ${c.round}`).join(', ')}: those figures do not measure a working access log`);
  }
}

function scenarioRecord(name, scenario, result, comparisons, startedAt) {
  const base = { date: startedAt.toISOString(), title: scenario.title, environment: environment(), config };
  if (result.unavailable) return { ...base, available: false, reason: result.unavailable };
  return {
    ...base,
    available: true,
    client: clientLine(scenario),
    servers: Object.fromEntries(scenario.order.map((server) => [server, scenario.servers[server].label])),
    // Per comparison "subject/reference": each metric's medians, ratio and goal.
    summary: Object.fromEntries(
      comparisons.map(({ subject, reference, rows }) => [
        `${subject}/${reference}`,
        Object.fromEntries(rows.map(({ key, unit, reference: ref, subject: sub, ratio, goal, ok }) => [key, { unit, [reference]: ref, [subject]: sub, ratio, goal, ok }])),
      ]),
    ),
    rounds: result.rounds,
    ...(result.cold ? { coldStart: result.cold, idleRss: result.rss, tcpTimeWaitAtColdStart: result.timeWait } : {}),
    ...(result.accessChecks.length ? { accessLogCheck: result.accessChecks } : {}),
  };
}

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
    total += config.rounds * servers * (config.warmup + scenario.modes.length * config.seconds + 3);
    if (scenario.startup) total += config.cold * servers * 1.5 + config.rss * servers * 3;
  }
  return total;
}

let loadAverageAtStart = null;

async function main() {
  const names = selectedScenarios();
  // Scenarios this build cannot run are reported, not failed.
  const unavailable = Object.fromEntries(names.map((name) => [name, SCENARIOS[name].unavailable?.() ?? null]));
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
  const ctx = { tmp, ...(needsCert ? makeCertificate(tmp) : {}) };

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
        // Cold start and RSS first: the close-mode load leaves tens of
        // thousands of TIME_WAIT sockets in /proc/net/tcp for 60 s, and
        // chaussette reads that table at startup to check its socket.
        result.timeWait = await waitForQuietTcpTable();
        log(`${name}: cold start:`);
        result.cold = await measureColdStart(scenario, ctx);
        log(`${name}: idle RSS:`);
        result.rss = await measureIdleRss(scenario, ctx);
      }
      log(`${name}: load (alternating rounds):`);
      Object.assign(result, await measureLoad(scenario, ctx));
    }
    const comparisons = result.unavailable ? [] : summarize(scenario, result);
    reports.push({ name, scenario, result, comparisons, startedAt });
  }

  const stray = leftovers();
  if (stray.length > 0) throw new Error(`processes left running after the bench: ${stray.join(', ')}`);

  for (const { name, scenario, result, comparisons } of reports) printScenario(name, scenario, result, comparisons);
  writeResults(Object.fromEntries(reports.map(({ name, scenario, result, comparisons, startedAt }) => [name, scenarioRecord(name, scenario, result, comparisons, startedAt)])));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench failed: ${error.stack ?? error}`);
    killAllSync();
    process.exit(1);
  },
);
