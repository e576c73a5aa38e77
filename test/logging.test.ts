// Logs: JSON lines for machines, readable lines on a terminal, a file on request.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, request, sleep, startChaussette } from './helpers.js';

t.test('--log-output FILE: JSON lines in the file, nothing on stdout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'logs', 'chaussette.log');
  const running = await startChaussette(['--host', '127.0.0.1', '--port', '0', '--log-output', file], { waitReady: false });
  t.teardown(() => running.stop('SIGKILL'));
  let lines: Array<{ msg: string; level: number; pid: number }> = [];
  for (let i = 0; i < 250 && !lines.some((line) => line.msg === 'Using http backend'); i++) {
    await sleep(20);
    try {
      lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    } catch {
      // Not written yet.
    }
  }
  const serving = lines.find((line) => line.msg.startsWith('Serving on'));
  t.match(serving, { level: 30, pid: running.child.pid, msg: /^Serving on 127\.0\.0\.1:\d+$/ });
  t.equal((await request({ port: Number(/:(\d+)$/.exec(serving!.msg)![1]) })).status, 200);
  t.equal(await running.stop(), 0);
  t.same(running.lines, [], 'stdout stays empty');
});

t.test('on a terminal: readable lines, not JSON', async (t) => {
  // script(1) gives the process a real pseudo-terminal as stdout.
  const { stdout } = await promisify(execFile)('script', ['-qc', `timeout -s TERM 2 ${process.execPath} ${CLI} --host 127.0.0.1 --port 0`, '/dev/null'], { encoding: 'utf8' });
  t.match(stdout, /INFO.*Serving on 127\.0\.0\.1:\d+/);
  t.notMatch(stdout, /"level":/, 'no JSON');
});

t.test('--log-level warn hides the startup lines but not the warnings', async (t) => {
  const running = await startChaussette(['--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], { waitReady: false, env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' } });
  t.teardown(() => running.stop('SIGKILL'));
  for (let i = 0; i < 250 && running.lines.length === 0; i++) await sleep(20);
  await sleep(300);
  t.same(running.lines.map((line) => line.level), [40], 'only the LISTEN_PID warning');
});
