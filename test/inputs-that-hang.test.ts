// Inputs that used to hang chaussette or run it out of memory are refused up
// front, with their one line and exit code: a configuration file, a module or
// a certificate that is not a regular file (a FIFO blocks the event loop,
// /dev/zero never ends), and a LISTEN_FDS larger than the process can hold. Each runs the real
// CLI with a time bound, so that a hang fails the test instead of stalling it.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileLimit } from '../src/fd-limit.js';
import { makeCertificates } from './certificates.js';
import { cleanEnv, CLI, refused, runToExit, type StartOptions } from './helpers.js';

function fifoDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-fifo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function mkfifo(dir: string, name: string): string {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return path;
}

t.test('--config /dev/zero is refused, not read forever', async (t) => {
  await refused(t, ['--config', '/dev/zero'], 78, /^chaussette: ERR_CONFIG_NOT_FILE: configuration file \/dev\/zero is a character device, not a regular file \(hint: /);
});

t.test('--config naming a FIFO is refused, not waited on', async (t) => {
  const fifo = mkfifo(fifoDir(t), 'app.conf');
  await refused(t, ['--config', fifo], 78, new RegExp(`^chaussette: ERR_CONFIG_NOT_FILE: configuration file ${fifo} is a FIFO \\(named pipe\\), not a regular file`));
  // Optional (-path) means "may be missing", not "may be anything".
  await refused(t, ['--config', `-${fifo}`], 78, /ERR_CONFIG_NOT_FILE: .* is a FIFO/);
});

t.test('an app that is a FIFO is refused before import() blocks the event loop', async (t) => {
  const fifo = mkfifo(fifoDir(t), 'app.mjs');
  await refused(t, [fifo], 78, new RegExp(`^chaussette: ERR_APP_NOT_FILE: app "${fifo}": ${fifo} is a FIFO \\(named pipe\\), not a regular file \\(hint: `));
});

t.test('a --require module that is a FIFO is refused too', async (t) => {
  const fifo = mkfifo(fifoDir(t), 'preload.cjs');
  await refused(t, ['--require', fifo], 78, new RegExp(`^chaussette: ERR_MODULE_NOT_FILE: --require "${fifo}": ${fifo} is a FIFO`));
});

t.test('a --certfile or --keyfile that is a FIFO or a device is refused, not read', async (t) => {
  const fifo = mkfifo(fifoDir(t), 'cert.pem');
  const certs = makeCertificates();
  t.teardown(() => certs.remove());
  await refused(t, ['--backend', 'https', '--certfile', fifo, '--keyfile', certs.key], 78, new RegExp(`^chaussette: ERR_TLS_FILE: --certfile ${fifo} cannot be read: it is a FIFO \\(named pipe\\), not a regular file \\(hint: `));
  await refused(t, ['--backend', 'https', '--certfile', certs.cert, '--keyfile', '/dev/zero'], 78, /^chaussette: ERR_TLS_FILE: --keyfile \/dev\/zero cannot be read: it is a character device, not a regular file/);
});

// LISTEN_PID must be the pid of the node process: sh sets it to its own, then execs node.
const OURS = ['sh', '-c', 'LISTEN_PID=$$ exec "$@"', 'sh', process.execPath, CLI];

t.test('LISTEN_FDS beyond the open-file limit is refused at once, not an 80 s march to out-of-memory', async (t) => {
  const limit = openFileLimit(); // Node raises its soft limit to the hard one; the child inherits ours and does the same.
  for (const count of ['100000000', '99999999999999999999999']) {
    await refused(
      t,
      [],
      78,
      new RegExp(`^chaussette: ERR_LISTEN_FDS_LIMIT: LISTEN_FDS=${count} cannot be right: .*limit of ${limit} open files \\(RLIMIT_NOFILE\\) \\(hint: `),
      { command: OURS, env: cleanEnv({ LISTEN_FDS: count }) },
    );
  }
});

t.test('the bound is the limit itself: with 64 open files, fds 3 to 63 may be passed, not 3 to 64', async (t) => {
  const limited = ['prlimit', '--nofile=64:64', ...OURS];
  await refused(t, [], 78, /^chaussette: ERR_LISTEN_FDS_LIMIT: LISTEN_FDS=62 cannot be right: .*limit of 64 open files/, {
    command: limited,
    env: cleanEnv({ LISTEN_FDS: '62' }),
  });
  // 61 passes the bound: the fds themselves are checked next (nothing was passed here).
  await refused(t, [], 78, /^chaussette: ERR_FD_NOT_(OPEN|SOCKET): fd 3 /, { command: limited, env: cleanEnv({ LISTEN_FDS: '61' }) });
});
