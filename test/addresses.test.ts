// --host as people write it, through the real CLI: an empty host means the
// same on every layer (not set: localhost), and a unix: address that cannot
// be right (no path, a path longer than sun_path holds, a directory that does
// not exist, a port beside it) is one line and a deliberate exit code.
import t, { type Test } from 'tap';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenTargets } from '../src/library.js';
import { cleanEnv, refused, request, runToExit, startChaussette, type StartOptions } from './helpers.js';

/** A fresh directory with a short path, so that socket paths of an exact length fit in it. */
function shortDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'chs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function servingLine(t: Test, args: string[], options: StartOptions = {}): Promise<string> {
  const running = await startChaussette(args, options);
  t.teardown(() => running.stop('SIGKILL'));
  const line = running.lines.find((l) => l.msg.startsWith('Serving on '))!.msg;
  await running.stop();
  return line;
}

t.test('an empty host is not set, on the command line as in a variable or the file: localhost, never every interface', async (t) => {
  const loopback = /^Serving on (127\.0\.0\.1|\[::1\]):\d+$/;
  t.match(await servingLine(t, ['--host', '', '--port', '0']), loopback, "--host ''");
  t.match(await servingLine(t, ['--port', '0'], { env: cleanEnv({ CHAUSSETTE_HOST: '' }) }), loopback, "CHAUSSETTE_HOST=''");
  const config = join(shortDir(t), 'app.conf');
  writeFileSync(config, 'host =\nport = 0\n');
  t.match(await servingLine(t, ['--config', config]), loopback, 'host = in --config');
  // Not set means the layer below decides: the variable under an empty --host.
  t.match(await servingLine(t, ['--host', '', '--port', '0'], { env: cleanEnv({ CHAUSSETTE_HOST: '127.0.0.1' }) }), /^Serving on 127\.0\.0\.1:\d+$/);
  t.same(listenTargets({ host: '' }, {}).targets, [{ kind: 'tcp', host: 'localhost', port: 8080 }], "serve({ host: '' }) too");
});

t.test('unix: without a path is a usage error', async (t) => {
  await refused(t, ['--host', 'unix:'], 64, /^chaussette: ERR_USAGE_VALUE: --host "unix:" is not a unix socket with its path \(unix:\/run\/app\.sock\)/);
  await refused(t, [], 64, /^chaussette: ERR_USAGE_VALUE: CHAUSSETTE_HOST "unix:" is not/, { env: cleanEnv({ CHAUSSETTE_HOST: 'unix:' }) });
  const config = join(shortDir(t), 'app.conf');
  writeFileSync(config, 'host = unix:\n');
  await refused(t, ['--config', config], 78, /^chaussette: ERR_CONFIG: .*app\.conf line 1: host "unix:" is not a unix socket with its path/);
});

t.test('a unix socket path longer than sun_path holds is refused, and nothing is left behind; 107 bytes serve', async (t) => {
  const dir = shortDir(t);
  const pathOf = (bytes: number) => join(dir, 's'.repeat(bytes - dir.length - 1));
  const tooLong = pathOf(108);
  t.equal(Buffer.byteLength(tooLong), 108);
  await refused(t, ['--host', `unix:${tooLong}`], 64, /^chaussette: ERR_UNIX_PATH_TOO_LONG: unix:\/.* is 108 bytes long; a unix socket path has at most 107 \(sun_path holds 108 bytes with the closing NUL\)/);
  t.same(readdirSync(dir), [], 'no socket under a cut name');
  // Counted in bytes, not characters: é is two.
  const wide = join(dir, 'é'.repeat(Math.ceil((108 - dir.length - 1) / 2)));
  t.ok(wide.length <= 107 && Buffer.byteLength(wide) >= 108, 'few enough characters, too many bytes');
  await refused(t, ['--host', `unix:${wide}`], 64, /ERR_UNIX_PATH_TOO_LONG: .* is \d+ bytes long/);

  const longest = pathOf(107);
  const running = await startChaussette(['--host', `unix:${longest}`]);
  t.teardown(() => running.stop('SIGKILL'));
  t.ok(running.lines.some((line) => line.msg === `Serving on unix:${longest}`), 'serves on the whole path');
  t.same(readdirSync(dir), [longest.slice(dir.length + 1)], 'the socket has its full name');
  t.equal((await request({ socketPath: longest })).status, 200);
  await running.stop();
});

t.test('a unix socket in a directory that does not exist says so, not "permission denied"', async (t) => {
  const missing = join(shortDir(t), 'nowhere');
  await refused(t, ['--host', `unix:${missing}/app.sock`], 78, new RegExp(`^chaussette: ERR_UNIX_DIR_MISSING: cannot bind unix:${missing}/app\\.sock: the directory ${missing} does not exist \\(hint: `));
});

t.test('a port beside a unix socket is a usage error, not silently ignored', async (t) => {
  const path = join(shortDir(t), 'app.sock');
  const said = (host: string, port: string) => new RegExp(`^chaussette: ERR_USAGE_UNIX_PORT: ${port} was given, but ${host} is a unix socket, which has no port \\(hint: `);
  await refused(t, ['--host', `unix:${path}`, '--port', '81'], 64, said(`--host unix:${path}`, '--port 81'));
  await refused(t, [], 64, said(`CHAUSSETTE_HOST=unix:${path}`, 'CHAUSSETTE_PORT=81'), { env: cleanEnv({ CHAUSSETTE_HOST: `unix:${path}`, CHAUSSETTE_PORT: '81' }) });
  const config = join(shortDir(t), 'app.conf');
  writeFileSync(config, `host = unix:${path}\nport = 81\n`);
  await refused(t, ['--config', config], 78, /^chaussette: ERR_CONFIG: .*app\.conf line 2: host unix:.* \(line 1\) is a unix socket, which has no port, but port is set \(line 2\)/);
  // A port on a higher layer than the unix host would be ignored as well.
  writeFileSync(config, `host = unix:${path}\n`);
  await refused(t, ['--config', config, '--port', '81'], 64, said(`host = unix:${path} \\(${config} line 1\\)`, '--port 81'));
  // A port on a lower layer is overridden, with the rest of that layer's address.
  writeFileSync(config, 'port = 81\n');
  t.equal(await servingLine(t, ['--config', config, '--host', `unix:${path}`]), `Serving on unix:${path}`);
  t.throws(() => listenTargets({ host: `unix:${path}`, port: 81 }), { code: 'ERR_USAGE_UNIX_PORT' }, 'serve() refuses it too');
});
