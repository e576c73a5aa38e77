// chaussette under a real systemd (PID 1 in a throw-away container), with
// the units this project ships, installed as a package would install them:
// the repository at /usr/lib/chaussette, /usr/bin/chaussette, the units in
// /etc/systemd/system, the man page, instance files in /etc/chaussette.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, sleep, waitUntil } from '../helpers.js';
import { bootMachine, type Machine } from './machine.js';

const LIB = '/usr/lib/chaussette';
const APPS = `${LIB}/test/fixtures/apps`;
const LOAD = `node ${LIB}/test/systemd/load.mjs`;

// Booting is quick (the root tree is built by test/ensure-system-deps.sh); the restarts, the
// watchdog and the status pace take about a minute together.
t.setTimeout(240_000);

let machine: Machine;

/** Runs a command in the guest; fails the test run with its output when it exits non-zero. */
const sh = (command: string, timeoutMs?: number) => machine.sh(command, timeoutMs);

/** `systemctl show` properties as an object. */
async function show(unit: string, ...properties: string[]): Promise<Record<string, string>> {
  const out = await sh(`systemctl show ${unit} ${properties.map((p) => `-p ${p}`).join(' ')}`);
  return Object.fromEntries(out.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

/** Asks the guest every 100 ms until `probe` gives a value. */
function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000) {
  return waitUntil(probe, timeoutMs, what, { everyMs: 100 });
}

/**
 * The unit's journal once it holds `pattern`. journald reads a service's
 * output on its own time: an answer, a unit state or an exit seen first does
 * not mean the lines written before it are in the journal yet.
 */
const journalWith = (unit: string, pattern: RegExp, flags = '-o cat') =>
  waitFor(`${String(pattern)} in the journal of ${unit}`, async () => {
    const text = await sh(`journalctl --no-pager ${flags} -u ${unit}`);
    return pattern.test(text) ? text : undefined;
  });

/**
 * Once systemd has taken READY=1: the unit's state then. A request answered
 * does not mean systemd has read the notification sent before it.
 */
const readyState = (unit: string, ...properties: string[]) =>
  waitFor(`${unit} to be active with a status`, async () => {
    const state = await show(unit, 'ActiveState', 'StatusText', ...properties);
    return state.ActiveState === 'active' && state.StatusText ? state : undefined;
  });

/** The pids holding connections accepted on a unix socket of the guest, from ss(8). */
async function holders(path: string): Promise<string[]> {
  return [...(await sh(`ss -Hxp state established src ${path}`)).matchAll(/pid=(\d+)/g)].map((match) => match[1]!);
}

/** Until each of `pids` holds a connection of the load on `path`: each answers part of it then. */
const takingLoad = (path: string, pids: string[]) =>
  waitFor(`pids ${pids.join(', ')} to take connections on ${path}`, async () => {
    const held = await holders(path);
    return pids.every((pid) => held.includes(pid)) || undefined;
  });

const dropIn = (unit: string, body: string) => machine.writeFile(`/etc/systemd/system/${unit}.d/test.conf`, body);

t.before(async () => {
  machine = await bootMachine({ binds: [{ host: ROOT, guest: LIB, readOnly: true }] });
  await sh(`ln -s ${LIB}/dist/bin.cjs /usr/bin/chaussette`);
  for (const unit of ['chaussette@.socket', 'chaussette@.service']) {
    await machine.writeFile(`/etc/systemd/system/${unit}`, readFileSync(join(ROOT, 'systemd', unit), 'utf8'));
  }
  for (const unit of ['hello.socket', 'hello.service']) {
    await machine.writeFile(`/etc/systemd/system/${unit}`, readFileSync(join(ROOT, 'systemd', 'example', unit), 'utf8'));
  }
  // Where a package puts it (test/packaging.test.ts installs the real .deb).
  await sh(`mkdir -p /usr/share/man/man1 && gzip -9n < ${LIB}/man/chaussette.1 > /usr/share/man/man1/chaussette.1.gz`);
  await sh('systemctl daemon-reload');
});
t.teardown(() => machine?.stop());

t.test('the shipped units pass systemd-analyze verify, and the sandbox is tight', async (t) => {
  // Documentation=man:chaussette(1) included: verify asks man(1) for the page.
  const verify = await machine.exec('systemd-analyze verify chaussette@app.socket chaussette@app.service hello.socket hello.service');
  t.equal(verify.code, 0, verify.stderr);
  t.equal(verify.stderr.trim(), '', 'no warnings');
  const security = await machine.exec('systemd-analyze security --no-pager chaussette@app.service');
  const exposure = /Overall exposure level for chaussette@app\.service: ([\d.]+) (\S+)/.exec(security.stdout);
  t.ok(exposure, security.stdout.slice(-400));
  t.comment(`systemd-analyze security chaussette@app.service: ${exposure?.[1]} ${exposure?.[2]}`);
  t.ok(Number(exposure?.[1]) <= 2.5, `exposure ${exposure?.[1]} is low`);
});

t.test('systemctl start chaussette@app.socket: started by the first request, which is answered', async (t) => {
  await machine.writeFile('/etc/chaussette/app.env', `CHAUSSETTE_APP=${APPS}/pid.mjs\n`);
  await sh('systemctl start chaussette@app.socket');
  t.equal((await show('chaussette@app.service', 'ActiveState')).ActiveState, 'inactive', 'nothing runs before a request');
  const curl = (await sh(`curl -sS -w ' %{time_total}' --unix-socket /run/chaussette/app.sock http://app/`)).trim().split(/\s+/);
  const [pid, seconds] = [curl[0], Number(curl[1])];
  t.match(pid, /^\d+$/, 'answered');
  t.comment(`first request on a cold socket-activated start answered in ${Math.round(seconds * 1000)} ms`);
  const state = await readyState('chaussette@app.service', 'MainPID', 'Type', 'NotifyAccess');
  t.equal(state.ActiveState, 'active');
  t.equal(state.MainPID, pid, 'the answering process is the main PID');
  t.match(state.StatusText, /^Serving unix:\/run\/chaussette\/app\.sock \(http\): /);
  const status = await sh('systemctl status --no-pager chaussette@app.service');
  t.match(status, /Status: "Serving unix:\/run\/chaussette\/app\.sock \(http\)/, 'systemctl status shows our line');
  // The status line follows the traffic (refreshed every 10 s).
  await sh(`for i in $(seq 20); do curl -s --unix-socket /run/chaussette/app.sock http://app/ >/dev/null; done`);
  const counted = await waitFor('a status line with requests', async () => {
    const text = (await show('chaussette@app.service', 'StatusText')).StatusText;
    return /: 21 requests, \d+ open connections?, [\d.]+ req\/s$/.test(text ?? '') ? text : undefined;
  }, 15_000);
  t.pass(`StatusText: ${counted}`);
});

t.test('restart ×3 and stop/start under load: no request fails, none resent', async (t) => {
  // Until the test says (the file), 45 s at most: however slow the machine, the load spans every step.
  await sh('rm -f /run/load-done');
  const load = machine.exec(`${LOAD} --socket /run/chaussette/app.sock --ms 45000 --stop-file /run/load-done --keep-alive 4 --new 4`, { timeoutMs: 90_000 });
  const pids = new Set<string>();
  const mainPid = async () => (await show('chaussette@app.service', 'MainPID')).MainPID!;
  const note = async () => pids.add(await mainPid());
  // Each step once the process serving has taken connections of the load (it answers some then).
  await takingLoad('/run/chaussette/app.sock', [await mainPid()]);
  await note();
  const restart = async () => {
    const started = Date.now();
    await sh('systemctl restart chaussette@app.service');
    t.comment(`systemctl restart under load: ${Date.now() - started} ms`);
  };
  await restart();
  await note();
  await takingLoad('/run/chaussette/app.sock', [await mainPid()]);
  await restart();
  await note();
  await takingLoad('/run/chaussette/app.sock', [await mainPid()]);
  await restart();
  await note();
  await takingLoad('/run/chaussette/app.sock', [await mainPid()]);
  await sh('systemctl stop chaussette@app.service');
  // Not a wait for an event: half a second stopped, for requests to queue on the socket meanwhile.
  await sleep(500);
  await sh('systemctl start chaussette@app.service');
  await note();
  await takingLoad('/run/chaussette/app.sock', [await mainPid()]);
  await sh('touch /run/load-done');
  const result = await load;
  t.equal(result.code, 0, result.stderr);
  const counts = JSON.parse(result.stdout) as { sent: number; ok: number; failed: number; keepAlive: number; newConnection: number; errors: Record<string, number>; pids: Record<string, number> };
  t.comment(
    `under load: ${counts.sent} requests (${counts.keepAlive} keep-alive, ${counts.newConnection} new connections), ${counts.failed} failed, ` +
      `no request is ever sent again; answered by ${Object.keys(counts.pids).length} processes`,
  );
  t.equal(counts.failed, 0, `no failed request (${JSON.stringify(counts.errors)})`);
  t.ok(counts.ok > 500, `${counts.ok} answered`);
  t.ok(Object.keys(counts.pids).length >= 5, 'five processes took turns: three restarts and a stop/start happened');
});

t.test("the compile cache lives in the unit's CacheDirectory=, which restarts keep (PrivateTmp= empties /tmp)", async (t) => {
  // The guest runs the host's /usr/bin/node, whichever Node runs this suite.
  const node = (await sh('node -p process.versions.node')).trim();
  const [major, minor] = node.split('.').map(Number) as [number, number];
  t.match(await sh('systemctl show -p CacheDirectory chaussette@app.service'), /CacheDirectory=chaussette\/app/);
  // Written at the latest by the processes the restarts above stopped.
  const files = (await sh('find /var/cache/private/chaussette/app/node-compile-cache -type f -printf "%P %u %m\\n"')).trim().split('\n');
  t.comment(`compile cache of chaussette@app: ${files.join(', ')}`);
  if (major > 22 || (major === 22 && minor >= 8)) {
    // Node's own cache: a directory per Node version and flags, a file per module (the bundle and the app).
    t.ok(files.filter((line) => line.startsWith(`v${node}-`)).length >= 2, 'the bundle and the app module');
  } else {
    t.match(files.join('\n'), /^chaussette-v[\d.]+-[0-9a-f]{8}\.v8cache \S+ 600$/m, "the bundle's V8 cache, readable by its owner only");
  }
});

t.test('--workers: systemctl reload under load replaces every worker; the main PID stays, no request fails', async (t) => {
  await machine.writeFile('/etc/chaussette/pool.env', `CHAUSSETTE_APP=${APPS}/pid.mjs\nCHAUSSETTE_WORKERS=2\n`);
  await sh('systemctl start chaussette@pool.socket');
  await sh('curl -sS --unix-socket /run/chaussette/pool.sock http://pool/');
  const primary = (await show('chaussette@pool.service', 'MainPID')).MainPID!;
  const workersOf = async () => (await sh(`pgrep -P ${primary} || true`)).trim().split('\n').filter(Boolean).sort();
  const first = await workersOf();
  t.equal(first.length, 2, 'two workers under the main process');
  t.match((await readyState('chaussette@pool.service')).StatusText, /^Serving unix:\/run\/chaussette\/pool\.sock \(http, 2 workers\)/);

  await sh('rm -f /run/load-done');
  const load = machine.exec(`${LOAD} --socket /run/chaussette/pool.sock --ms 45000 --stop-file /run/load-done --keep-alive 4 --new 4`, { timeoutMs: 90_000 });
  const generations = [first];
  for (let reload = 0; reload < 2; reload++) {
    // Once the workers serving have taken connections of the load: the new ones must answer before they are replaced.
    await takingLoad('/run/chaussette/pool.sock', generations.at(-1)!);
    const started = Date.now();
    await sh('systemctl reload chaussette@pool.service');
    await waitFor('the reload to finish', async () => {
      const state = await show('chaussette@pool.service', 'ActiveState', 'StatusText');
      return state.ActiveState === 'active' && state.StatusText?.startsWith('Serving') ? true : undefined;
    });
    t.comment(`systemctl reload, until active again with new workers: ${Date.now() - started} ms`);
    // The new workers: pgrep also lists a replaced one still draining (it takes no new connection).
    generations.push((await workersOf()).filter((pid) => !generations.flat().includes(pid)));
  }
  await takingLoad('/run/chaussette/pool.sock', generations.at(-1)!);
  await sh('touch /run/load-done');
  const result = await load;
  t.equal(result.code, 0, result.stderr);
  const counts = JSON.parse(result.stdout) as { sent: number; failed: number; errors: Record<string, number>; pids: Record<string, number> };
  t.comment(`reload under load: ${counts.sent} requests, ${counts.failed} failed (none resent); per process ${JSON.stringify(counts.pids)}`);
  t.equal(counts.failed, 0, `no failed request (${JSON.stringify(counts.errors)})`);
  t.equal(new Set(generations.flat()).size, 6, 'each reload brought two new workers');
  for (const pid of [...generations[1]!, ...generations[2]!]) t.ok(counts.pids[pid], `new worker ${pid} answered`);
  const state = await show('chaussette@pool.service', 'MainPID', 'NRestarts');
  t.equal(state.MainPID, primary, 'the main process stayed: a reload, not a restart');
  t.equal(state.NRestarts, '0');
  t.ok(await journalWith('chaussette@pool.service', /Reloaded: 2 new workers serving/));

  await sh('systemctl stop chaussette@pool.service');
  const stopped = await show('chaussette@pool.service', 'Result', 'ExecMainStatus');
  t.equal(stopped.Result, 'success', 'KillMode=mixed: SIGTERM to the primary, which stops its workers');
  t.equal(stopped.ExecMainStatus, '0');
  t.equal((await machine.exec(`pgrep -P ${primary}`)).code, 1, 'no worker left behind');
});

t.test('systemctl reload of a single process is a logged no-op, never a kill', async (t) => {
  await sh('systemctl start chaussette@app.service');
  const before = (await show('chaussette@app.service', 'MainPID')).MainPID;
  await sh('systemctl reload chaussette@app.service');
  // ExecReload= only sends SIGHUP: wait until chaussette says it handled it.
  const journal = await journalWith('chaussette@app.service', /Received SIGHUP: nothing reloaded/);
  const after = await show('chaussette@app.service', 'MainPID', 'ActiveState');
  t.equal(after.ActiveState, 'active');
  t.equal(after.MainPID, before, 'the same process serves');
  t.match(journal, /Received SIGHUP: nothing reloaded/);
});

t.test('a drain longer than TimeoutStopSec= is extended honestly: the request in flight completes', async (t) => {
  await machine.writeFile('/etc/chaussette/long.env', `CHAUSSETTE_APP=${APPS}/slow.mjs\nCHAUSSETTE_GRACEFUL_TIMEOUT=8\n`);
  await dropIn('chaussette@long.service', '[Service]\nTimeoutStopSec=2s\n');
  await sh('systemctl daemon-reload && systemctl start chaussette@long.socket');
  await sh('curl -sS --unix-socket /run/chaussette/long.sock "http://long/?ms=0"');
  const slow = machine.exec('curl -sS -i -m 20 --unix-socket /run/chaussette/long.sock "http://long/?ms=4500"', { timeoutMs: 30_000 });
  await journalWith('chaussette@long.service', /^arrived: \/\?ms=4500 /m);
  const stopping = Date.now();
  await sh('systemctl stop chaussette@long.service', 30_000);
  const stoppedAfter = Date.now() - stopping;
  const answer = await slow;
  t.equal(answer.code, 0, answer.stderr);
  t.match(answer.stdout, /^HTTP\/1\.1 200 OK/, 'answered, 4.5 s after it came, though TimeoutStopSec=2s');
  t.match(answer.stdout, /done after 4500 ms/);
  t.ok(stoppedAfter > 3000 && stoppedAfter < 8000, `stopped after ${stoppedAfter} ms: when the drain ended, not at the stop timeout`);
  const state = await show('chaussette@long.service', 'Result', 'ExecMainStatus');
  t.equal(state.Result, 'success', 'not killed by the stop timeout');
  t.equal(state.ExecMainStatus, '0');
});

t.test('a blocked event loop: the watchdog kills the process, a new one serves', async (t) => {
  await machine.writeFile('/etc/chaussette/wd.env', `CHAUSSETTE_APP=${APPS}/health.mjs\n`);
  await dropIn('chaussette@wd.service', '[Service]\nWatchdogSec=2s\nStartLimitIntervalSec=0\n');
  await sh('systemctl daemon-reload && systemctl start chaussette@wd.socket');
  const before = (await sh('curl -sS --unix-socket /run/chaussette/wd.sock http://wd/pid')).trim();
  const started = Date.now();
  const blocked = await machine.exec('curl -sS -m 20 --unix-socket /run/chaussette/wd.sock "http://wd/block?ms=15000"', { timeoutMs: 30_000 });
  const killedAfter = Date.now() - started;
  t.not(blocked.code, 0, 'the blocked request never got its answer: the process was killed');
  t.ok(killedAfter < 6000, `killed ${killedAfter} ms after the loop blocked (WatchdogSec=2s)`);
  t.comment(`watchdog kill: ${killedAfter} ms from the blocking request to the connection dropping (WatchdogSec=2s)`);
  // systemd logs the result once it has reaped the process, which may be after the connection dropped.
  const journal = await journalWith('chaussette@wd.service', /Failed with result 'watchdog'/, '');
  t.match(journal, /Watchdog timeout \(limit 2s\)!/);
  t.match(journal, /Failed with result 'watchdog'/);
  const after = await waitFor('a new process', async () => {
    const result = await machine.exec('curl -sS -m 5 --unix-socket /run/chaussette/wd.sock http://wd/pid');
    return result.code === 0 ? result.stdout.trim() : undefined;
  });
  t.not(after, before, `the next request was served by a new process (${before} -> ${after})`);
  t.ok(Number((await show('chaussette@wd.service', 'NRestarts')).NRestarts) >= 1, 'restarted by Restart=on-failure');
});

t.test('--watchdog-probe: an app that stops answering its health path is restarted', async (t) => {
  await machine.writeFile('/etc/chaussette/probe.env', `CHAUSSETTE_APP=${APPS}/health.mjs\nCHAUSSETTE_WATCHDOG_PROBE=/health\n`);
  await dropIn('chaussette@probe.service', '[Service]\nWatchdogSec=2s\nStartLimitIntervalSec=0\n');
  await sh('systemctl daemon-reload && systemctl start chaussette@probe.socket');
  const before = (await sh('curl -sS --unix-socket /run/chaussette/probe.sock http://probe/pid')).trim();
  await sh('curl -sS --unix-socket /run/chaussette/probe.sock http://probe/sick');
  const after = await waitFor('a new process', async () => {
    const result = await machine.exec('curl -sS -m 5 --unix-socket /run/chaussette/probe.sock http://probe/pid');
    const pid = result.stdout.trim();
    return result.code === 0 && pid !== before ? pid : undefined;
  });
  t.not(after, before, `the event loop was free, yet the failing probe got ${before} replaced by ${after}`);
  const journal = await journalWith('chaussette@probe.service', /Failed with result 'watchdog'/);
  t.match(journal, /Watchdog: not pinging, the probe failed \(\/health answered 503\)/);
  t.match(journal, /Failed with result 'watchdog'/);
  t.equal((await sh('curl -sS -o /dev/null -w "%{http_code}" --unix-socket /run/chaussette/probe.sock http://probe/health')).trim(), '200', 'the new process is healthy');
});

t.test('two sockets (TCP and unix) with FileDescriptorName=: served together, or chosen with --fd NAME', async (t) => {
  await machine.writeFile('/etc/systemd/system/duo-web.socket', '[Socket]\nListenStream=127.0.0.1:8081\nFileDescriptorName=web\nService=duo.service\n');
  await machine.writeFile('/etc/systemd/system/duo-admin.socket', '[Socket]\nListenStream=/run/duo-admin.sock\nFileDescriptorName=admin\nService=duo.service\n');
  await machine.writeFile(
    '/etc/systemd/system/duo.service',
    `[Service]\nType=notify\nSockets=duo-web.socket duo-admin.socket\nExecStart=/usr/bin/chaussette ${APPS}/pid.mjs\nDynamicUser=yes\n`,
  );
  await sh('systemctl daemon-reload && systemctl start duo-web.socket duo-admin.socket');
  const web = (await sh('curl -sS http://127.0.0.1:8081/')).trim();
  const admin = (await sh('curl -sS --unix-socket /run/duo-admin.sock http://duo/')).trim();
  t.equal(web, admin, 'one process serves both');
  // Two socket units for one service: systemd passes their fds in no set order (sd_listen_fds(3)).
  const both = (await show('duo.service', 'StatusText')).StatusText;
  t.match(both, /^Serving (127\.0\.0\.1:8081, unix:\/run\/duo-admin\.sock|unix:\/run\/duo-admin\.sock, 127\.0\.0\.1:8081) \(http\)/);
  const journal = await journalWith('duo.service', /Serving on fd [34] \(admin\)/);
  t.match(journal, /Serving on fd [34] \(web\) -> 127\.0\.0\.1:8081/);
  t.match(journal, /Serving on fd [34] \(admin\) -> unix:\/run\/duo-admin\.sock/);

  await dropIn('duo.service', '[Service]\nEnvironment=CHAUSSETTE_FD=admin\n');
  await sh('systemctl daemon-reload && systemctl restart duo.service');
  t.match((await show('duo.service', 'StatusText')).StatusText, /^Serving unix:\/run\/duo-admin\.sock \(http\)/, '--fd admin serves the unix socket only');
  t.match((await sh('curl -sS --unix-socket /run/duo-admin.sock http://duo/')).trim(), /^\d+$/);
});

t.test('Accept=yes: one instance per connection, each answering and exiting', async (t) => {
  await machine.writeFile('/etc/systemd/system/perconn.socket', '[Socket]\nListenStream=127.0.0.1:8082\nAccept=yes\n');
  await machine.writeFile(
    '/etc/systemd/system/perconn@.service',
    `[Service]\nType=notify\nExecStart=/usr/bin/chaussette ${APPS}/pid.mjs\nDynamicUser=yes\nCollectMode=inactive-or-failed\n`,
  );
  await sh('systemctl daemon-reload && systemctl start perconn.socket');
  const first = (await sh('curl -sS http://127.0.0.1:8082/')).trim();
  const second = (await sh('curl -sS http://127.0.0.1:8082/')).trim();
  t.match(first, /^\d+$/);
  t.not(first, second, 'a process per connection');
  const left = await waitFor('the instances to finish', async () => {
    const units = (await sh("systemctl list-units --no-legend --state=active 'perconn@*'")).trim();
    return units === '' ? 'none' : undefined;
  });
  t.equal(left, 'none', 'each instance exited when its connection closed');
  t.equal(Number((await show('perconn.socket', 'NAccepted')).NAccepted), 2);
  const journal = await journalWith('"perconn@*"', /Serving on fd 3: one connection/, '-o cat -t chaussette');
  t.match(journal, /Serving on fd 3: one connection from 127\.0\.0\.1:\d+ to 127\.0\.0\.1:8082 \(Accept=yes\)/);
});

t.test('priorities reach the journal: journalctl -p err shows a failed request and none of the info lines', async (t) => {
  // One instance served by the process itself, one by workers (they inherit its journal stream).
  for (const [name, env] of [['faulty', ''], ['faultypool', 'CHAUSSETTE_WORKERS=2\n']] as const) {
    await machine.writeFile(`/etc/chaussette/${name}.env`, `CHAUSSETTE_APP=${APPS}/faulty.mjs\n${env}`);
    await sh(`systemctl start chaussette@${name}.socket`);
    const code = await sh(`curl -sS -o /dev/null -w '%{http_code}' --unix-socket /run/chaussette/${name}.sock http://${name}/throw`);
    t.equal(code, '500', `${name}: the throwing request was answered 500`);
    const journal = (priority: string) => sh(`journalctl --no-pager -o cat -p ${priority} -u chaussette@${name}.service`);
    const errors = await waitFor(`${name}: the error in the journal`, async () => {
      const text = await journal('err');
      return text.includes('request failed') ? text : undefined;
    });
    t.match(errors, /^request failed: the app threw (worker=\d )?method=GET url=\/throw err="Error: sync failure in the app\\n {4}at faulty /m, `${name}: -p err shows the failure, its stack on its line`);
    t.notMatch(errors, /Serving on|Using http backend|Application is/, `${name}: -p err shows no info line`);
    // With workers, the first one answers before the primary, seeing every worker ready, logs "Serving on".
    const info = await waitFor(`${name}: the info lines in the journal`, async () => {
      const text = await journal('info');
      return /^Serving on /m.test(text) ? text : undefined;
    });
    t.match(info, /^Serving on fd 3 \(http\) -> unix:\/run\/chaussette\/\w+\.sock$/m, `${name}: -p info has the info lines`);
    t.match(info, /^request failed: the app threw/m, `${name}: and the error`);
    t.notMatch(info, /^<\d>/m, `${name}: journald took every prefix as a priority`);
    t.notMatch(info, /^\s+at /m, `${name}: no stack line lost its record`);
    const records = (await sh(`journalctl --no-pager -o json -u chaussette@${name}.service`))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { MESSAGE: string; PRIORITY: string });
    const priorityOf = (start: string) => records.find((record) => String(record.MESSAGE).startsWith(start))?.PRIORITY;
    t.equal(priorityOf('request failed'), '3', `${name}: PRIORITY=3 (err)`);
    t.equal(priorityOf('Serving on'), '6', `${name}: PRIORITY=6 (info)`);
  }
});

t.test('a startup failure says why in systemctl status', async (t) => {
  await machine.writeFile('/etc/chaussette/broken.env', 'CHAUSSETTE_APP=/srv/missing/server.js\n');
  const start = await machine.exec('systemctl start chaussette@broken.service');
  t.not(start.code, 0, 'the start fails');
  const state = await show('chaussette@broken.service', 'ActiveState', 'Result', 'ExecMainStatus', 'StatusText', 'StatusErrno');
  t.equal(state.ActiveState, 'failed');
  t.equal(state.ExecMainStatus, '78', 'EX_CONFIG');
  const status = (await machine.exec('systemctl status --no-pager -n 20 chaussette@broken.service')).stdout;
  t.match(status, /ERR_APP_NOT_FOUND: app "\/srv\/missing\/server\.js": cannot find module/);
  t.comment(`StatusText after the failure: ${JSON.stringify(state.StatusText)}, StatusErrno=${state.StatusErrno}`);
  t.equal(Number((await show('chaussette@broken.service', 'NRestarts')).NRestarts), 0, 'no restart loop for a configuration error');
});

t.test('an instance configured by /etc/chaussette/NAME.conf alone; a bad one fails with its line', async (t) => {
  await machine.writeFile(
    '/etc/chaussette/conf.conf',
    `# read by chaussette itself, as the DynamicUser\n[chaussette]\napp = ${APPS}/factory-args.mjs:create\nargs = "from the file"\nrequire = ${APPS}/preload.cjs\n`,
  );
  await sh('systemctl start chaussette@conf.socket');
  const body = await sh('curl -sS --unix-socket /run/chaussette/conf.sock http://conf/');
  t.same(JSON.parse(body), { args: ['from', 'the', 'file'], preloaded: 'yes' }, 'the app, its args and the preload named in the file');
  t.equal((await show('chaussette@conf.service', 'ActiveState')).ActiveState, 'active');

  // The .env file, read by systemd, still wins over the .conf file.
  await machine.writeFile('/etc/chaussette/conf.env', 'CHAUSSETTE_ARGS=from-env\n');
  await sh('systemctl restart chaussette@conf.service');
  t.same(JSON.parse(await sh('curl -sS --unix-socket /run/chaussette/conf.sock http://conf/')).args, ['from-env']);

  await machine.writeFile('/etc/chaussette/badconf.conf', `app = ${APPS}/pid.mjs\nprot = 8080\n`);
  const start = await machine.exec('systemctl start chaussette@badconf.service');
  t.not(start.code, 0, 'the start fails');
  const state = await show('chaussette@badconf.service', 'ExecMainStatus', 'NRestarts');
  t.same(state, { ExecMainStatus: '78', NRestarts: '0' }, 'EX_CONFIG, and no restart loop');
  const journal = await journalWith('chaussette@badconf.service', /ERR_CONFIG/);
  t.match(journal, /chaussette: ERR_CONFIG: \/etc\/chaussette\/badconf\.conf line 2: unknown key "prot" \(hint: did you mean "port"\?/);
});

/**
 * A drop-in's lines that make an install whose addon did not build (or was
 * built for another Node): the package's build and the prebuilt ones hidden.
 */
const HIDE_ADDONS = `TemporaryFileSystem=${LIB}/node_modules/sd-notify:ro\nInaccessiblePaths=-${LIB}/dist/addons\n`;

t.test('readiness through both transports: the addon, and systemd-notify when the addon is missing', async (t) => {
  await machine.writeFile('/etc/chaussette/viaaddon.env', `CHAUSSETTE_APP=${APPS}/pid.mjs\n`);
  await sh('systemctl start chaussette@viaaddon.service');
  t.equal((await show('chaussette@viaaddon.service', 'ActiveState')).ActiveState, 'active', 'Type=notify start returned: READY=1 arrived');
  t.ok(await journalWith('chaussette@viaaddon.service', /through the sd-notify addon/));

  // An install where the addon did not build: hide it; systemd-notify needs NotifyAccess=all.
  await machine.writeFile('/etc/chaussette/viahelper.env', `CHAUSSETTE_APP=${APPS}/pid.mjs\n`);
  // systemctl cannot answer a DynamicUser: the unit repeats NotifyAccess=all for chaussette.
  await dropIn('chaussette@viahelper.service', `[Service]\n${HIDE_ADDONS}NotifyAccess=all\nEnvironment=CHAUSSETTE_NOTIFY_ACCESS=all\nWatchdogSec=4s\n`);
  await sh('systemctl daemon-reload && systemctl start chaussette@viahelper.service');
  const state = await show('chaussette@viahelper.service', 'ActiveState', 'StatusText');
  t.equal(state.ActiveState, 'active', 'READY=1 arrived through systemd-notify');
  t.match(state.StatusText, /^Serving unix:\/run\/chaussette\/viahelper\.sock \(http\)/);
  const journal = await journalWith('chaussette@viahelper.service', /systemd takes its messages/);
  t.match(journal, /through \/usr\/bin\/systemd-notify, one process per message/);
  t.match(journal, /systemd takes its messages: chaussette@viahelper\.service has NotifyAccess=all/, 'as the unit said');
  // Not a wait for an event: proof that no watchdog restart comes in more than a WatchdogSec.
  await sleep(5000);
  t.equal((await show('chaussette@viahelper.service', 'NRestarts')).NRestarts, '0', 'its watchdog pings arrive too (WatchdogSec=4s outlived)');
  await sh('systemctl stop chaussette@viahelper.service');
  t.equal((await show('chaussette@viahelper.service', 'Result')).Result, 'success', 'STOPPING=1 and a clean exit');
});

t.test('no addon for this Node under NotifyAccess=main: ERR_NOTIFY and exit 78 at once, not a start timeout', async (t) => {
  await machine.writeFile('/etc/chaussette/noaddon.env', `CHAUSSETTE_APP=${APPS}/pid.mjs\n`);
  // The shipped unit as it is (NotifyAccess=main, DynamicUser=yes), with the addons hidden.
  await dropIn('chaussette@noaddon.service', `[Service]\n${HIDE_ADDONS}`);
  await sh('systemctl daemon-reload');
  // Within the exec's own limit (20 s), far below TimeoutStartSec= (90 s): no waiting for READY=1.
  const start = await machine.exec('systemctl start chaussette@noaddon.service');
  t.not(start.code, 0, 'the start fails');
  const state = await show('chaussette@noaddon.service', 'ActiveState', 'Result', 'ExecMainStatus', 'NRestarts', 'NotifyAccess');
  t.same(state, { ActiveState: 'failed', Result: 'exit-code', ExecMainStatus: '78', NRestarts: '0', NotifyAccess: 'main' }, 'EX_CONFIG, no restart loop');
  const journal = await journalWith('chaussette@noaddon.service', /ERR_NOTIFY/);
  const line = journal.split('\n').find((l) => l.includes('ERR_NOTIFY')) ?? '';
  t.match(line, /^chaussette: ERR_NOTIFY: NOTIFY_SOCKET is set but the sd-notify addon did not load \(no \/usr\/lib\/chaussette\/dist\/addons\/abi\d+\/sd_notify\.node for this Node\.js \(ABI \d+\); the sd-notify package: /);
  // As a DynamicUser, systemctl cannot ask D-Bus: unknown, which inside a service is no bet on systemd-notify.
  t.match(line, /\), and chaussette@noaddon\.service's NotifyAccess= is unknown \(systemctl show --property=NotifyAccess --value chaussette@noaddon\.service failed: .*\): systemd would drop the messages of systemd-notify/);
  t.match(line, /\(hint: build the addon for this Node\.js \(ABI \d+\): cd \/usr\/lib\/chaussette && npm rebuild sd-notify \(needs libsystemd-dev, g\+\+ and make\);.* systemctl edit chaussette@noaddon\.service, NotifyAccess=all and Environment=CHAUSSETTE_NOTIFY_ACCESS=all\)$/);

  // Run as root, where systemctl answers: systemd says NotifyAccess=main.
  await dropIn('chaussette@noaddon.service', `[Service]\n${HIDE_ADDONS}DynamicUser=no\nUser=root\nCapabilityBoundingSet=\nPrivateUsers=no\n`);
  await sh('systemctl daemon-reload && systemctl reset-failed chaussette@noaddon.service');
  t.not((await machine.exec('systemctl start chaussette@noaddon.service')).code, 0, 'the start fails again');
  t.equal((await show('chaussette@noaddon.service', 'ExecMainStatus')).ExecMainStatus, '78');
  const second = await journalWith('chaussette@noaddon.service', /has NotifyAccess=main: systemd would drop/);
  const asked = second.split('\n').filter((l) => l.includes('ERR_NOTIFY')).at(-1) ?? '';
  t.match(asked, /\), and chaussette@noaddon\.service has NotifyAccess=main: systemd would drop/, 'as systemd answered');
  t.notMatch(journal, /Serving on/, 'it never served');
});
