// --max-body-size: a body over the limit is answered 413 (Content Too Large),
// whatever the app shape and the backend. A Content-Length over it never
// reaches the app; a chunked body (an HTTP/2 stream without a length) is cut
// as it passes the limit; a body within it reaches the app whole. Real
// uploads of megabytes, so that a connection closed under a client still
// sending (a reset, and no 413) would show.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { makeCertificates, read } from './certificates.js';
import { FIXTURES, rawExchange, type Running, serve, waitForLine } from './helpers.js';

// Twelve servers with real uploads: about 20 s alone on 2 cores.
t.setTimeout(180_000);
const certs = makeCertificates();
t.teardown(certs.remove);
const ca = read(certs.ca);
const run = promisify(execFile);

const APP = join(FIXTURES, 'apps', 'body-echo.mjs');
const LIMIT = 64 * 1024;
const SHAPES = ['listener', 'express', 'fastify', 'koa', 'fetch'];

interface Answer {
  status: number;
  body: Buffer;
  /** The server said 100 Continue (Expect: 100-continue). */
  continued: boolean;
}

interface Upload {
  path: string;
  body: Buffer;
  /** A Content-Length header, or chunked (HTTP/1.1) / no length (HTTP/2). */
  length: boolean;
  expectContinue?: boolean;
}

/** Writes `body` in 64 KiB pieces, as the connection takes them; ends early once `answered()`, as a client told to stop does. */
function pump(out: NodeJS.WritableStream, body: Buffer, answered: () => boolean): void {
  let at = 0;
  const next = () => {
    while (at < body.length && !answered()) {
      const piece = body.subarray(at, at + 64 * 1024);
      at += piece.length;
      if (!out.write(piece)) return void out.once('drain', next);
    }
    out.end();
  };
  next();
}

/** An upload over HTTP/1.1 (TLS with `tls`), resolved with the answer read whole; an error before it fails. */
function upload1(port: number, tls: boolean, { path, body, length, expectContinue }: Upload): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (length) headers['content-length'] = String(body.length);
    if (expectContinue) headers.expect = '100-continue';
    const options = { host: 'localhost', port, path, method: 'POST', headers, agent: false as const, timeout: 10_000, ...(tls ? { ca } : {}) };
    let answered = false;
    let continued = false;
    const req = (tls ? httpsRequest : httpRequest)(options, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), continued }));
      res.on('error', reject);
    });
    // Once answered, a write meeting the closed connection is expected: the answer is what counts.
    req.on('error', (error) => answered || reject(error));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    if (expectContinue) {
      req.on('continue', () => {
        continued = true;
        pump(req, body, () => answered);
      });
    } else {
      pump(req, body, () => answered);
    }
  });
}

/** An upload on one HTTP/2 stream. */
function upload2(session: ClientHttp2Session, { path, body, length }: Upload): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, ...(length ? { 'content-length': String(body.length) } : {}) });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('close', () => (status ? resolve({ status, body: Buffer.concat(chunks), continued: false }) : reject(new Error(`no answer (RST_STREAM ${stream.rstCode})`))));
    stream.on('error', () => {}); // The stream reset after the answer (NO_ERROR) is the server's way to say: stop sending.
    // Node's client keeps a stream reset with NO_ERROR open while a write waits for flow control, which never comes.
    stream.on('end', () => stream.destroy());
    pump(stream, body, () => status !== 0);
  });
}

/** Whether the app saw a request for `path`: `after`'s own line, already waited for, comes after any line of `path`'s (stdout is in order). */
const appCalled = (running: Running, path: string) => running.lines.some((line) => line.msg === `app called: ${path}`);

/** The four cases, on one server: two refused (one the app never sees), two served whole. */
async function checkLimit(t: Test, running: Running, send: (upload: Upload) => Promise<Answer>, version: string): Promise<void> {
  const big = randomBytes(4 * 1024 * 1024);
  const withLength = await send({ path: '/over-length', body: big, length: true });
  t.equal(withLength.status, 413, 'a Content-Length over the limit: 413');
  t.equal(withLength.body.toString(), 'Content Too Large\n', 'with its reason, not the app\'s answer');

  const streamed = await send({ path: '/over-chunked', body: big, length: false });
  t.equal(streamed.status, 413, 'a body of no declared length, passing the limit: 413');

  const exact = randomBytes(LIMIT);
  const within = await send({ path: '/within-length', body: exact, length: true });
  t.equal(within.status, 200, 'a body of exactly the limit is served');
  t.ok(within.body.equals(exact), 'and reaches the app intact');
  const withinStreamed = await send({ path: '/within-chunked', body: exact, length: false });
  t.equal(withinStreamed.status, 200, 'so is one streamed without a length');
  t.ok(withinStreamed.body.equals(exact), 'intact too');

  await waitForLine(running, (line) => line.msg === 'app called: /within-chunked');
  t.notOk(appCalled(running, '/over-length'), 'the app never saw the request whose Content-Length was over the limit');
  t.ok(appCalled(running, '/over-chunked'), 'a chunked body is only known to be too large once it passes the limit');
  for (const [path, status] of [['/over-length', 413], ['/over-chunked', 413], ['/within-length', 200]] as const) {
    await waitForLine(running, (line) => line.msg.includes(`"POST ${path} HTTP/${version}" ${status} `));
  }
  t.pass('the access log shows each 413');
}

for (const backend of ['http', 'https']) {
  for (const shape of SHAPES) {
    t.test(`${backend}, ${shape}: over the limit 413, within it served whole`, async (t) => {
      const tls = backend === 'https' ? ['--backend', 'https', '--certfile', certs.cert, '--keyfile', certs.key] : [];
      const running = await serve(t, [...tls, '--max-body-size', String(LIMIT), '--access-log', 'common', `${APP}:create`, shape]);
      await checkLimit(t, running, (upload) => upload1(running.port(), backend === 'https', upload), '1.1');
    });
  }
}

t.test('http2: on each stream, for a listener and a fetch handler', async (t) => {
  for (const shape of ['listener', 'fetch']) {
    const running = await serve(t, ['--backend', 'http2', '--certfile', certs.cert, '--keyfile', certs.key, '--max-body-size', String(LIMIT), '--access-log', 'common', `${APP}:create`, shape]);
    const session = connectHttp2(`https://localhost:${running.port()}`, { ca });
    t.teardown(() => session.close());
    await checkLimit(t, running, (upload) => upload2(session, upload), '2.0');
    session.close();
    t.equal(await running.stop(), 0);
  }
});

t.test('Expect: 100-continue over the limit is answered 413 at once: the body is never sent', async (t) => {
  const running = await serve(t, ['--max-body-size', String(LIMIT), `${APP}:create`, 'listener']);
  const refused = await upload1(running.port(), false, { path: '/ask-big', body: randomBytes(LIMIT + 1), length: true, expectContinue: true });
  t.same([refused.status, refused.continued], [413, false], 'no 100 Continue, a 413');
  const body = randomBytes(1000);
  const allowed = await upload1(running.port(), false, { path: '/ask-small', body, length: true, expectContinue: true });
  t.same([allowed.status, allowed.continued], [200, true], 'within the limit: 100 Continue, then served');
  t.ok(allowed.body.equals(body));
});

t.test('a request pipelined behind a refused body is not served: the connection closes after the 413', async (t) => {
  const running = await serve(t, ['--max-body-size', '10', '--access-log', 'common', `${APP}:create`, 'listener']);
  const lengthFirst = 'POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n01234567890123456789GET /behind HTTP/1.1\r\nHost: x\r\n\r\n';
  const answer = await rawExchange(running.port(), lengthFirst);
  t.match(answer, /^HTTP\/1\.1 413 Content Too Large\r\n[\s\S]*connection: close\r\n/i, 'the 413, saying the connection closes');
  t.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, 'and nothing after it');
  const chunkedFirst = 'POST /cut HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n01234567890123456789\r\n0\r\n\r\nGET /behind-cut HTTP/1.1\r\nHost: x\r\n\r\n';
  t.equal((await rawExchange(running.port(), chunkedFirst)).match(/HTTP\/1\.1 413 /g)?.length, 1, 'the same after a chunked body cut');
  await waitForLine(running, (line) => line.msg.includes('"GET /behind-cut HTTP/1.1" 499 '));
  t.notOk(appCalled(running, '/behind') || appCalled(running, '/behind-cut'), 'the app never saw the pipelined requests');
  t.ok(appCalled(running, '/cut'));
});

t.test('a client still uploading reads its 413: the connection is emptied a while before it closes', async (t) => {
  // curl sends a 50 MB file as fast as it can, without waiting (no Expect). Closed at once under
  // it, the connection was reset, and curl saw "Send failure: Broken pipe" and no status, in about
  // one upload of three (measured: 7 of 24): six of each framing all pass with 1% luck at most.
  const dir = mkdtempSync(join(tmpdir(), 'upload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.bin');
  writeFileSync(file, '');
  truncateSync(file, 50 * 1024 * 1024);
  const running = await serve(t, ['--max-body-size', String(LIMIT), `${APP}:create`, 'listener']);
  for (const framing of Array.from({ length: 6 }, () => [[], ['-H', 'Transfer-Encoding: chunked']]).flat()) {
    // A failed curl (exit 55) still says what it got: compared, not thrown.
    const { stdout, stderr } = await run('curl', ['-sS', '-m', '20', '-H', 'Expect:', ...framing, '--data-binary', `@${file}`, '-w', '%{http_code}', `http://127.0.0.1:${running.port()}/curl`], {
      encoding: 'utf8',
    }).catch((error: { stdout: string; stderr: string }) => error);
    t.equal(stdout, 'Content Too Large\n413', `curl read the 413 (${framing.length ? 'chunked' : 'Content-Length'}) ${stderr}`);
  }
});

t.test('no limit by default: a body far over any limit above is served', async (t) => {
  const running = await serve(t, [`${APP}:create`, 'listener']);
  const body = randomBytes(4 * 1024 * 1024);
  const answer = await upload1(running.port(), false, { path: '/big', body, length: false });
  t.equal(answer.status, 200);
  t.ok(answer.body.equals(body));
});
