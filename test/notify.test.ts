// Readiness, status, stopping and watchdog messages, as systemd would
// receive them: a real unix datagram socket in NOTIFY_SOCKET, a real
// chaussette process, real requests. Both transports: the sd-notify addon,
// and systemd-notify when the addon is missing (an install without
// libsystemd-dev, reproduced by an install tree without it).

import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { cleanEnv, FIXTURES, freePort, request, ROOT, runToExit, serve, sleep, startChaussette, waitForArrival, waitForLine, waitUntil } from './helpers.js';
import { startReceiver } from './notify-receiver.js';

const HEALTH_APP = join(FIXTURES, 'apps', 'health.mjs');
const SLOW_APP = join(FIXTURES, 'apps', 'slow.mjs');

/**
 * chaussette as installed where libsystemd-dev was missing: every dependency
 * but the sd-notify addon, and no prebuilt addons (dist/addons) either.
 */
function installWithoutAddon(t: Test): string {
  const root = mkdtempSync(join(tmpdir(), 'chaussette-no-addon-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true, filter: (source) => source !== join(ROOT, 'dist', 'addons') });
  cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  mkdirSync(join(root, 'node_modules'));
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry !== 'sd-notify') symlinkSync(join(ROOT, 'node_modules', entry), join(root, 'node_modules', entry));
  }
  return root;
}

t.test('the sd-notify addon was built (libsystemd-dev present at install time)', async (t) => {
  const addon = createRequire(join(ROOT, 'package.json'))('sd-notify') as { sendState?: unknown };
  t.equal(typeof addon.sendState, 'function', 'built by npm ci, or by test/ensure-system-deps.sh once libsystemd-dev is in');
});

t.test('addon transport: READY=1 once listening, then STATUS, STOPPING and the drain', async (t) => {
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const port = await freePort();
  const running = await startChaussette(['--host', '127.0.0.1', '--port', String(port), SLOW_APP], {
    env: cleanEnv({ NOTIFY_SOCKET: receiver.address }),
  });
  t.teardown(() => running.stop('SIGKILL'));

  const ready = await receiver.waitFor('READY', '1');
  t.equal(ready.pid, running.child.pid, 'sent by chaussette itself: the main PID is ours');
  t.match(ready.fields.STATUS, `Serving 127.0.0.1:${port} (http): no requests yet`, 'the first status rides with READY=1');
  t.ok(
    running.lines.findIndex((line) => line.msg.startsWith('Serving on')) >= 0,
    'READY=1 came after the listener was open',
  );
  t.ok(running.lines.some((line) => line.msg.includes('through the sd-notify addon')), 'the transport is logged');
  t.equal(running.lines.filter((line) => /Notifying systemd/.test(line.msg)).length, 1, 'once');

  // A request in flight when SIGTERM comes: the drain reports it, then finishes it.
  const inFlight = request({ port, path: '/?ms=2500' });
  await waitForArrival(running, '/?ms=2500');
  const before = receiver.messages.length;
  running.child.kill('SIGTERM');
  const stopping = await receiver.waitFor('STOPPING', '1', 3000, before);
  t.match(stopping.fields.STATUS, /^Stopping: draining 1 request on 1 connection, 30 s left$/);
  t.equal(stopping.fields.EXTEND_TIMEOUT_USEC, String(35_000_000), 'asks for the graceful timeout plus slack, no more');
  const progress = await receiver.waitFor('STATUS', /^Stopping: draining 1 request on 1 connection, 29 s left$/, 3000, before);
  t.ok(Number(progress.fields.EXTEND_TIMEOUT_USEC) <= 34_100_000, 'the extension shrinks with the time left');
  t.equal((await inFlight).status, 200, 'the request in flight was answered');
  t.equal(await running.exited, 0);
});

t.test('STATUS lines count requests and connections at a modest pace', async (t) => {
  // In-process, with a 100 ms pace instead of 10 s, against real servers and requests.
  const { createServer } = await import('node:http');
  const { countRequests, startStatusReports, servingStatus } = await import('../src/systemd/status.js');
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const sent: Array<Record<string, string | number>> = [];
  const notifier = { transport: 'sd-notify' as const, report: undefined, notify: (fields: Record<string, string | number>) => void sent.push(fields), settled: async () => {} };
  const counting = countRequests([server]);
  t.teardown(counting.stop);
  const reports = startStatusReports(notifier, counting.sample, (r, c, s) => servingStatus([`127.0.0.1:${port}`], 'http', r, c, s), 100);
  t.teardown(() => reports.stop());

  // Not a wait for an event: proof that three paces with nothing new send nothing.
  await sleep(350);
  t.equal(sent.length, 0, 'nothing new to say: nothing sent');
  for (let i = 0; i < 5; i++) t.equal((await request({ port, path: '/' })).status, 200);
  await waitUntil(() => / 5 requests, /.test(String(sent.at(-1)?.STATUS)), 5000, () => `a STATUS line counting the 5 requests; got ${JSON.stringify(sent)}`);
  const last = String(sent.at(-1)?.STATUS);
  t.match(last, new RegExp(`^Serving 127\\.0\\.0\\.1:${port} \\(http\\): 5 requests, \\d+ open connections?, [\\d.]+ req/s$`));
  t.ok(sent.length <= 3, `a few lines for 5 requests, never one per request (${sent.length})`);
  t.equal(servingStatus(['a', 'b', 'c', 'd'], 'http', 1234, 3, 12.345), 'Serving 4 sockets (http): 1234 requests, 3 open connections, 12.3 req/s');
});

t.test('an abstract NOTIFY_SOCKET (@name) works too', async (t) => {
  const receiver = await startReceiver({ abstract: true });
  t.teardown(receiver.close);
  const running = await serve(t, [], { env: cleanEnv({ NOTIFY_SOCKET: receiver.address }) });
  const ready = await receiver.waitFor('READY', '1');
  t.equal(ready.pid, running.child.pid);
  t.equal(await running.stop(), 0);
});

t.test('no NOTIFY_SOCKET: nothing is attempted', async (t) => {
  const { createNotifier } = await import('../src/systemd/notify.js');
  const notifier = await createNotifier({}, () => t.fail('no warning expected'));
  t.equal(notifier.transport, 'none');
  t.equal(notifier.report, undefined);
  const running = await serve(t, []);
  t.equal((await request({ port: running.port(), path: '/' })).status, 200);
  t.equal(await running.stop(), 0);
  // Once it exited, so that a word logged after the start (a watchdog line, say) counts too.
  t.notOk(running.lines.some((line) => /Notifying|NOTIFY_SOCKET|Watchdog/.test(line.msg)), 'not a word about systemd');
});

t.test('without the addon: systemd-notify carries the messages, and says so once', async (t) => {
  const install = installWithoutAddon(t);
  const bin = join(install, 'dist', 'bin.cjs');
  t.throws(() => createRequire(bin).resolve('sd-notify'), 'this install really has no addon');
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const running = await serve(t, [], {
    command: [process.execPath, bin],
    env: cleanEnv({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '2000000' }),
  });
  const ready = await receiver.waitFor('READY', '1');
  t.match(ready.fields.STATUS, /^Serving 127\.0\.0\.1:\d+ \(http\): no requests yet$/);
  t.equal(ready.pid, running.child.pid, 'as root, systemd-notify sends in the name of its parent: chaussette');
  await receiver.waitFor('WATCHDOG', '1');
  const reports = running.lines.filter((line) => /Notifying systemd/.test(line.msg));
  t.equal(reports.length, 1, 'the transport is logged once');
  t.match(reports[0]?.msg, /through \/\S*systemd-notify, one process per message, because the sd-notify addon did not load \(.*sd-notify.*\); (this needs NotifyAccess=all|systemd takes its messages: chaussette has CAP_SYS_ADMIN)/);
  t.equal(reports[0]?.level, 40, 'as a warning: the unit needs NotifyAccess=all');
  const before = receiver.messages.length;
  running.child.kill('SIGTERM');
  await receiver.waitFor('STOPPING', '1', 5000, before);
  t.equal(await running.exited, 0);
});

/** A real sd-notify addon built for another Node ABI than this one: dist/addons has them after scripts/build-addons.sh, else one is built. */
async function addonOfAnotherAbi(t: Test): Promise<{ abi: string; file: string }> {
  const built = join(ROOT, 'dist', 'addons');
  const other = existsSync(built) ? readdirSync(built).find((entry) => entry !== `abi${process.versions.modules}` && existsSync(join(built, entry, 'sd_notify.node'))) : undefined;
  if (other) return { abi: other.slice(3), file: join(built, other, 'sd_notify.node') };
  const out = mkdtempSync(join(tmpdir(), 'chaussette-addons-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const major = process.versions.node.startsWith('22.') ? '24' : '22';
  const { stdout } = await promisify(execFile)('bash', [join(ROOT, 'scripts', 'build-addons.sh'), out, major], { timeout: 600_000 });
  const file = stdout.trim().split('\n').at(-1) ?? '';
  t.ok(existsSync(file), `scripts/build-addons.sh built one for Node ${major}`);
  return { abi: /abi(\d+)/.exec(file)![1]!, file };
}

/** The sd-notify addon this Node loads: the prebuilt one for its ABI, or the package's own build (npm ci built it for this Node). */
function addonOfThisAbi(): string {
  const prebuilt = join(ROOT, 'dist', 'addons', `abi${process.versions.modules}`, 'sd_notify.node');
  return existsSync(prebuilt) ? prebuilt : join(ROOT, 'node_modules', 'sd-notify', 'build', 'Release', 'notify.node');
}

t.test('NotifyAccess: the unit from /proc/self/cgroup, systemd asked, and the verdict on systemd-notify', async (t) => {
  const { askNotifyAccess, hasSysAdmin, serviceUnitFromCgroup, systemdNotifyVerdict } = await import('../src/systemd/notify-access.js');
  t.same(serviceUnitFromCgroup('0::/system.slice/system-chaussette.slice/chaussette@app.service\n'), { name: 'chaussette@app.service', user: false });
  t.same(serviceUnitFromCgroup('0::/system.slice/app.service/payload\n'), { name: 'app.service', user: false }, 'a Delegate= subgroup');
  t.same(serviceUnitFromCgroup('0::/user.slice/user-1000.slice/user@1000.service/app.slice/web.service\n'), { name: 'web.service', user: true });
  t.same(serviceUnitFromCgroup('12:pids:/x\n1:name=systemd:/system.slice/legacy.service\n'), { name: 'legacy.service', user: false }, 'cgroup v1');
  t.equal(serviceUnitFromCgroup('0::/user.slice/user-0.slice/session-3.scope\n'), undefined, 'a login session');
  t.equal(serviceUnitFromCgroup('0::/\n'), undefined, 'a container without systemd');

  t.equal(hasSysAdmin('CapEff:\t000001ffffffffff\n'), true, 'root');
  t.equal(hasSysAdmin('CapEff:\t0000000000000000\n'), false, 'a DynamicUser');
  t.equal(hasSysAdmin('CapEff:\t0000000000200000\n'), true, 'CAP_SYS_ADMIN alone');

  t.equal(systemdNotifyVerdict('all', false, true), 'accepted');
  t.equal(systemdNotifyVerdict('main', false, true), 'refused');
  t.equal(systemdNotifyVerdict('exec', false, true), 'refused');
  t.equal(systemdNotifyVerdict('main', true, true), 'accepted', 'systemd-notify sends in its parent\'s name');
  t.equal(systemdNotifyVerdict(undefined, false, true), 'refused', 'a service systemd would not describe: no bet on the fallback');
  t.equal(systemdNotifyVerdict(undefined, true, true), 'accepted');
  t.equal(systemdNotifyVerdict(undefined, false, false), 'unknown', 'not under systemd (a test receiver, another manager)');

  const asked: string[][] = [];
  const answer = await askNotifyAccess('0::/user.slice/user-1000.slice/user@1000.service/app.slice/web.service\n', async (file, args) => {
    asked.push([file, ...args]);
    return 'main\n';
  });
  t.same(asked, [['systemctl', '--user', 'show', '--property=NotifyAccess', '--value', 'web.service']]);
  t.same(answer, { unit: { name: 'web.service', user: true }, access: 'main', why: undefined });
  const failed = await askNotifyAccess('0::/system.slice/a.service\n', async () => {
    throw new Error('Failed to connect to bus: No such file or directory');
  });
  t.equal(failed.access, undefined);
  t.equal(failed.why, 'systemctl show --property=NotifyAccess --value a.service failed: Failed to connect to bus: No such file or directory');
  t.equal((await askNotifyAccess('0::/\n', async () => t.fail('not asked') as never)).why, 'this process is not in a systemd service');
  t.same(await askNotifyAccess('0::/system.slice/a.service\n', async () => t.fail('not asked') as never, 'all'), { unit: { name: 'a.service', user: false }, access: 'all', why: undefined }, 'CHAUSSETTE_NOTIFY_ACCESS says');
});

t.test('wholeReason: every line of a reason, on one line', async (t) => {
  const { wholeReason } = await import('../src/systemd/notify.js');
  const error = Object.assign(new Error("The module '/x/notify.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 115."), { code: 'ERR_DLOPEN_FAILED' });
  t.equal(wholeReason(error), "ERR_DLOPEN_FAILED: The module '/x/notify.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 115.");
});

t.test('the prebuilt addon for this ABI is the one loaded, without the sd-notify package', async (t) => {
  const install = installWithoutAddon(t);
  const other = await addonOfAnotherAbi(t);
  const mine = join(install, 'dist', 'addons', `abi${process.versions.modules}`, 'sd_notify.node');
  for (const [file, source] of [[mine, addonOfThisAbi()], [join(install, 'dist', 'addons', `abi${other.abi}`, 'sd_notify.node'), other.file]] as const) {
    mkdirSync(dirname(file), { recursive: true });
    cpSync(source, file);
  }
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const running = await serve(t, [], { command: [process.execPath, join(install, 'dist', 'bin.cjs')], env: cleanEnv({ NOTIFY_SOCKET: receiver.address }) });
  const ready = await receiver.waitFor('READY', '1');
  t.equal(ready.pid, running.child.pid, 'sent by chaussette itself, through the addon (systemd-notify would be another pid without privileges)');
  const report = running.lines.find((line) => /Notifying systemd/.test(line.msg));
  t.equal(report?.msg, `Notifying systemd at ${receiver.address} through the sd-notify addon (${mine})`, `ABI ${process.versions.modules}, not ${other.abi}`);
  t.equal(await running.stop(), 0);
});

t.test('an addon of another ABI is never loaded, and the warning carries the whole reason', async (t) => {
  const install = installWithoutAddon(t);
  const other = await addonOfAnotherAbi(t);
  // One under its own ABI's name (looked past), one misplaced under ours (which Node refuses, in five lines).
  for (const abi of [other.abi, process.versions.modules]) {
    mkdirSync(join(install, 'dist', 'addons', `abi${abi}`), { recursive: true });
    cpSync(other.file, join(install, 'dist', 'addons', `abi${abi}`, 'sd_notify.node'));
  }
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const running = await serve(t, [], { command: [process.execPath, join(install, 'dist', 'bin.cjs')], env: cleanEnv({ NOTIFY_SOCKET: receiver.address }) });
  await receiver.waitFor('READY', '1');
  const report = running.lines.find((line) => /Notifying systemd/.test(line.msg));
  t.equal(report?.level, 40, 'the systemd-notify fallback, as a warning');
  t.match(report?.msg, /through \/\S*systemd-notify, one process per message, because the sd-notify addon did not load/);
  t.match(
    report?.msg,
    `NODE_MODULE_VERSION ${other.abi}. This version of Node.js requires NODE_MODULE_VERSION ${process.versions.modules}. Please try re-compiling`,
    'Node\'s whole message, not its first line',
  );
  t.match(report?.msg, /the sd-notify package: .*Cannot find (module|package) 'sd-notify'/, 'and what the package fallback said');
  t.notMatch(report?.msg, /\n/, 'on one line');
  t.equal(await running.stop(), 0);
});

t.test('without the addon or systemd-notify: one clear error line, and serving goes on', async (t) => {
  const install = installWithoutAddon(t);
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const emptyPath = mkdtempSync(join(tmpdir(), 'empty-path-'));
  const running = await serve(t, [], {
    command: [process.execPath, join(install, 'dist', 'bin.cjs')],
    env: cleanEnv({ NOTIFY_SOCKET: receiver.address, PATH: emptyPath }),
  });
  const error = running.lines.find((line) => line.level === 50);
  t.match(error?.msg, /NOTIFY_SOCKET is set but systemd cannot be told anything: the sd-notify addon did not load .* and systemd-notify is not on PATH; install libsystemd-dev/);
  t.equal((await request({ port: running.port(), path: '/' })).status, 200);
  t.equal(receiver.messages.length, 0);
  t.equal(await running.stop(), 0);
});

for (const transport of ['addon', 'systemd-notify'] as const) {
  t.test(`a failed start tells systemd why (${transport})`, async (t) => {
    const bin = transport === 'addon' ? join(ROOT, 'dist', 'bin.cjs') : join(installWithoutAddon(t), 'dist', 'bin.cjs');
    const receiver = await startReceiver();
    t.teardown(receiver.close);
    const missing = await runToExit(['./no/such/app.js'], { command: [process.execPath, bin], env: cleanEnv({ NOTIFY_SOCKET: receiver.address }) });
    t.equal(missing.code, 78);
    const failed = await receiver.waitFor('STATUS', /^Failed to start: /);
    t.match(failed.fields.STATUS, /^Failed to start: app "\.\/no\/such\/app\.js": cannot find module .*no\/such\/app\.js \(ERR_APP_NOT_FOUND\)$/);
    t.equal(failed.fields.ERRNO, '2', 'ENOENT');

    const badOption = await runToExit([], { command: [process.execPath, bin], env: cleanEnv({ NOTIFY_SOCKET: receiver.address, CHAUSSETTE_PORT: 'eighty' }) });
    t.equal(badOption.code, 64);
    const usage = await receiver.waitFor('STATUS', /CHAUSSETTE_PORT/);
    t.match(usage.fields.STATUS, /^Failed to start: CHAUSSETTE_PORT "eighty" is not a port number/);
    t.notOk('ERRNO' in usage.fields, 'no errno fits a usage error');
  });
}

t.test('a port in use is EADDRINUSE in ERRNO=', async (t) => {
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const holder = await serve(t, []);
  const result = await runToExit(['--host', '127.0.0.1', '--port', String(holder.port())], { env: cleanEnv({ NOTIFY_SOCKET: receiver.address }) });
  t.equal(result.code, 69);
  const failed = await receiver.waitFor('ERRNO');
  t.equal(failed.fields.ERRNO, '98');
  t.match(failed.fields.STATUS, /^Failed to start: 127\.0\.0\.1:\d+ is already in use \(ERR_ADDRESS_IN_USE\)$/);
});

/** Gaps between successive WATCHDOG=1 messages, in ms. */
function pingGaps(messages: Array<{ at: number; fields: Record<string, string> }>): number[] {
  const pings = messages.filter((m) => m.fields.WATCHDOG === '1').map((m) => m.at);
  return pings.slice(1).map((at, i) => at - pings[i]!);
}

t.test('watchdog: a ping right after READY, then every half interval; none while the loop is stuck', async (t) => {
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const running = await serve(t, [HEALTH_APP], {
    env: cleanEnv({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '400000' }),
  });
  const ready = await receiver.waitFor('READY', '1');
  const first = await receiver.waitFor('WATCHDOG', '1');
  t.ok(first.at - ready.at < 100, `first ping ${Math.round(first.at - ready.at)} ms after READY=1`);
  // The line went down the stdout pipe before the ping went out, but the pipe can lag the datagram.
  t.ok(await waitForLine(running, (line) => line.msg === 'Watchdog: pinging systemd every 200 ms (WatchdogSec=0.4 s)'));
  // About a second of pinging (six pings, five gaps), however long the machine takes to deliver it.
  await waitUntil(() => pingGaps(receiver.messages).length >= 5, 5000, 'six watchdog pings', { wake: receiver.onMessage });
  const steady = pingGaps(receiver.messages);
  t.ok(steady.length >= 3, `${steady.length + 1} pings in about a second`);
  // The contract: a ping within every WATCHDOG_USEC (400 ms); aimed at every 200 ms.
  t.ok(steady.every((gap) => gap < 400), `steady gaps ${steady.map(Math.round).join(', ')} ms`);

  const from = receiver.messages.length;
  const blocked = await request({ port: running.port(), path: '/block?ms=1500' });
  t.equal(blocked.status, 200);
  await receiver.waitFor('WATCHDOG', '1', 2000, receiver.messages.length);
  const gaps = pingGaps(receiver.messages.slice(from - 1));
  t.ok(Math.max(...gaps) >= 1400, `no ping while the loop was stuck: longest gap ${Math.round(Math.max(...gaps))} ms`);
  t.ok(receiver.messages.slice(-1)[0]?.fields.WATCHDOG === '1', 'pings resume once the loop is free');
  t.equal(await running.stop(), 0);
});

t.test('watchdog: WATCHDOG_PID of another process means not ours to feed', async (t) => {
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const running = await serve(t, [join(FIXTURES, 'apps', 'echo-env.mjs')], {
    env: cleanEnv({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' }),
  });
  await receiver.waitFor('READY', '1');
  // Not a wait for an event: proof that no ping comes in five of its 100 ms periods.
  await sleep(500);
  t.notOk(receiver.messages.some((m) => 'WATCHDOG' in m.fields), 'no ping');
  const { env } = JSON.parse((await request({ port: running.port(), path: "/" })).body) as { env: Record<string, string> };
  t.notOk('WATCHDOG_USEC' in env || 'WATCHDOG_PID' in env, 'the app does not inherit the watchdog variables');
  t.equal(await running.stop(), 0);
});

t.test('--watchdog-probe: pings only while the app answers the path on its own socket', async (t) => {
  const receiver = await startReceiver();
  t.teardown(receiver.close);
  const socketDir = mkdtempSync(join(tmpdir(), 'probe-'));
  const path = join(socketDir, 'app.sock');
  const running = await startChaussette(['--host', `unix:${path}`, '--watchdog-probe', '/health', HEALTH_APP], {
    env: cleanEnv({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '400000' }),
  });
  t.teardown(() => running.stop('SIGKILL'));
  await receiver.waitFor('WATCHDOG', '1');
  t.equal((await request({ socketPath: path, path: '/sick' })).status, 200);
  const failed = await waitForLine(running, (line) => line.level === 50 && /^Watchdog: not pinging, the probe failed/.test(line.msg));
  const failedAt = failed.time;
  if (typeof failedAt !== 'number') throw new Error(`no time in ${JSON.stringify(failed)}`);
  // Not a wait for an event: proof that no ping comes for a second (five probe periods) while the
  // probe fails. A ping sent before the failure may still be on its way: count from the failure's time.
  await sleep(1000);
  t.equal(receiver.messages.filter((m) => 'WATCHDOG' in m.fields && m.at > failedAt).length, 0, 'no ping while /health answers 503');
  t.ok(running.lines.some((line) => line.level === 50 && /Watchdog: not pinging, the probe failed \(\/health answered 503\)/.test(line.msg)));
  const from = receiver.messages.length;
  t.equal((await request({ socketPath: path, path: '/well' })).status, 200);
  await receiver.waitFor('WATCHDOG', '1', 2000, from);
  // The line comes through a pipe, which can lag the ping's datagram: wait for it, do not just look.
  t.ok(await waitForLine(running, (line) => line.msg === 'Watchdog: /health answers again; pinging'));
  t.equal(await running.stop(), 0);
});

t.test('--watchdog-probe must be a path', async (t) => {
  const result = await runToExit(['--watchdog-probe', 'health']);
  t.equal(result.code, 64);
  t.match(result.stderr, /^chaussette: ERR_USAGE_VALUE: --watchdog-probe "health" is not a path starting with \//);
});
