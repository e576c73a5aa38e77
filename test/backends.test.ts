// The https and http2 backends, with real TLS handshakes (certificates made
// by openssl) and real clients: curl, node:https and node:http2. Every app
// shape is served on every backend.
import t from 'tap';
import { execFile } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeCertificates, read } from './certificates.js';
import { assertOneLineExit, cleanEnv, FIXTURES, ROOT, runToExit, serve, waitForArrival, waitForLine } from './helpers.js';

// Fourteen cases of real TLS processes: about 25 s alone, over 100 s seen on a loaded 2-core machine.
t.setTimeout(240_000);
const certs = makeCertificates();
t.teardown(certs.remove);
const tlsArgs = ['--certfile', certs.cert, '--keyfile', certs.key];
const run = promisify(execFile);

/** Every app shape (those of the foundation issue, and NestJS), and what it answers on /. */
const SHAPES: Array<{ app: string[]; body: RegExp }> = [
  { app: [], body: /^Hello from chaussette\n$/ },
  { app: ['examples/listener.mjs'], body: /"app":"listener"/ },
  { app: ['examples/express.mjs'], body: /^\{"app":"express"\}$/ },
  { app: ['examples/koa.mjs'], body: /"app":"koa"/ },
  { app: ['examples/fastify.mjs'], body: /^\{"app":"fastify"\}$/ },
  { app: ['examples/hono.mjs'], body: /"app":"hono"/ },
  { app: ['examples/factory.cjs:createApp', 'Bonjour'], body: /^Bonjour from a factory\n$/ },
  { app: [join(FIXTURES, 'apps', 'server-instance.cjs')], body: /^from an http\.Server\n$/ },
  { app: [join(FIXTURES, 'apps', 'nest.mjs')], body: /^plain from \d+\n$/ },
  // An http.Server around Express (express-ws attached): Express reached through the server's listeners.
  { app: [join(FIXTURES, 'apps', 'express-ws.mjs')], body: /^plain from \d+\n$/ },
];

/** curl's answer: the body, then the HTTP version and status it saw. */
async function curl(args: string[]): Promise<{ body: string; version: string; status: number }> {
  const { stdout } = await run('curl', ['-sS', '-m', '10', '-w', '\n%{http_version} %{http_code}', ...args], { encoding: 'utf8' });
  const at = stdout.lastIndexOf('\n');
  const [version, status] = stdout.slice(at + 1).split(' ');
  return { body: stdout.slice(0, at), version: version!, status: Number(status) };
}

interface H2Answer {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

function h2Request(session: ClientHttp2Session, path = '/', extra: Record<string, string> = {}): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...extra });
    let body = '';
    let headers: Record<string, unknown> = {};
    stream.setEncoding('utf8');
    stream.on('response', (h) => (headers = h));
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => resolve({ status: Number(headers[':status']), body, headers }));
    stream.on('error', reject);
    stream.end();
  });
}

function h2Connect(authority: string, options: Parameters<typeof connectHttp2>[1] = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(authority, options);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

interface HttpsAnswer {
  status: number;
  body: string;
  peer: TLSSocket;
}

function httpsGet(port: number, options: { ca?: Buffer; cert?: Buffer; key?: Buffer; agent?: HttpsAgent; path?: string } = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: 'localhost', port, path: options.path ?? '/', ca: options.ca ?? read(certs.ca), cert: options.cert, key: options.key, agent: options.agent ?? false, timeout: 10000 },
      (res) => {
        // Taken now: a keep-alive agent detaches the socket from the response once it ends.
        const peer = res.socket as TLSSocket;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peer }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

t.test('https: every app shape over a verified TLS handshake (curl and node:https)', async (t) => {
  for (const shape of SHAPES) {
    const running = await serve(t, ['--backend', 'https', ...tlsArgs, ...shape.app]);
    const port = running.port();
    const answer = await curl(['--cacert', certs.ca, `https://localhost:${port}/`]);
    t.equal(answer.status, 200, `${shape.app[0] ?? 'hello'}: 200 over https`);
    t.equal(answer.version, '1.1');
    t.match(answer.body, shape.body);
    const viaNode = await httpsGet(port);
    t.match(viaNode.body, shape.body);
    t.equal(viaNode.peer.getPeerCertificate().subject.O, 'first', 'the certificate given is the one served');
    t.ok(viaNode.peer.authorized, 'verified against the CA');
    t.equal(await running.stop(), 0);
  }
  t.ok(true);
});

t.test('https refuses a plain HTTP request on the TLS port', async (t) => {
  const running = await serve(t, ['--backend', 'https', ...tlsArgs]);
  const result = await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${running.port()}/`], { encoding: 'utf8' }).catch((error: { code: number }) => error);
  t.not('code' in result ? result.code : 0, 0, 'curl fails: no cleartext answer');
});

t.test('http2 with certificates: every app shape over h2 (node:http2, curl) and over HTTP/1.1 by ALPN', async (t) => {
  for (const shape of SHAPES) {
    const running = await serve(t, ['--backend', 'http2', ...tlsArgs, ...shape.app]);
    const port = running.port();
    const session = await h2Connect(`https://localhost:${port}`, { ca: read(certs.ca) });
    t.equal((session.socket as TLSSocket).alpnProtocol, 'h2', 'ALPN chose h2');
    const [first, second] = await Promise.all([h2Request(session), h2Request(session)]);
    const name = shape.app[0] ?? 'hello';
    t.equal(first.status, 200, `${name}: 200 over h2`);
    t.match(first.body, shape.body);
    t.match(second.body, shape.body, 'two streams on one session');
    session.close();
    const h2 = await curl(['--cacert', certs.ca, '--http2', `https://localhost:${port}/`]);
    t.same([h2.version, h2.status], ['2', 200], `${name}: curl speaks HTTP/2`);
    t.match(h2.body, shape.body);
    const h1 = await curl(['--cacert', certs.ca, '--http1.1', `https://localhost:${port}/`]);
    t.same([h1.version, h1.status], ['1.1', 200], `${name}: an HTTP/1.1-only client still gets the app`);
    t.match(h1.body, shape.body);
    t.equal(await running.stop(), 0);
  }
});

t.test('http2 without certificates: cleartext h2c with prior knowledge, every app shape', async (t) => {
  for (const shape of SHAPES) {
    const running = await serve(t, ['--backend', 'http2', ...shape.app]);
    const port = running.port();
    const session = await h2Connect(`http://127.0.0.1:${port}`);
    const answer = await h2Request(session, '/');
    const name = shape.app[0] ?? 'hello';
    t.equal(answer.status, 200, `${name}: 200 over h2c`);
    t.match(answer.body, shape.body);
    session.close();
    const viaCurl = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${port}/`]);
    t.same([viaCurl.version, viaCurl.status], ['2', 200], `${name}: curl --http2-prior-knowledge`);
    t.match(viaCurl.body, shape.body);
    t.equal(await running.stop(), 0);
  }
});

t.test('http2: :authority stands in for Host, so frameworks see the host name', async (t) => {
  const running = await serve(t, ['--backend', 'http2', join(FIXTURES, 'apps', 'echo-request.mjs')]);
  const session = await h2Connect(`http://127.0.0.1:${running.port()}`);
  t.teardown(() => session.destroy());
  const answer = JSON.parse((await h2Request(session, '/where?x=1')).body) as { host: string; url: string; httpVersion: string; method: string };
  t.same(answer, { host: `127.0.0.1:${running.port()}`, url: '/where?x=1', httpVersion: '2.0', method: 'GET' });
});

t.test('--ca-certs: only clients with a certificate the CA signed get in (mutual TLS)', async (t) => {
  const running = await serve(t, ['--backend', 'https', ...tlsArgs, '--ca-certs', certs.ca, join(FIXTURES, 'apps', 'echo-request.mjs')]);
  const port = running.port();
  const trusted = await httpsGet(port, { cert: read(certs.clientCert), key: read(certs.clientKey) });
  t.equal(trusted.status, 200);
  t.equal((JSON.parse(trusted.body) as { client: string }).client, 'trusted client', 'the app sees the client certificate');
  await t.rejects(httpsGet(port), 'no client certificate: the handshake fails');
  await t.rejects(httpsGet(port, { cert: read(certs.strangerCert), key: read(certs.strangerKey) }), 'a certificate the CA did not sign: refused');
  const viaCurl = await curl(['--cacert', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey, `https://localhost:${port}/`]);
  t.equal(viaCurl.status, 200, 'curl with a client certificate');
});

t.test('an encrypted key opens with --keyfile-password (or its variable), and a wrong one is one line, exit 78', async (t) => {
  const running = await serve(t, ['--backend', 'https', '--certfile', certs.cert, '--keyfile', certs.encryptedKey], {
    env: cleanEnv({ CHAUSSETTE_KEYFILE_PASSWORD: certs.passphrase }),
  });
  t.equal((await httpsGet(running.port())).status, 200);
  const wrong = await runToExit(['--backend', 'https', '--certfile', certs.cert, '--keyfile', certs.encryptedKey, '--keyfile-password', 'nope']);
  t.equal(wrong.code, 78);
  t.match(wrong.stderr, /^chaussette: ERR_TLS: .*the key is encrypted and the passphrase is wrong or missing/);
  t.equal(wrong.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('a wrong passphrase that decrypts to garbage with valid padding is still called a wrong passphrase', async (t) => {
  // About one encrypted key in 250 does this with a given wrong passphrase; this
  // one does with "wrong" (its right one is "the right passphrase"), under every Node.
  const keyfile = join(FIXTURES, 'tls', 'decodes-as-garbage.key');
  const certfile = join(FIXTURES, 'tls', 'decodes-as-garbage.pem');
  t.throws(() => createSecureContext({ key: read(keyfile), cert: read(certfile), passphrase: 'wrong' }), /DECODER routines::unsupported/, "OpenSSL's own words for it");
  const wrong = await runToExit(['--backend', 'https', '--certfile', certfile, '--keyfile', keyfile, '--keyfile-password', 'wrong']);
  assertOneLineExit(t, wrong, 78, /^chaussette: ERR_TLS: .*the key is encrypted and the passphrase is wrong or missing/);
  const right = await serve(t, ['--backend', 'https', '--certfile', certfile, '--keyfile', keyfile, '--keyfile-password', 'the right passphrase']);
  t.equal(await right.stop(), 0, 'the right passphrase opens it');
});

t.test('bad TLS settings: one line each, with a deliberate exit code', async (t) => {
  const cases: Array<{ args: string[]; code: number; error: RegExp }> = [
    { args: ['--backend', 'https'], code: 64, error: /ERR_USAGE_TLS: the https backend serves TLS and needs --certfile and --keyfile/ },
    { args: ['--backend', 'https', '--certfile', certs.cert], code: 64, error: /ERR_USAGE_TLS: .*needs --keyfile/ },
    { args: ['--backend', 'http2', '--keyfile', certs.key], code: 64, error: /ERR_USAGE_TLS: the http2 backend with --keyfile needs --certfile/ },
    { args: ['--certfile', certs.cert, '--keyfile', certs.key], code: 64, error: /ERR_USAGE_TLS: --certfile, --keyfile given, but the http backend does not serve TLS/ },
    { args: ['--backend', 'https', '--certfile', '/nonexistent.pem', '--keyfile', certs.key], code: 78, error: /ERR_TLS_FILE: --certfile \/nonexistent\.pem cannot be read: ENOENT/ },
    { args: ['--backend', 'https', '--certfile', certs.cert, '--keyfile', certs.renewedKey], code: 78, error: /ERR_TLS: .*the key does not belong to the certificate/ },
    { args: ['--backend', 'https', '--certfile', certs.cert, '--keyfile', certs.cert], code: 78, error: /ERR_TLS: .*holds no private key/ },
    { args: ['--backend', 'https', '--certfile', join(ROOT, 'package.json'), '--keyfile', certs.key], code: 78, error: /ERR_TLS: .*not in PEM format/ },
    { args: ['--backend', 'https', ...tlsArgs, '--workers', '2', '--keyfile', certs.renewedKey], code: 78, error: /ERR_TLS: .*does not belong/ },
  ];
  for (const { args, code, error } of cases) {
    const result = await runToExit(['--host', '127.0.0.1', '--port', '0', ...args]);
    t.equal(result.code, code, args.join(' '));
    t.match(result.stderr, error);
    t.equal(result.stderr.trim().split('\n').length, 1, 'one line, no stack');
  }
});

t.test('SIGHUP re-reads the certificate files: new handshakes get the renewed one, on the same socket and pid', async (t) => {
  const live = { cert: join(certs.dir, 'live.pem'), key: join(certs.dir, 'live.key') };
  copyFileSync(certs.cert, live.cert);
  copyFileSync(certs.key, live.key);
  const running = await serve(t, ['--backend', 'https', '--certfile', live.cert, '--keyfile', live.key]);
  const port = running.port();
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: read(certs.ca) });
  t.teardown(() => agent.destroy());
  const before = await httpsGet(port, { agent });
  t.equal(before.peer.getPeerCertificate().subject.O, 'first');

  copyFileSync(certs.renewedCert, live.cert);
  copyFileSync(certs.renewedKey, live.key);
  process.kill(running.child.pid!, 'SIGHUP');
  await waitForLine(running, (line) => /certificates reloaded/.test(line.msg));
  const kept = await httpsGet(port, { agent });
  t.equal(kept.peer, before.peer, 'the open connection stays open');
  t.equal(kept.status, 200);
  const after = await httpsGet(port);
  t.equal(after.peer.getPeerCertificate().subject.O, 'renewed', 'a new handshake gets the renewed certificate');

  // A half-written renewal (key of the other pair) is refused; the renewed pair stays in use.
  copyFileSync(certs.key, live.key);
  process.kill(running.child.pid!, 'SIGHUP');
  await waitForLine(running, (line) => line.level === 50 && /certificates not reloaded/.test(line.msg));
  t.match(running.lines.find((line) => /certificates not reloaded/.test(line.msg))?.msg, /the key does not belong to the certificate/);
  t.equal((await httpsGet(port)).peer.getPeerCertificate().subject.O, 'renewed', 'still serving the last good pair');
  t.equal(running.child.exitCode, null, 'same process');
  t.equal(await running.stop(), 0);
});

t.test('--workers with TLS: the workers serve https and h2; SIGHUP brings new workers with renewed certificates', async (t) => {
  const live = { cert: join(certs.dir, 'pool.pem'), key: join(certs.dir, 'pool.key') };
  copyFileSync(certs.cert, live.cert);
  copyFileSync(certs.key, live.key);
  const running = await serve(t, ['--backend', 'http2', '--certfile', live.cert, '--keyfile', live.key, '--workers', '2', join(FIXTURES, 'apps', 'pid.mjs')]);
  const port = running.port();
  const session = await h2Connect(`https://localhost:${port}`, { ca: read(certs.ca) });
  t.equal((await h2Request(session)).status, 200);
  t.equal((session.socket as TLSSocket).getPeerCertificate().subject.O, 'first');
  session.close();
  const h1 = await httpsGet(port);
  t.equal(h1.status, 200, 'HTTP/1.1 by ALPN through a worker');
  copyFileSync(certs.renewedCert, live.cert);
  copyFileSync(certs.renewedKey, live.key);
  process.kill(running.child.pid!, 'SIGHUP');
  await waitForLine(running, (line) => /^Reloaded: 2 new workers serving/.test(line.msg), 15000);
  t.equal((await httpsGet(port)).peer.getPeerCertificate().subject.O, 'renewed');
  t.equal(await running.stop(), 0);
});

t.test('http2 drain: streams in flight finish, the session gets GOAWAY naming the last stream, then chaussette exits 0', async (t) => {
  const running = await serve(t, ['--backend', 'http2', join(FIXTURES, 'apps', 'slow.mjs')]);
  const session = await h2Connect(`http://127.0.0.1:${running.port()}`);
  const goaway = new Promise<{ code: number; lastStreamId: number }>((resolve) =>
    session.once('goaway', (code: number, lastStreamId: number) => resolve({ code, lastStreamId })),
  );
  const order: string[] = [];
  const slow = [h2Request(session, '/?ms=1500'), h2Request(session, '/?ms=1000')];
  void slow[1]!.then(() => order.push('the 1000 ms stream answered'));
  await Promise.all([waitForArrival(running, '/?ms=1500'), waitForArrival(running, '/?ms=1000')]);
  const idle = await h2Connect(`http://127.0.0.1:${running.port()}`);
  const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve(void order.push('the idle session closed'))));
  process.kill(running.child.pid!, 'SIGTERM');
  // Client streams have odd ids: 1 and 3 here. GOAWAY's last stream id is
  // the highest one the server will still answer (RFC 9113 §6.8), so the
  // client knows that both are being served and nothing must be resent.
  t.same(await goaway, { code: 0, lastStreamId: 3 }, 'GOAWAY: NO_ERROR, last stream 3 (both streams in flight will be answered)');
  await idleClosed;
  const answers = await Promise.all(slow);
  t.same(answers.map((answer) => [answer.status, answer.body]), [
    [200, 'done after 1500 ms\n'],
    [200, 'done after 1000 ms\n'],
  ], 'both streams in flight completed');
  t.same(order, ['the idle session closed', 'the 1000 ms stream answered'], 'the idle session was closed at once, not after the streams');
  t.equal(await running.exited, 0);
  t.ok(running.lines.some((line) => /^Received SIGTERM: draining 2 connection\(s\)/.test(line.msg)), 'the drain counted both sessions');
});

t.test('--watchdog-probe speaks the backend: over TLS for https, h2c for cleartext http2', async (t) => {
  const { startReceiver } = await import('./notify-receiver.js');
  for (const backend of [['--backend', 'https', ...tlsArgs], ['--backend', 'http2']]) {
    const receiver = await startReceiver();
    t.teardown(receiver.close);
    const running = await serve(t, [...backend, '--watchdog-probe', '/health', join(FIXTURES, 'apps', 'health.mjs')], {
      env: cleanEnv({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '400000' }),
    });
    await receiver.waitFor('WATCHDOG', '1');
    const from = receiver.messages.length;
    await receiver.waitFor('WATCHDOG', '1', 2000, from);
    t.equal(await running.stop(), 0);
    // Looked at once it exited: then every line it logged is in, not only those the pipe had brought by the second ping.
    t.notOk(running.lines.some((line) => line.level >= 50), `${backend[1]}: the probe passes, no error logged`);
  }
  const mutual = await runToExit(['--backend', 'https', ...tlsArgs, '--ca-certs', certs.ca, '--watchdog-probe', '/health', '--host', '127.0.0.1', '--port', '0'], {
    env: cleanEnv({ WATCHDOG_USEC: '1000000', NOTIFY_SOCKET: '/nonexistent' }),
  });
  t.equal(mutual.code, 78);
  t.match(mutual.stderr, /ERR_WATCHDOG_PROBE: .*requires a client certificate/);
});

t.test('--config: TLS settings in a file, certificate paths relative to the file', async (t) => {
  const config = join(certs.dir, 'tls.conf');
  writeFileSync(config, '# an https instance\nbackend = https\ncertfile = server.pem\nkeyfile = "server.key"\n');
  const running = await serve(t, ['--config', config]);
  const answer = await httpsGet(running.port());
  t.equal(answer.status, 200);
  t.equal(answer.body, 'Hello from chaussette\n');
  t.ok(running.lines.some((line) => line.msg === 'Using https backend'));
});

t.test('http2: a session idle for --keep-alive-timeout is closed (GOAWAY), one in use is not', async (t) => {
  const running = await serve(t, ['--backend', 'http2', '--keep-alive-timeout', '1', join(FIXTURES, 'apps', 'slow.mjs')]);
  const idle = await h2Connect(`http://127.0.0.1:${running.port()}`);
  const busy = await h2Connect(`http://127.0.0.1:${running.port()}`);
  t.teardown(() => [idle, busy].forEach((session) => session.destroy()));
  const idleClosed = new Promise<number>((resolve) => idle.once('close', () => resolve(Date.now())));
  const started = Date.now();
  const long = h2Request(busy, '/?ms=3500');
  const closedAt = await idleClosed;
  t.ok(closedAt - started >= 900 && closedAt - started < 3500, `the idle session closed after ${closedAt - started} ms`);
  t.equal((await long).body, 'done after 3500 ms\n', 'the stream longer than the timeout completed');
  t.notOk(busy.closed, 'the busy session was not closed under it');
});
