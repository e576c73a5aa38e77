// Logs: JSON lines for machines, readable lines on a terminal, a file on request.
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PIPE_BUF } from '../src/logs/batch.js';
import { QUEUE_LIMIT } from '../src/logs/sink.js';
import { CLI, cleanEnv, FIXTURES, listeningPort, type LogLine, onEvent, request, ROOT, serve, waitUntil } from './helpers.js';
import { startReceiver } from './notify-receiver.js';

t.test('--log-output FILE: JSON lines in the file, nothing on stdout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'logs', 'chaussette.log');
  const running = await serve(t, ['--log-output', file], { waitReady: false });
  const lines = await waitUntil(
    () => {
      try {
        const found = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { msg: string; level: number; pid: number });
        if (found.some((line) => line.msg === 'Using http backend')) return found;
      } catch {
        // Not written yet.
      }
      if (running.closed()) throw new Error(`chaussette exited: ${running.stderr()}`);
      return undefined;
    },
    5000,
    `"Using http backend" in ${file}`,
  );
  const serving = lines.find((line) => line.msg.startsWith('Serving on'));
  t.match(serving, { level: 30, pid: running.child.pid, msg: /^Serving on 127\.0\.0\.1:\d+$/ });
  t.equal((await request({ port: Number(/:(\d+)$/.exec(serving!.msg)![1]) })).status, 200);
  t.equal(await running.stop(), 0);
  t.same(running.lines, [], 'stdout stays empty');
});

t.test('on a terminal: readable lines, not JSON', async (t) => {
  // script(1) gives the process a real pseudo-terminal as stdout; with exec, chaussette is script's child.
  const script = spawn('script', ['-qc', `exec ${process.execPath} ${CLI} --host 127.0.0.1 --port 0`, '/dev/null'], { stdio: 'pipe' });
  let stdout = '';
  script.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const exited = new Promise<void>((resolve) => script.once('close', () => resolve()));
  t.teardown(() => script.kill('SIGKILL'));
  await waitUntil(
    () => {
      if (script.exitCode !== null) throw new Error(`script(1) exited: ${stdout}`);
      return /Using http backend/.test(stdout);
    },
    15_000,
    () => `chaussette to serve on the terminal: ${stdout}`,
    { wake: onEvent(script.stdout, 'data') },
  );
  // Stopped once it served, not after a fixed 2 s (timeout -s TERM 2) that a slow start could outlast.
  process.kill(Number(execFileSync('pgrep', ['-P', String(script.pid)], { encoding: 'utf8' }).trim()), 'SIGTERM');
  await exited;
  t.match(stdout, /INFO.*Serving on 127\.0\.0\.1:\d+/);
  t.notMatch(stdout, /"level":/, 'no JSON');
});

t.test('--log-level warn hides the startup lines but not the warnings', async (t) => {
  const running = await serve(t, ['--log-level', 'warn'], { waitReady: false, env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' } });
  // Serving (its startup lines are logged before it answers anything), then stopped: every line
  // it would ever log is in by the exit, none left to come after a guessed pause.
  await request({ port: await listeningPort(running) });
  t.equal(await running.stop(), 0);
  t.same(running.lines.map((line) => line.level), [40], 'only the LISTEN_PID warning');
});

/** A fresh file and its `DEV:INODE`, as systemd would put a journal stream's in JOURNAL_STREAM. */
function streamFile(t: Test): { file: string; journalStream: string } {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-journal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'stream');
  closeSync(openSync(file, 'w'));
  const stat = statSync(file, { bigint: true });
  return { file, journalStream: `${stat.dev}:${stat.ino}` };
}

/**
 * Runs the CLI with stdout and stderr on `file` (the very descriptor whose
 * inode JOURNAL_STREAM names, or not), lets `whileServing` talk to it, then
 * stops it and returns what it wrote.
 */
async function runOnFile(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  whileServing: (port: number) => Promise<void> = async () => {},
): Promise<{ code: number; text: string }> {
  const fd = openSync(file, 'a');
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const serving = await waitUntil(
    () => Number(/Serving on 127\.0\.0\.1:(\d+)/.exec(readFileSync(file, 'utf8'))?.[1]) || (child.exitCode !== null || child.signalCode !== null ? 'exited' : undefined),
    5000,
    () => `"Serving on" in ${file}: ${readFileSync(file, 'utf8')}`,
    { wake: onEvent(child, 'exit') },
  ).catch((error: Error) => {
    child.kill('SIGKILL');
    throw error;
  });
  if (serving !== 'exited') {
    await whileServing(serving);
    child.kill('SIGTERM');
  }
  return { code: await exited, text: readFileSync(file, 'utf8') };
}

const FAULTY = join(FIXTURES, 'apps', 'faulty.mjs');

t.test('stdout is the journal (JOURNAL_STREAM is its dev:inode): one line per record or access line, with its priority', async (t) => {
  const { file, journalStream } = streamFile(t);
  const env = cleanEnv({ JOURNAL_STREAM: journalStream });
  const args = ['--host', '127.0.0.1', '--port', '0', '--access-log', 'common', FAULTY];
  const { code, text } = await runOnFile(file, args, env, async (port) => {
    t.equal((await request({ port, path: '/throw' })).status, 500);
    t.equal((await request({ port, path: '/fine' })).status, 200);
    // Both access lines out (they go in a batch, written a pause later) before the stop's own lines.
    await waitUntil(() => readFileSync(file, 'utf8').includes('"GET /fine HTTP/1.1" 200 5'), 5000, 'the access lines in the journal stream');
  });
  t.equal(code, 0);
  const lines = text.trimEnd().split('\n');
  t.same(lines.filter((line) => !/^<[2-7]>\S/.test(line)), [], 'every line starts with a priority');
  t.notMatch(text, /"level":/, 'no JSON');
  t.match(lines, ['<6>Application is ' + FAULTY + ' (a (req, res) listener)', /^<6>Serving on 127\.0\.0\.1:\d+$/, '<6>Using http backend']);
  const failed = lines.filter((line) => line.startsWith('<3>'));
  t.equal(failed.length, 1, 'the failed request is the only error');
  t.match(failed[0], /^<3>request failed: the app threw method=GET url=\/throw err="Error: sync failure in the app\\n {4}at faulty \(file:\/\/.*faulty\.mjs:\d+:\d+\)\\n/);
  t.equal(lines.filter((line) => /^\s+at /.test(line)).length, 0, 'the stack stays on its record\'s line');
  t.match(lines.at(-1), /^<6>Stopped after \d+ ms of drain$/);
  const access = lines.filter((line) => line.includes(' HTTP/1.1" '));
  t.match(access, [/^<6>127\.0\.0\.1 - - \[[^\]]+\] "GET \/throw HTTP\/1\.1" 500 22$/, /^<6>127\.0\.0\.1 - - \[[^\]]+\] "GET \/fine HTTP\/1\.1" 200 5$/]);
  t.equal(access.length, 2, 'the access lines, at info');
});

t.test('a JOURNAL_STREAM that is not our stdout (a redirection, an inherited variable): JSON lines as usual', async (t) => {
  const other = streamFile(t);
  for (const notOurs of [() => other.journalStream, (ours: string) => `${ours}0`, () => 'garbage']) {
    const { file, journalStream } = streamFile(t);
    const value = notOurs(journalStream);
    const { code, text } = await runOnFile(file, ['--host', '127.0.0.1', '--port', '0'], cleanEnv({ JOURNAL_STREAM: value }));
    t.equal(code, 0, value);
    const records = text.trimEnd().split('\n').map((line) => JSON.parse(line) as { level: number; msg: string });
    t.match(records[0], { level: 30, msg: /^Application is/ }, `JOURNAL_STREAM=${value}: JSON lines`);
    t.notMatch(text, /^<\d>/m, 'no priority prefix');
  }
});

t.test('a startup failure: its one line gets <3> when stderr is the journal, and nothing otherwise', async (t) => {
  const { file, journalStream } = streamFile(t);
  const onJournal = await runOnFile(file, ['--port', 'x'], cleanEnv({ JOURNAL_STREAM: journalStream }));
  t.equal(onJournal.code, 64);
  t.equal(onJournal.text, '<3>chaussette: ERR_USAGE_VALUE: --port "x" is not a port number (0-65535) (hint: see chaussette --help)\n');
  const elsewhere = streamFile(t);
  const plain = await runOnFile(elsewhere.file, ['--port', 'x'], cleanEnv({ JOURNAL_STREAM: journalStream }));
  t.equal(plain.code, 64);
  t.match(plain.text, /^chaussette: ERR_USAGE_VALUE: /);
});

/** The JSON records of a log file so far; none while it does not exist. */
function records(file: string): LogLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as LogLine);
}

function waitForRecords(file: string, done: (found: LogLine[]) => boolean, what: string): Promise<LogLine[]> {
  return waitUntil(
    () => {
      const found = records(file);
      return done(found) && found;
    },
    10_000,
    () => `${what} in ${file}: ${JSON.stringify(records(file))}`,
  );
}

const has = (found: LogLine[], msg: RegExp, count = 1) => found.filter((line) => msg.test(line.msg)).length >= count;

for (const workers of [0, 2]) {
  t.test(`SIGUSR1 reopens --log-output after logrotate moved it${workers ? ` (--workers ${workers}: the primary tells each worker)` : ''}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chaussette-rotate-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'app.log');
    const running = await serve(t, ['--log-output', file, '--workers', String(workers), FAULTY], { waitReady: false });
    const before = await waitForRecords(file, (found) => has(found, /^Using http backend/), 'the startup lines');
    const port = Number(/:(\d+)$/.exec(before.find((line) => line.msg.startsWith('Serving on'))!.msg)![1]);
    t.equal((await request({ port, path: '/throw' })).status, 500);
    await waitForRecords(file, (found) => has(found, /^request failed/), 'the first failure');

    renameSync(file, `${file}.1`);
    running.child.kill('SIGUSR1');
    const reopened = await waitForRecords(file, (found) => has(found, /^Reopened the log file/, 1 + workers), 'every process reopening');
    t.same(
      reopened.filter((line) => line.msg === `Reopened the log file ${file}`).map((line) => line.worker).sort(),
      workers ? [1, 2, undefined] : [undefined],
      'the new file starts with each process saying it reopened',
    );
    t.equal((await request({ port, path: '/throw' })).status, 500);
    t.equal((await request({ port, path: '/throw' })).status, 500);
    await waitForRecords(file, (found) => has(found, /^request failed/, 2), 'the failures after the reopen');
    t.equal(await running.stop(), 0);

    const after = records(file);
    t.match(after.at(-1), { msg: /^Stopped after/ }, 'the last line went to the new file');
    const moved = records(`${file}.1`);
    t.equal(moved.filter((line) => /^request failed/.test(line.msg)).length, 1, 'the moved file has what came before, only');
    t.notOk(has(moved, /^Reopened|^Stopped/), 'and nothing written after the reopen');
    t.same(running.lines, [], 'nothing on stdout');
    t.equal(running.stderr(), '');
  });
}

t.test('SIGUSR1 when the new file cannot be opened: an error in the file still open, serving goes on, a later SIGUSR1 succeeds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-rotate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logs = join(dir, 'logs');
  const file = join(logs, 'app.log');
  const running = await serve(t, ['--log-output', file, FAULTY], { waitReady: false });
  const before = await waitForRecords(file, (found) => has(found, /^Using http backend/), 'the startup lines');
  const port = Number(/:(\d+)$/.exec(before.find((line) => line.msg.startsWith('Serving on'))!.msg)![1]);

  // The directory is gone, and a plain file took its name: neither mkdir nor open can succeed.
  const kept = join(dir, 'kept.log');
  renameSync(file, kept);
  rmSync(logs, { recursive: true });
  writeFileSync(logs, 'not a directory\n');
  running.child.kill('SIGUSR1');
  const failed = await waitForRecords(kept, (found) => has(found, /^ERR_LOG_REOPEN/), 'the reopen failure');
  t.match(failed.find((line) => /^ERR_LOG_REOPEN/.test(line.msg)), {
    level: 50,
    msg: `ERR_LOG_REOPEN: cannot reopen the log file ${file}: EEXIST: file already exists, mkdir '${logs}'; logging goes on to the file already open (hint: make its directory exist and be writable, then send SIGUSR1 again)`,
  });
  t.equal((await request({ port, path: '/throw' })).status, 500, 'still serving');
  await waitForRecords(kept, (found) => has(found, /^request failed/), 'the failure, in the file still open');

  rmSync(logs);
  running.child.kill('SIGUSR1');
  await waitForRecords(file, (found) => has(found, /^Reopened the log file/), 'the second reopen');
  t.equal((await request({ port, path: '/throw' })).status, 500);
  await waitForRecords(file, (found) => has(found, /^request failed/), 'the failure, in the new file');
  t.equal(await running.stop(), 0);
  t.equal(running.stderr(), '', 'no crash, nothing on stderr');
});

/** The port in a STATUS= line: "Serving 127.0.0.1:PORT (http): ...". */
const statusPort = (status: string | undefined) => Number(/^Serving 127\.0\.0\.1:(\d+) /.exec(status ?? '')?.[1]);

for (const where of ['standard output', '--log-output'] as const) {
  t.test(`${where} on /dev/full (every write fails with ENOSPC): serving goes on, said once on stderr and in STATUS=, and the stop is clean`, async (t) => {
    const receiver = await startReceiver();
    t.teardown(() => receiver.close());
    const full = openSync('/dev/full', 'w');
    const args = [CLI, '--host', '127.0.0.1', '--port', '0', '--access-log', 'common', ...(where === '--log-output' ? ['--log-output', '/dev/full'] : [])];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: cleanEnv({ NOTIFY_SOCKET: receiver.address }),
      stdio: ['ignore', where === 'standard output' ? full : 'pipe', 'pipe'],
    });
    closeSync(full);
    t.teardown(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

    const reason = 'ENOSPC: no space left on device, write';
    const ready = await receiver.waitFor('READY', '1', 10_000);
    t.match(ready.fields.STATUS, new RegExp(`^Serving 127\\.0\\.0\\.1:\\d+ \\(http\\): no requests yet; the log cannot be written \\(${reason}\\): \\d+ lines dropped$`));
    const port = statusPort(ready.fields.STATUS);
    for (let i = 0; i < 20; i++) t.equal((await request({ port })).status, 200, `request ${i} answered`);
    child.kill('SIGTERM');
    t.equal(await exited, 0, 'stopped with its normal exit code');
    const target = where === 'standard output' ? 'standard output' : '/dev/full';
    t.equal(
      stderr,
      `chaussette: ERR_LOG_WRITE: cannot write the log to ${target}: ${reason}; serving goes on, and its lines are dropped until it can be written again ` +
        '(hint: free space on its disk, or make its reader read; the count of lines lost is logged when writing works again)\n',
      'one line on stderr for the whole run of failures, no stack',
    );
    t.equal(stdout, '', 'nothing on stdout either');
  });
}

for (const workers of [0, 2]) {
  t.test(`--log-output a FIFO whose reader stalls${workers ? ` (--workers ${workers})` : ''}: serving goes on, what waits stays under its limit, and every line is written or counted in a notice`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chaussette-fifo-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'log.fifo');
    execFileSync('mkfifo', [fifo]);
    // The reader: open, but it reads nothing until told to.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    t.teardown(() => closeSync(reader));
    let read = '';
    const readAll = () => {
      const buffer = Buffer.alloc(1 << 16);
      for (;;) {
        let n = 0;
        try {
          n = readSync(reader, buffer);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return read;
          throw error;
        }
        if (n === 0) return read;
        read += buffer.subarray(0, n).toString();
      }
    };
    const receiver = await startReceiver();
    t.teardown(() => receiver.close());
    const args = ['--log-output', fifo, '--access-log', 'common', '--workers', String(workers)];
    const running = await serve(t, args, { env: cleanEnv({ NOTIFY_SOCKET: receiver.address }), waitReady: false });
    const port = statusPort((await receiver.waitFor('READY', '1', 10_000)).fields.STATUS);

    // Each access line about 4 KB: a few hundred requests fill the pipe (64 KiB) and what may wait (QUEUE_LIMIT).
    const path = `/${'x'.repeat(4000)}`;
    const statuses = new Set<number>();
    let sent = 0;
    while (!running.stderr().includes('ERR_LOG_WRITE')) {
      statuses.add((await request({ port, path })).status);
      if (++sent > 5000) throw new Error(`no ERR_LOG_WRITE after ${sent} requests: ${running.stderr()}`);
    }
    // As many again once lines are dropped: none of them may be held.
    for (const stop = sent * 2; sent < stop; sent++) statuses.add((await request({ port, path })).status);
    t.same([...statuses], [200], `${sent} requests, all answered while the log stalls`);
    const reason = 'its reader does not keep up (1048576 bytes waiting)';
    t.match(running.stderr(), new RegExp(`^chaussette: ERR_LOG_WRITE: cannot write the log to ${fifo}: ${reason.replace(/[()]/g, '\\$&')}; serving goes on`));
    const trouble = `; ${workers ? 'worker \\d: ' : ''}the log cannot be written \\(${reason.replace(/[()]/g, '\\$&')}\\): \\d+ lines? dropped`;
    await receiver.waitFor('STATUS', new RegExp(trouble), 5000);
    const troubleAt = receiver.messages.length;

    // The reader catches up: what waited comes out, then each process's notice, then what came after.
    const lines = () => readAll().split('\n');
    const accessLines = () => lines().filter((line) => line.includes('"GET /x'));
    const notices = () => lines().filter((line) => line.includes('"droppedLines"')).map((line) => JSON.parse(line) as { level: number; droppedLines: number; msg: string });
    const dropped = () => notices().reduce((sum, notice) => sum + notice.droppedLines, 0);
    // Lines still in a batch when the reader came back are written after the notice.
    await waitUntil(() => notices().length > 0 && accessLines().length + dropped() === sent, 10_000, () => `${sent} requests: ${accessLines().length} lines read + ${dropped()} dropped`);
    t.pass(`${sent} requests: ${accessLines().length} lines written, ${dropped()} counted as dropped, none lost unsaid`);
    // Each process holds at most the pipe's share and its queue: every line beyond that was dropped. (Half
    // the requests is not a bound with workers: how many reach the one whose queue filled first is the kernel's pick.)
    const lineBytes = Buffer.byteLength(accessLines()[0]!) + 1;
    const fits = Math.floor((65536 + Math.max(1, workers) * (QUEUE_LIMIT + PIPE_BUF)) / lineBytes) + Math.max(1, workers);
    t.ok(accessLines().length <= fits, `${accessLines().length} lines written, at most the ${fits} the pipe and the queues hold: the rest were dropped, not held`);
    for (const notice of notices()) t.match(notice, { level: 40, msg: new RegExp(`^The log can be written again: \\d+ lines? dropped since \\S+ \\(${reason.replace(/[()]/g, '\\$&')}\\)$`) });
    const before = read.slice(0, read.indexOf('"droppedLines"'));
    const bound = 65536 + Math.max(1, workers) * (QUEUE_LIMIT + PIPE_BUF);
    t.ok(Buffer.byteLength(before) <= bound, `what was written before the first notice (${Buffer.byteLength(before)} bytes) fits the pipe and the queues' limit: nothing more was held`);

    const told = await waitUntil(
      () => {
        const recovered = running.stderr().split('\n').filter((line) => line.includes('can be written to'));
        return recovered.length === notices().length && recovered;
      },
      5000,
      'a line on stderr for each recovery',
      { wake: running.onChange },
    );
    t.same(
      told.map((line) => Number(/again; (\d+) lines? dropped/.exec(line)?.[1])).sort(),
      notices().map((notice) => notice.droppedLines).sort(),
      'stderr says each process recovered, with its count',
    );
    t.equal(running.stderr().split('\n').filter((line) => line.includes('ERR_LOG_WRITE')).length, notices().length, 'and said once that it failed');
    const back = await receiver.waitFor('STATUS', /^Serving (?!.*dropped)/, 5000, troubleAt);
    t.notMatch(back.fields.STATUS, /dropped/, 'STATUS= says nothing of the log any more');
    t.equal(await running.stop(), 0);
  });
}
