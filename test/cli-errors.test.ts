// Every bad input gets one line on stderr, with a code and a hint, and a
// deliberate exit code; never a stack trace, never a hang.
import t from 'tap';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOneLineExit, listeningSocket, PASS_FD, runToExit, startChaussette, stdioWith } from './helpers.js';

interface Case {
  name: string;
  args: string[];
  code: number;
  error: RegExp;
  env?: NodeJS.ProcessEnv;
  stdio?: import('node:child_process').StdioOptions;
  command?: string[];
}

const NODE = [process.execPath, 'dist/bin.cjs'];
const passFd = (kind: string, fd: number) => ['python3', PASS_FD, kind, String(fd), ...NODE];

// A configuration file whose fd lists nothing.
const dir = mkdtempSync(join(tmpdir(), 'chaussette-cli-errors-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const emptyFdFile = join(dir, 'empty-fd.conf');
writeFileSync(emptyFdFile, 'fd = ,\n');

const cases: Case[] = [
  { name: 'fd not open', args: ['--fd', '42'], code: 78, error: /ERR_FD_NOT_OPEN: fd 42 is not open in this process \(hint: the parent must pass fd 42 without close-on-exec/ },
  { name: 'fd is a regular file', args: ['--fd', '3'], stdio: stdioWith(3, openSync('package.json', 'r')), code: 78, error: /ERR_FD_NOT_SOCKET: fd 3 is the regular file .*package\.json, not a socket/ },
  { name: 'fd is a pipe', args: ['--fd', '3'], command: passFd('pipe', 3), code: 78, error: /ERR_FD_NOT_SOCKET: fd 3 is a pipe, not a socket/ },
  { name: 'fd 0 is /dev/null', args: ['--fd', '0'], code: 78, error: /ERR_FD_NOT_SOCKET: fd 0 is the character device \/dev\/null, not a socket \(hint: only a manager such as Supervisor/ },
  { name: 'fd is a terminal', args: ['--fd', '3'], command: passFd('tty', 3), code: 78, error: /ERR_FD_NOT_SOCKET: fd 3 is a terminal \(\/dev\/pts\/\d+.*\), not a socket/ },
  { name: 'fd is a UDP socket', args: ['--fd', '3'], command: passFd('udp', 3), code: 78, error: /ERR_FD_DATAGRAM: fd 3 is a UDP socket; HTTP needs a stream socket/ },
  { name: 'fd is a unix datagram socket', args: ['--fd', '5'], command: passFd('unix-dgram', 5), code: 78, error: /ERR_FD_DATAGRAM: fd 5 is a unix datagram socket/ },
  { name: 'fd is an unbound socket: never a random port', args: ['--fd', '3'], command: passFd('unbound', 3), code: 78, error: /ERR_FD_NOT_BOUND: fd 3 is a socket that was never bound; listening on it picked the random address 0\.0\.0\.0:\d+/ },
  // The primary only opens it, its workers listen: caught before they do (getsockname: port 0).
  { name: 'fd is an unbound socket, --workers 2: never a random port', args: ['--fd', '3', '--workers', '2'], command: passFd('unbound', 3), code: 78, error: /ERR_FD_NOT_BOUND: fd 3 is a socket that was never bound; listening on it would pick a random port/ },
  { name: 'LISTEN_FDS not a number', args: [], env: { LISTEN_FDS: 'two', LISTEN_PID: '1' }, code: 78, error: /ERR_LISTEN_FDS: LISTEN_FDS="two" is not a number of file descriptors/ },
  { name: '--fd with --port', args: ['--fd', '3', '--port', '80'], code: 64, error: /ERR_USAGE_FD_AND_ADDRESS: --fd and --host\/--port were both given/ },
  { name: '--fd NAME without systemd', args: ['--fd', 'web'], code: 78, error: /ERR_FD_NAME_NO_SYSTEMD: --fd web: no named sockets to choose from \(LISTEN_FDS is not set\)/ },
  { name: 'unknown option', args: ['--prot', '80'], code: 64, error: /ERR_USAGE: unknown option '--prot' \(hint: did you mean --port\? see chaussette --help\)/ },
  {
    name: 'unknown option after the app: the app\'s options go after --',
    args: ['examples/factory.cjs:createApp', 'Bonjour', '--verbose'],
    code: 64,
    error: /^chaussette: ERR_USAGE: unknown option '--verbose' after the app "examples\/factory\.cjs:createApp" \(hint: an option of the app goes after --, as in: chaussette examples\/factory\.cjs:createApp -- --verbose; chaussette's own options may come before or after the app\)$/m,
  },
  // An fd list with nothing in it would serve no socket, which looked like a finished Accept=yes connection: exit 0.
  { name: "--fd ''", args: ['--fd', ''], code: 64, error: /^chaussette: ERR_USAGE_VALUE: --fd "" is not an fd number or name, or a comma-separated list of them/ },
  { name: '--fd ,,', args: ['--fd', ',,'], code: 64, error: /^chaussette: ERR_USAGE_VALUE: --fd ",," is not an fd number or name/ },
  { name: 'CHAUSSETTE_FD=,', args: [], env: { CHAUSSETTE_FD: ',' }, code: 64, error: /^chaussette: ERR_USAGE_VALUE: CHAUSSETTE_FD "," is not an fd number or name/ },
  { name: 'fd = , in a configuration file', args: ['--config', emptyFdFile], code: 78, error: /^chaussette: ERR_CONFIG: \S+empty-fd\.conf line 1: fd "," is not an fd number or name/ },
  { name: "--require ''", args: ['--require', ''], code: 64, error: /^chaussette: ERR_USAGE_VALUE: --require "" is not a module, or a comma-separated list of modules/ },
  { name: 'PORT that is no port', args: [], env: { PORT: 'http' }, code: 64, error: /^chaussette: ERR_USAGE_VALUE: PORT "http" is not a port number \(0-65535\)/ },
  { name: 'bad port', args: ['--port', '99999'], code: 64, error: /ERR_USAGE_VALUE: --port "99999" is not a port number/ },
  // Beyond what a Node.js timer holds (2^31-1 ms) the stop would cut every request after 1 ms.
  { name: 'duration too long for a timer', args: ['--graceful-timeout', '3000000'], code: 64, error: /ERR_USAGE_VALUE: --graceful-timeout "3000000" is not a number of seconds from 0 to 2000000/ },
  { name: 'unknown backend', args: ['--backend', 'gopher'], code: 64, error: /ERR_BACKEND: backend "gopher" is not known; available: http/ },
  { name: 'log file cannot be written', args: ['--log-output', '/proc/chaussette.log'], code: 78, error: /ERR_LOG_OUTPUT: cannot write the log to \/proc\/chaussette\.log/ },
  { name: 'host that does not resolve', args: ['--host', 'no-such-host.invalid', '--port', '0'], code: 78, error: /ERR_LISTEN: cannot listen on no-such-host\.invalid:0: the host name does not resolve/ },
  { name: 'address not on this host', args: ['--host', '192.0.2.1', '--port', '0'], code: 78, error: /ERR_LISTEN: cannot listen on 192\.0\.2\.1:0: that address does not belong to this host/ },
  // Apps.
  { name: 'app module missing', args: ['./missing-app.js'], code: 78, error: /ERR_APP_NOT_FOUND: app "\.\/missing-app\.js": cannot find module \.\/missing-app\.js/ },
  { name: 'app package missing', args: ['no-such-package:create'], code: 78, error: /ERR_APP_NOT_FOUND: app "no-such-package:create": cannot find module no-such-package/ },
  { name: 'app throws while loading', args: ['test/fixtures/apps/throws-on-load.mjs'], code: 70, error: /ERR_APP_IMPORT: app "test\/fixtures\/apps\/throws-on-load\.mjs" threw while loading: database URL missing/ },
  { name: 'app export missing', args: ['test/fixtures/apps/named-only.mjs:handlr'], code: 78, error: /ERR_APP_EXPORT: app ".*named-only\.mjs:handlr" has no export "handlr"; it exports handler, other/ },
  { name: 'app without default export', args: ['test/fixtures/apps/named-only.mjs'], code: 78, error: /has no export "default"; it exports handler, other/ },
  { name: 'app is a number', args: ['test/fixtures/apps/number.mjs'], code: 78, error: /ERR_APP_SHAPE: app ".*number\.mjs" is a number \(42\), which chaussette cannot serve \(hint: export a \(req, res\) listener/ },
  { name: 'app is a class', args: ['test/fixtures/apps/some-class.mjs'], code: 78, error: /ERR_APP_SHAPE: app ".*" is the class Application, which chaussette cannot serve/ },
  { name: 'factory returns nothing servable', args: ['test/fixtures/apps/named-only.mjs:other'], code: 78, error: /ERR_APP_SHAPE: app ".*:other" is a number \(1\)/ },
  { name: 'a Fastify plugin fails while getting ready', args: ['test/fixtures/apps/fastify-broken-plugin.mjs'], code: 70, error: /ERR_APP_NOT_READY: app ".*fastify-broken-plugin\.mjs" failed to get ready: plugin could not connect to the database/ },
  { name: 'factory throws', args: ['test/fixtures/apps/factory-throws.mjs'], code: 70, error: /ERR_APP_FACTORY: app ".*factory-throws\.mjs": its factory failed: no config for this instance/ },
  // Hooks and preloads.
  { name: 'pre-hook fails', args: ['--pre-hook', 'test/fixtures/apps/hook.mjs:broken'], code: 70, error: /ERR_MODULE_FAILED: --pre-hook "test\/fixtures\/apps\/hook\.mjs:broken" failed: cannot reach the config service/ },
  { name: 'preload missing', args: ['--require', './nope.cjs'], code: 78, error: /ERR_MODULE_NOT_FOUND: --require "\.\/nope\.cjs": cannot find module/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const result = await runToExit(c.args, { stdio: c.stdio, command: c.command, env: c.env && { ...process.env, ...c.env } });
    assertOneLineExit(t, result, c.code, c.error, `exit code ${c.code}`);
    t.match(result.stderr, /^chaussette: ERR_[A-Z_]+: /, 'starts with its code');
  });
}

t.test('port in use', async (t) => {
  const { server, port } = await listeningSocket();
  t.teardown(() => server.close());
  const { code, stderr } = await runToExit(['--host', '127.0.0.1', '--port', String(port)]);
  t.equal(code, 69);
  t.match(stderr, new RegExp(`^chaussette: ERR_ADDRESS_IN_USE: 127\\.0\\.0\\.1:${port} is already in use \\(hint: `));
});

t.test('permission denied on a privileged port, with the socket-activation hint', async (t) => {
  // Root without CAP_NET_BIND_SERVICE is refused port 80 as any user would be.
  const { code, stderr } = await runToExit(['--host', '127.0.0.1', '--port', '80'], {
    command: ['setpriv', '--bounding-set=-net_bind_service', '--inh-caps=-net_bind_service', ...NODE],
  });
  t.equal(code, 77);
  t.match(stderr, /^chaussette: ERR_PERMISSION: permission denied binding 127\.0\.0\.1:80 \(hint: ports below 1024 need privileges; let systemd socket activation/);
});

t.test('a live socket is never mistaken for a bad one (control)', async (t) => {
  const { server, port, passable } = await listeningSocket();
  const running = await startChaussette(['--fd', '3'], { stdio: stdioWith(3, passable) }).finally(() => server.close());
  t.equal(running.stderr(), '');
  t.equal(await running.stop(), 0);
  t.ok(port > 0);
});
