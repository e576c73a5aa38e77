// The resolver's rules, one by one, as pure functions of (options, env, pid).
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { ChaussetteError } from '../src/errors.js';
import { resolveListenTargets, type SocketOptions } from '../src/sockets/resolve.js';
import { readActivation } from '../src/systemd/activation.js';
import { NR_OPEN_DEFAULT, openFileLimit, parseOpenFileLimit } from '../src/fd-limit.js';
import { thrown } from './helpers.js';

const PID = 4242;
/** An open-file limit for readActivation: fds 3 to 1023 may be passed. */
const LIMIT = 1024;
const defaults: SocketOptions = { fds: [], host: 'localhost', port: 8080, socketChoice: 'none' };
const systemd = (extra: NodeJS.ProcessEnv = {}) => ({ LISTEN_FDS: '2', LISTEN_PID: String(PID), LISTEN_FDNAMES: 'web:admin', ...extra });

const rejects = (t: Test, fn: () => unknown, code: string, pattern: RegExp, exitCode: number) => {
  const e = thrown(fn);
  t.ok(e instanceof ChaussetteError, 'a catalogued error');
  t.equal(e.code, code);
  t.match(e.oneLine(), pattern);
  t.equal(e.exitCode, exitCode);
  t.notMatch(e.oneLine(), /\n/, 'one line');
};

t.test('no socket option and no LISTEN_FDS: the default address', async (t) => {
  const { targets, warnings } = resolveListenTargets(defaults, {}, PID);
  t.same(targets, [{ kind: 'tcp', host: 'localhost', port: 8080 }]);
  t.same(warnings, []);
});

t.test('--host/--port bind TCP; [::1] loses its brackets', async (t) => {
  t.same(resolveListenTargets({ ...defaults, host: '127.0.0.1', port: 9000, socketChoice: 'address' }, {}, PID).targets, [
    { kind: 'tcp', host: '127.0.0.1', port: 9000 },
  ]);
  t.same(resolveListenTargets({ ...defaults, host: '[::1]', socketChoice: 'address' }, {}, PID).targets, [{ kind: 'tcp', host: '::1', port: 8080 }]);
});

t.test('--host unix:/path binds a unix socket', async (t) => {
  t.same(resolveListenTargets({ ...defaults, host: 'unix:/run/app.sock', socketChoice: 'address' }, {}, PID).targets, [
    { kind: 'unix', path: '/run/app.sock' },
  ]);
});

t.test('--fd N serves inherited fd N, any number, even 0', async (t) => {
  for (const fd of [0, 3, 7, 21]) {
    t.same(resolveListenTargets({ ...defaults, fds: [String(fd)], socketChoice: 'fd' }, {}, PID).targets, [{ kind: 'fd', fd, source: 'cli' }]);
  }
});

t.test('LISTEN_FDS for our pid: every passed fd from 3, with its name', async (t) => {
  t.same(resolveListenTargets(defaults, systemd(), PID).targets, [
    { kind: 'fd', fd: 3, source: 'systemd', name: 'web' },
    { kind: 'fd', fd: 4, source: 'systemd', name: 'admin' },
  ]);
});

t.test('LISTEN_FDNAMES absent: every name is "unknown"', async (t) => {
  const env = { LISTEN_FDS: '2', LISTEN_PID: String(PID) };
  t.same(
    resolveListenTargets(defaults, env, PID).targets.map((target) => target.kind === 'fd' && target.source === 'systemd' && target.name),
    ['unknown', 'unknown'],
  );
});

t.test('--fd NAME picks the systemd fd of that name; repeated names all serve', async (t) => {
  t.same(resolveListenTargets({ ...defaults, fds: ['admin'], socketChoice: 'fd' }, systemd(), PID).targets, [
    { kind: 'fd', fd: 4, source: 'systemd', name: 'admin' },
  ]);
  const twice = systemd({ LISTEN_FDS: '3', LISTEN_FDNAMES: 'web:admin:web' });
  t.same(
    resolveListenTargets({ ...defaults, fds: ['web'], socketChoice: 'fd' }, twice, PID).targets.map((target) => target.kind === 'fd' && target.fd),
    [3, 5],
  );
});

t.test('--fd 3 and --fd web naming the same fd serve it once', async (t) => {
  t.same(resolveListenTargets({ ...defaults, fds: ['3', 'web'], socketChoice: 'fd' }, systemd(), PID).targets, [{ kind: 'fd', fd: 3, source: 'cli' }]);
});

t.test('an unknown name lists the names that exist', async (t) => {
  rejects(t, () => resolveListenTargets({ ...defaults, fds: ['api'], socketChoice: 'fd' }, systemd(), PID), 'ERR_FD_NAME_UNKNOWN', /--fd api: no socket of that name; systemd passed "web", "admin"/, 78);
});

t.test('a name without systemd fds says why', async (t) => {
  rejects(t, () => resolveListenTargets({ ...defaults, fds: ['web'], socketChoice: 'fd' }, {}, PID), 'ERR_FD_NAME_NO_SYSTEMD', /LISTEN_FDS is not set/, 78);
  rejects(t, () => resolveListenTargets({ ...defaults, fds: ['web'], socketChoice: 'fd' }, systemd({ LISTEN_PID: '1' }), PID), 'ERR_FD_NAME_NO_SYSTEMD', /LISTEN_PID=1 but this process is 4242/, 78);
});

t.test('LISTEN_PID not ours: fds ignored, the default address served, a warning explains wrappers', async (t) => {
  const { targets, warnings } = resolveListenTargets(defaults, systemd({ LISTEN_PID: '1' }), PID);
  t.same(targets, [{ kind: 'tcp', host: 'localhost', port: 8080 }]);
  t.equal(warnings.length, 1);
  t.match(warnings[0], /ignoring LISTEN_FDS=2: LISTEN_PID=1 but this process is 4242.*wrapper \(npx, npm run, a shell script\).*exec/);
});

t.test('LISTEN_FDS without LISTEN_PID is not ours either', async (t) => {
  const { warnings } = resolveListenTargets(defaults, { LISTEN_FDS: '1' }, PID);
  t.match(warnings[0], /LISTEN_PID is not set/);
});

t.test('an explicit address wins over LISTEN_FDS', async (t) => {
  t.same(resolveListenTargets({ ...defaults, port: 9000, socketChoice: 'address' }, systemd(), PID).targets, [{ kind: 'tcp', host: 'localhost', port: 9000 }]);
});

t.test('LISTEN_FDS=0 means nothing was passed', async (t) => {
  t.same(readActivation({ LISTEN_FDS: '0', LISTEN_PID: String(PID) }, PID, LIMIT), { kind: 'none' });
});

t.test('malformed LISTEN_* variables are configuration errors', async (t) => {
  rejects(t, () => readActivation({ LISTEN_FDS: 'three', LISTEN_PID: String(PID) }, PID, LIMIT), 'ERR_LISTEN_FDS', /LISTEN_FDS="three" is not a number/, 78);
  rejects(t, () => readActivation({ LISTEN_FDS: '-1', LISTEN_PID: String(PID) }, PID, LIMIT), 'ERR_LISTEN_FDS', /LISTEN_FDS="-1"/, 78);
  rejects(t, () => readActivation({ LISTEN_FDS: '1', LISTEN_PID: 'me' }, PID, LIMIT), 'ERR_LISTEN_PID', /LISTEN_PID="me" is not a process id/, 78);
  rejects(t, () => readActivation(systemd({ LISTEN_FDNAMES: 'web' }), PID, LIMIT), 'ERR_LISTEN_FDNAMES', /LISTEN_FDNAMES has 1 name\(s\) but LISTEN_FDS=2/, 78);
});

t.test('LISTEN_FDS for us is bounded by the open-file limit: fds from 3 must stay below it', async (t) => {
  const ours = (count: string) => ({ LISTEN_FDS: count, LISTEN_PID: String(PID) });
  const at = readActivation(ours(String(LIMIT - 3)), PID, LIMIT);
  t.equal(at.kind === 'ours' && at.fds.at(-1)?.fd, LIMIT - 1, 'the last fd the limit allows');
  const over = /^chaussette: ERR_LISTEN_FDS_LIMIT: LISTEN_FDS=\S+ cannot be right: .*limit of 1024 open files \(RLIMIT_NOFILE\)/;
  rejects(t, () => readActivation(ours(String(LIMIT - 2)), PID, LIMIT), 'ERR_LISTEN_FDS_LIMIT', over, 78);
  rejects(t, () => readActivation(ours('100000000'), PID, LIMIT), 'ERR_LISTEN_FDS_LIMIT', over, 78);
  rejects(t, () => readActivation(ours('99999999999999999999999'), PID, LIMIT), 'ERR_LISTEN_FDS_LIMIT', /LISTEN_FDS=99999999999999999999999 cannot be right/, 78);
  t.same(readActivation({ LISTEN_FDS: '100000000', LISTEN_PID: '1' }, PID, LIMIT), { kind: 'not-ours', listenPid: 1, count: 100000000 }, "another process's fds are not ours to judge");
});

t.test('the open-file limit is the soft one of /proc/self/limits, with a bound even without /proc', async (t) => {
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n';
  t.equal(parseOpenFileLimit(limits), 1024);
  t.equal(parseOpenFileLimit('Max open files            unlimited            unlimited            files\n'), undefined);
  t.equal(openFileLimit(() => limits), 1024);
  t.equal(openFileLimit(() => { throw new Error('ENOENT'); }), NR_OPEN_DEFAULT);
  t.equal(openFileLimit(), parseOpenFileLimit(readFileSync('/proc/self/limits', 'utf8')), "this process's own");
});
