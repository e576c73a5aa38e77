// --access-log: real requests through the real CLI, and the exact lines they
// leave in the log; off unless asked for; batched, yet never lost on a stop.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLUSH_AFTER_MS, LineBatch, PIPE_BUF } from '../src/logs/batch.js';
import { cleanEnv, FIXTURES, listeningPort, type LogLine, request, serve, waitForArrival, waitForLine, waitUntil } from './helpers.js';

const FAULTY = join(FIXTURES, 'apps', 'faulty.mjs');
const SLOW = join(FIXTURES, 'apps', 'slow.mjs');
/** UTC-7 all year (POSIX signs are inverted): the offset in the lines is known. */
const env = cleanEnv({ TZ: 'Etc/GMT+7' });
const CLF_TIME = String.raw`\[\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2} -0700\]`;
const clf = (rest: string) => new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} ${rest}$`);
const accessLines = (lines: LogLine[]) => lines.filter((line) => line.level === 0).map((line) => line.msg);

t.test('--access-log common: one Common Log Format line per request', async (t) => {
  const running = await serve(t, ['--access-log', 'common', FAULTY], { env });
  const port = running.port();
  t.equal((await request({ port, path: '/fine?q=%22a%20b%22' })).status, 200);
  t.equal((await request({ port, path: '/throw' })).status, 500);
  t.equal((await request({ port, path: '/fine', method: 'HEAD' })).status, 200);
  t.equal((await request({ port, path: '/fine', method: 'POST', body: 'x'.repeat(1000) })).status, 200);
  await waitForLine(running, (line) => line.msg.includes('"POST'));
  t.match(accessLines(running.lines), [
    clf(String.raw`"GET /fine\?q=%22a%20b%22 HTTP/1\.1" 200 5`),
    clf(String.raw`"GET /throw HTTP/1\.1" 500 22`),
    clf(String.raw`"HEAD /fine HTTP/1\.1" 200 -`),
    clf(String.raw`"POST /fine HTTP/1\.1" 200 5`),
  ]);
  t.equal(accessLines(running.lines).length, 4, 'one line each');
  t.equal(await running.stop(), 0);
});

t.test('--access-log combined: referer and user agent, quotes escaped', async (t) => {
  const running = await serve(t, ['--access-log', 'combined', FAULTY], { env });
  await request({ port: running.port(), path: '/fine', headers: { referer: 'http://example.test/', 'user-agent': 'agent "007"' } });
  await request({ port: running.port(), path: '/fine' });
  await waitForLine(running, (line) => line.msg.endsWith('"-" "-"'));
  t.match(accessLines(running.lines), [
    clf(String.raw`"GET /fine HTTP/1\.1" 200 5 "http://example\.test/" "agent \\"007\\""`),
    clf(String.raw`"GET /fine HTTP/1\.1" 200 5 "-" "-"`),
  ]);
});

t.test('--access-log json: a pino record with the request, whatever --log-level says', async (t) => {
  const running = await serve(t, ['--access-log', 'json', '--log-level', 'warn', FAULTY], { env, waitReady: false });
  // --log-level warn hides "Serving on": ask ss(8) which port the process listens on.
  const port = await listeningPort(running);
  t.equal((await request({ port, path: '/fine?x=1', headers: { 'user-agent': 'test-agent' } })).status, 200);
  t.equal((await request({ port, path: '/throw' })).status, 500);
  const access = await waitForLine(running, (line) => line.msg === 'access' && line.url === '/throw');
  const records = running.lines.filter((line) => line.msg === 'access');
  t.equal(records.length, 2);
  t.match(records[0], {
    level: 30,
    pid: running.child.pid,
    name: 'chaussette',
    msg: 'access',
    method: 'GET',
    url: '/fine?x=1',
    status: 200,
    bytes: 5,
    durationMs: Number,
    remoteAddress: '127.0.0.1',
    httpVersion: '1.1',
    userAgent: 'test-agent',
    aborted: false,
  });
  t.ok((records[0]!.durationMs as number) >= 0 && (records[0]!.durationMs as number) < 5000, 'a plausible duration');
  t.match(access, { status: 500, bytes: 22, url: '/throw' });
  t.same(running.lines.filter((line) => line.level === 30 && line.msg !== 'access'), [], 'the info lines stay hidden');
});

t.test('off by default: no access line', async (t) => {
  const running = await serve(t, [FAULTY], { env });
  for (const path of ['/fine', '/throw', '/fine']) await request({ port: running.port(), path });
  // No pause for a batch to go out: what is batched is written at the exit at the latest.
  t.equal(await running.stop(), 0);
  t.same(running.lines.filter((line) => line.level === 0 || line.msg === 'access'), [], 'only log records');
  t.ok(running.lines.some((line) => line.msg.startsWith('request failed')), 'the log itself is there');
});

t.test('a request answered during the SIGTERM drain is logged before the exit; one cut by the client is logged as such', async (t) => {
  const running = await serve(t, ['--access-log', 'json', SLOW], { env });
  const port = running.port();
  // Cut by the client once the app has it: nothing was sent yet.
  const req = httpRequest({ host: '127.0.0.1', port, path: '/?ms=2000', agent: false });
  const failed = new Promise<void>((resolve) => req.on('error', () => resolve()));
  req.end();
  await waitForArrival(running, '/?ms=2000');
  req.destroy();
  await failed;
  const cut = await waitForLine(running, (line) => line.msg === 'access');
  t.match(cut, { url: '/?ms=2000', status: 499, bytes: 0, aborted: true });
  const answer = request({ port, path: '/?ms=700' });
  await waitForArrival(running, '/?ms=700');
  running.child.kill('SIGTERM');
  t.equal((await answer).status, 200, 'answered during the drain');
  t.equal(await running.exited, 0);
  t.match(running.lines.filter((line) => line.msg === 'access').at(-1), { url: '/?ms=700', status: 200, bytes: 18, aborted: false });
  const order = running.lines.map((line) => line.msg);
  const signalAt = order.findIndex((msg) => msg.startsWith('Received SIGTERM'));
  t.ok(signalAt > 0 && order.indexOf('access', signalAt) > signalAt, 'the line came after the signal');
});

t.test('--workers 2 --log-output FILE: each worker logs its own requests, none lost at the stop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-access-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'app.log');
  const running = await serve(t, ['--workers', '2', '--access-log', 'common', '--log-output', file, FAULTY], { env, waitReady: false });
  const port = await waitUntil(
    () => {
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      if (/Using http backend/.test(text)) return Number(/Serving on 127\.0\.0\.1:(\d+)/.exec(text)![1]);
      if (running.closed()) throw new Error(`chaussette exited: ${text}${running.stderr()}`);
      return 0;
    },
    10_000,
    `"Using http backend" in ${file}`,
    { wake: running.onChange },
  );
  const sent = 40;
  const pids = new Set<string>();
  await Promise.all(Array.from({ length: sent }, async () => pids.add((await request({ port, path: '/fine' })).body)));
  t.equal(await running.stop(), 0);
  const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('{'));
  t.equal(lines.length, sent, 'a line per request, flushed by each worker as it stopped');
  t.same(lines.filter((line) => !clf(String.raw`"GET /fine HTTP/1\.1" 200 5`).test(line)), [], 'each whole, none interleaved');
});

t.test('LineBatch: one write per PIPE_BUF or per pause', async (t) => {
  const writes: string[] = [];
  const batch = new LineBatch((text) => writes.push(text));
  const line = `${'x'.repeat(99)}\n`;
  for (let i = 0; i < 100; i++) batch.push(line);
  t.same(writes.map((text) => text.length), [4000, 4000], 'two full batches went out at once, none above PIPE_BUF');
  t.ok(writes.every((text) => text.length <= PIPE_BUF));
  await waitUntil(() => writes.length > 2, FLUSH_AFTER_MS + 50, 'the rest of the batch after a pause');
  t.same(writes.map((text) => text.length), [4000, 4000, 2000], 'the rest after a pause');
  t.ok(process.listeners('exit').length > 0, 'what is left at exit is written then (see the drain test)');
});

t.test('a json access line is the record pino would write for the same fields', async (t) => {
  const { default: pino } = await import('pino');
  const { jsonLine, recordContext } = await import('../src/logs/access-format.js');
  const record = {
    remoteAddress: '::1',
    startedAt: 0,
    method: 'GET',
    url: '/a "quoted"\npath',
    httpVersion: '2.0',
    status: 404,
    bytes: 12,
    durationMs: 1.23456,
    referer: undefined,
    userAgent: 'agent/1\x85\x7f',
    aborted: false,
    cut: false,
  };
  let viaPino = '';
  const logger = pino({ name: 'chaussette', base: { pid: process.pid } }, { write: (line: string) => void (viaPino = line) }).child({ worker: 3 });
  const { startedAt: _startedAt, ...fields } = record;
  logger.info({ ...fields, durationMs: 1.235 }, 'access');
  const direct = jsonLine(record, 1234, recordContext({ worker: 3 }));
  t.ok(direct.endsWith('}\n'), 'one line');
  t.same(JSON.parse(direct), { ...JSON.parse(viaPino), time: 1234 });
  t.ok(direct.includes('"agent/1\\u0085\\u007f"'), 'DEL and C1 escaped, where pino leaves them raw');
});


/** The lines of a file so far; none while it does not exist. */
const fileLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

for (const workers of [0, 2]) {
  t.test(`--access-log-output FILE${workers ? ` --workers ${workers}` : ''}: the access lines in their own file, the JSON log apart; SIGUSR1 reopens it`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chaussette-access-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'access.log');
    const running = await serve(t, ['--access-log', 'common', '--access-log-output', file, '--workers', String(workers), FAULTY], { env });
    const port = running.port();
    const fine = clf(String.raw`"GET /fine HTTP/1\.1" 200 5`);
    for (let i = 0; i < 10; i++) t.equal((await request({ port, path: '/fine' })).status, 200);
    await waitUntil(() => fileLines(file).length === 10, 5000, () => `10 lines in ${file}: ${JSON.stringify(fileLines(file))}`, { everyMs: 20 });

    renameSync(file, `${file}.1`);
    running.child.kill('SIGUSR1');
    const reopened = await waitUntil(
      () => {
        const found = running.lines.filter((line) => line.msg === `Reopened the access log file ${file}`);
        return found.length === 1 + workers && found;
      },
      5000,
      () => `each process reopening ${file}: ${JSON.stringify(running.lines.map((line) => line.msg))}`,
      { wake: running.onChange },
    );
    t.same(reopened.map((line) => line.worker).sort(), workers ? [1, 2, undefined] : [undefined], 'every process that has it open reopens it');
    for (let i = 0; i < 5; i++) t.equal((await request({ port, path: '/fine' })).status, 200);
    t.equal(await running.stop(), 0);

    t.equal(fileLines(`${file}.1`).length, 10, 'the moved file has the lines from before');
    t.equal(fileLines(file).length, 5, 'the new file the lines from after, written by the last batches at the stop');
    t.same([...fileLines(`${file}.1`), ...fileLines(file)].filter((line) => !fine.test(line)), [], 'only access lines, each whole');
    t.same(accessLines(running.lines), [], 'none in the log on stdout');
    t.ok(running.lines.some((line) => line.msg.startsWith('Serving on')), 'which has the JSON records');
  });
}

t.test('--access-log-output - with --log-output FILE: the access lines on stdout, the records in the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-access-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'app.log');
  const running = await serve(t, ['--access-log', 'combined', '--access-log-output', '-', '--log-output', log, FAULTY], { env, waitReady: false });
  const port = await waitUntil(() => Number(/Serving on 127\.0\.0\.1:(\d+)/.exec(fileLines(log).join('\n'))?.[1]), 5000, `"Serving on" in ${log}`);
  t.equal((await request({ port, path: '/throw' })).status, 500);
  await waitForLine(running, (line) => line.msg.includes('/throw'));
  t.equal(await running.stop(), 0);
  t.match(running.lines, [{ level: 0, msg: clf(String.raw`"GET /throw HTTP/1\.1" 500 22 "-" "-"`) }], 'stdout: the access line alone');
  t.equal(running.lines.length, 1);
  t.ok(fileLines(log).some((line) => (JSON.parse(line) as LogLine).msg.startsWith('request failed')), 'the records in the file');
});

t.test('--access-log-output without --access-log: a warning, and no line', async (t) => {
  const running = await serve(t, ['--access-log-output', '-', FAULTY], { env });
  t.match(running.lines.find((line) => line.level === 40), { msg: '--access-log-output is set but --access-log is off: no access line is written' });
  await request({ port: running.port(), path: '/fine' });
  t.equal(await running.stop(), 0);
  t.same(accessLines(running.lines), []);
});

t.test('control characters never reach a line raw: ASCII, DEL and C1 (0x80-0x9f) escaped in every format, and on the journal', async (t) => {
  const { quoteSafe, jsonString } = await import('../src/logs/access-format.js');
  const { journalLine } = await import('../src/logs/journal.js');
  t.equal(quoteSafe('a\x85b\x9bc\x7fd\x1be\x80f"\\'), 'a\\x85b\\x9bc\\x7fd\\x1be\\x80f\\"\\\\');
  t.equal(quoteSafe('caf\xe9 \xa0'), 'caf\xe9 \xa0', 'latin1 letters and spaces above C1 stay');
  t.equal(jsonString('a\x85\x9f\x7f\n'), '"a\\u0085\\u009f\\u007f\\n"');
  t.equal(JSON.parse(jsonString('a\x85\x9f\x7f\n')), 'a\x85\x9f\x7f\n');
  t.equal(journalLine('{"level":30,"msg":"access","userAgent":"a\x85b"}\n'), '<6>access userAgent="a\\u0085b"\n');
  t.equal(journalLine('{"level":30,"msg":"a\x85b\x7f"}\n'), '<6>a\\u0085b\\u007f\n');
});

/**
 * Sends bytes (latin1: one byte per character) on a new connection, and
 * `next.then` once what came back ends with `next.after`; resolves with
 * everything that came back once the server closed it.
 */
function rawBytes(port: number, text: string, next?: { after: string; then: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.from(text, 'latin1')));
    let data = '';
    let sent = false;
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      data += chunk;
      if (next && !sent && data.endsWith(next.after)) {
        sent = true;
        socket.write(Buffer.from(next.then, 'latin1'));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
  });
}

t.test('a header with C1 control characters (NEL 0x85, CSI 0x9b): escaped in common/combined and json lines, never written raw', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-access-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const headers = 'User-Agent: a\x85b\x9bc\r\nReferer: r\x80\x9f\r\n';
  for (const format of ['combined', 'json'] as const) {
    const file = join(dir, `${format}.log`);
    const running = await serve(t, ['--access-log', format, '--access-log-output', file, FAULTY], { env });
    const answer = await rawBytes(running.port(), `GET /fine HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`);
    t.match(answer, /^HTTP\/1\.1 200 OK/, 'Node takes obs-text in a header value');
    t.equal(await running.stop(), 0);
    const text = readFileSync(file, 'latin1');
    t.notMatch(text, /[\x7f-\x9f]|\xc2[\x80-\x9f]/, `${format}: no C1 byte, raw or UTF-8 encoded`);
    if (format === 'combined') t.match(text.trim(), clf(String.raw`"GET /fine HTTP/1\.1" 200 5 "r\\x80\\x9f" "a\\x85b\\x9bc"`));
    else t.match(JSON.parse(text), { userAgent: 'a\x85b\x9bc', referer: 'r\x80\x9f' }, 'json: \\u escapes, the same strings once parsed');
  }
});

t.test('requests Node rejects before the app (400, 431, 408) are logged, as nginx does; answered exactly as Node answers them', async (t) => {
  const running = await serve(t, ['--access-log', 'common', '--headers-timeout', '1', FAULTY], { env });
  const port = running.port();
  t.equal(await rawBytes(port, 'GET /bad?x=1 HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n'), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  t.equal(await rawBytes(port, `GET /big HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(20_000)}\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
  t.equal(await rawBytes(port, '\x16\x03\x01 not http at all\r\n\r\n'), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  // A head never finished: --headers-timeout answers 408 (Node checks every second).
  t.equal(await rawBytes(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n'), 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  // On a keep-alive connection, after a request served: the next one malformed.
  t.match(
    await rawBytes(port, 'GET /fine HTTP/1.1\r\nHost: x\r\n\r\n', { after: 'fine\n', then: 'GET /next HTTP/1.1\r\nBad\r\n\r\n' }),
    /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nfine\nHTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n$/,
  );
  await waitForLine(running, (line) => line.msg.includes('"GET /next'));
  t.match(accessLines(running.lines), [
    clf(String.raw`"GET /bad\?x=1 HTTP/1\.1" 400 -`),
    clf(String.raw`"GET /big HTTP/1\.1" 431 -`),
    clf(String.raw`"-" 400 -`),
    clf(String.raw`"-" 408 -`),
    clf(String.raw`"GET /fine HTTP/1\.1" 200 5`),
    clf(String.raw`"GET /next HTTP/1\.1" 400 -`),
  ]);
  t.equal(accessLines(running.lines).length, 6, 'one line each');
  t.equal(await running.stop(), 0);
});

t.test('a rejected request in json: the parser error says why, the fields it never read are left out', async (t) => {
  const running = await serve(t, ['--access-log', 'json', FAULTY], { env });
  t.equal(await rawBytes(running.port(), 'GET /bad HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n'), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  t.equal(await rawBytes(running.port(), 'BREW\x01 /pot\r\n\r\n'), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  await waitUntil(() => running.lines.filter((line) => line.msg === 'access').length === 2, 5000, 'two access records', { wake: running.onChange });
  const [named, unread] = running.lines.filter((line) => line.msg === 'access');
  t.match(named, { method: 'GET', url: '/bad', httpVersion: '1.1', status: 400, bytes: 0, remoteAddress: '127.0.0.1', aborted: false, cut: false, rejected: /^HPE_/ });
  t.match(unread, { status: 400, remoteAddress: '127.0.0.1', cut: false, rejected: /^HPE_/ });
  t.notOk('method' in unread! || 'url' in unread! || 'httpVersion' in unread!, 'no request line: no method, url or version');
  t.equal(await running.stop(), 0);
});

for (const workers of [0, 2]) {
  t.test(`a request cut at the graceful deadline is logged, marked cut${workers ? ` (--workers ${workers})` : ''}`, async (t) => {
    const format = workers ? 'common' : 'json';
    const running = await serve(t, ['--access-log', format, '--graceful-timeout', '0.5', '--workers', String(workers), SLOW], { env });
    const port = running.port();
    const cut = httpRequest({ host: '127.0.0.1', port, path: '/?ms=30000', agent: false });
    const failed = new Promise<string>((resolve) => cut.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message)));
    cut.end();
    await waitForArrival(running, '/?ms=30000');
    running.child.kill('SIGTERM');
    t.equal(await failed, 'ECONNRESET', 'the client saw its request cut');
    t.equal(await running.exited, 0);
    if (format === 'json') {
      const records = running.lines.filter((line) => line.msg === 'access');
      t.equal(records.length, 1);
      t.match(records[0], { url: '/?ms=30000', status: null, bytes: 0, aborted: true, cut: true });
    } else {
      const lines = accessLines(running.lines).filter((line) => !line.startsWith('arrived:'));
      t.match(lines, [clf(String.raw`"GET /\?ms=30000 HTTP/1\.1" - - cut`)]);
      t.equal(lines.length, 1);
    }
    const order = running.lines.map((line) => line.msg);
    t.ok(order.findIndex((msg) => /timeout reached/i.test(msg)) >= 0, 'the deadline was reached');
  });
}
