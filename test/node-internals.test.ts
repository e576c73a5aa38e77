// Every fast path of src/node-internals.ts is the one taken on the Node that
// runs this test: should an upgrade move one of Node's private fields, this
// fails, instead of chaussette quietly falling back to a slower path.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect as connectHttp2, createServer as createHttp2Server, type Http2Session } from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  acceptOn,
  canShareSockets,
  connectionCount,
  handleAddress,
  openWithoutAccepting,
  adoptHandle,
  type Connection,
  countBodyBytes,
  descriptorOf,
  discard,
  hasConnectionCount,
  hasHttp2StreamMap,
  hasHttpConnectionList,
  hasResponseSlot,
  http2StreamCount,
  hasPeerName,
  httpConnections,
  interceptAccepted,
  limitArrivingBody,
  lingerBeforeClose,
  peerAddress,
  responseInProgress,
  startConnectionTracking,
} from '../src/node-internals.js';

const listen = (server: Server) =>
  new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

t.test(`node:http's connection list and the response on a socket (Node ${process.version})`, async (t) => {
  let seen: { socket: Socket; res: ServerResponse } | undefined;
  let release: () => void = () => {};
  const server = createHttpServer((req, res) => {
    seen = { socket: req.socket, res };
    release = () => res.end('ok');
  });
  t.teardown(() => server.closeAllConnections());
  const port = await listen(server);
  t.ok(hasHttpConnectionList(server), 'the list node:http keeps for closeIdleConnections() is found');
  const answered = new Promise<number>((resolve) =>
    request({ port, host: '127.0.0.1', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).end(),
  );
  while (!seen) await new Promise((resolve) => setImmediate(resolve));
  t.same(httpConnections(server), [seen.socket], 'it lists the one connection');
  t.ok(hasResponseSlot(seen.socket), 'the socket carries its response where the drain looks');
  t.equal(responseInProgress(seen.socket), seen.res, 'and it is this response');
  release();
  t.equal(await answered, 200);
  await close(server);
});

t.test('a server that never listens starts its connection list when told', async (t) => {
  const server = createHttpServer(() => {});
  t.notOk(hasHttpConnectionList(server), 'none before');
  startConnectionTracking(server);
  t.ok(hasHttpConnectionList(server), 'made on the listening event');
  server.close();
});

t.test("node:http2's streams of a session", async (t) => {
  let session: Http2Session | undefined;
  let streamsSeen = -1;
  const server = createHttp2Server();
  server.on('session', (opened) => (session = opened));
  server.on('stream', (stream) => {
    streamsSeen = http2StreamCount(stream.session!);
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const port = await listen(server as unknown as Server);
  const client = connectHttp2(`http://127.0.0.1:${port}`);
  t.teardown(() => client.close());
  await new Promise<void>((resolve, reject) => {
    const req = client.request({ ':path': '/' });
    req.on('response', () => req.resume());
    req.on('end', () => resolve());
    req.on('error', reject);
    req.end();
  });
  t.ok(session && hasHttp2StreamMap(session), "the session's stream map is found");
  t.equal(streamsSeen, 1, 'the one stream in flight is counted');
  client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

t.test('accepted connections as raw handles, adopted by a server that never listened', async (t) => {
  const listening = createServer({ pauseOnConnect: true });
  const port = await listen(listening);
  const received: unknown[] = [];
  const failures: NodeJS.ErrnoException[] = [];
  t.equal(
    interceptAccepted(listening, (connection) => received.push(connection), (error) => failures.push(error)),
    'handle',
    'connections are taken from the handle, not the slower connection event',
  );
  const client = connect(port, '127.0.0.1');
  t.teardown(() => client.destroy());
  while (received.length === 0) await new Promise((resolve) => setImmediate(resolve));
  const fd = descriptorOf(received[0] as Connection);
  t.ok(typeof fd === 'number' && fd > 2, `the raw handle tells its file descriptor (${fd})`);
  // What libuv calls when accept() fails and its reserve descriptor is gone (UV_EMFILE is -24 on Linux).
  (listening as unknown as { _handle: { onconnection(status: number): void } })._handle.onconnection(-24);
  t.match(failures, [{ code: 'EMFILE', syscall: 'accept' }], 'a failed accept is reported as node:net would');
  const server = createHttpServer((_req, res) => res.end('adopted\n'));
  startConnectionTracking(server);
  t.ok(hasConnectionCount(server), 'the server counts its connections where close() looks');
  const before = (server as unknown as { _connections: number })._connections;
  const adopted = adoptHandle(received[0], server);
  t.equal(descriptorOf(adopted), fd, 'so does the socket made of it');
  server.emit('connection', adopted);
  t.equal((server as unknown as { _connections: number })._connections, before + 1, 'the adopted socket is counted');
  client.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let answer = '';
  client.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
  await new Promise((resolve) => client.once('close', resolve));
  t.match(answer, /^HTTP\/1\.1 200 OK[\s\S]*adopted\n$/, 'served through the adopted handle');
  listening.close();
  server.close();
});

t.test("a raw handle's client address (--sticky), read without building a socket", async (t) => {
  const listening = createServer({ pauseOnConnect: true });
  const port = await listen(listening);
  const received: Connection[] = [];
  interceptAccepted(listening, (connection) => received.push(connection), () => {});
  // 127.0.0.2 is on the loopback too: the address read must be the client's, not the server's.
  const client = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  t.teardown(() => client.destroy());
  while (received.length === 0) await new Promise((resolve) => setImmediate(resolve));
  t.ok(hasPeerName(received[0]!), 'a TCP handle has getpeername()');
  t.equal(peerAddress(received[0]!), '127.0.0.2');
  discard(received[0]!);
  listening.close();

  const dir = mkdtempSync(join(tmpdir(), 'peer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'unix.sock');
  const unix = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => unix.listen(path, resolve));
  const fromUnix: Connection[] = [];
  interceptAccepted(unix, (connection) => fromUnix.push(connection), () => {});
  const unixClient = connect(path);
  t.teardown(() => unixClient.destroy());
  while (fromUnix.length === 0) await new Promise((resolve) => setImmediate(resolve));
  t.equal(peerAddress(fromUnix[0]!), undefined, 'a unix-socket client has no address');
  discard(fromUnix[0]!);
  unix.close();
});

t.test('body bytes of one response, counted once on node:http and on HTTP/2', async (t) => {
  const counts: number[] = [];
  const app = (res: ServerResponse) => {
    const counted = countBodyBytes(res);
    res.once('close', () => counts.push(counted.bytes));
    res.write('héllo ');
    res.end(Buffer.from('world'));
  };
  const http1 = createHttpServer((_req, res) => app(res));
  const port1 = await listen(http1);
  await new Promise<void>((resolve) => request({ port: port1, host: '127.0.0.1', agent: false }, (res) => res.resume().on('end', resolve)).end());
  const http2 = createHttp2Server((_req, res) => app(res as unknown as ServerResponse));
  const port2 = await listen(http2 as unknown as Server);
  const client = connectHttp2(`http://127.0.0.1:${port2}`);
  await new Promise<void>((resolve) => client.request({ ':path': '/' }).on('end', resolve).resume().end());
  client.close();
  while (counts.length < 2) await new Promise((resolve) => setImmediate(resolve));
  t.same(counts, [12, 12], "7 bytes of 'héllo ' (é is two) and 5 of 'world', on both");
  http1.close();
  http2.close();
});

t.test('body bytes counted as they arrive, on node:http and HTTP/2, without reading the stream (--max-body-size)', async (t) => {
  const seen: Array<{ exceeded: number; read: number }> = [];
  const app = (req: IncomingMessage, res: ServerResponse) => {
    const state = { exceeded: 0, read: 0 };
    limitArrivingBody(req, 10, () => {
      state.exceeded++;
      res.end('over');
    });
    req.on('data', (chunk: Buffer) => (state.read += chunk.length));
    res.once('close', () => seen.push(state));
  };
  const pieces = ['12345', '67890', 'abcde', 'fghij'];
  const http1 = createHttpServer(app);
  const port1 = await listen(http1);
  const sent1 = new Promise<string>((resolve) => {
    const req = request({ port: port1, host: '127.0.0.1', method: 'POST', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', () => {});
    // One piece per tick: node:http's parser hands each to push() as it comes.
    const next = (i: number) => (i < pieces.length ? req.write(pieces[i], () => setImmediate(next, i + 1)) : req.end());
    next(0);
  });
  t.equal(await sent1, 'over');
  const http2 = createHttp2Server((req, res) => app(req as unknown as IncomingMessage, res as unknown as ServerResponse));
  const port2 = await listen(http2 as unknown as Server);
  const client = connectHttp2(`http://127.0.0.1:${port2}`);
  const stream = client.request({ ':method': 'POST', ':path': '/' });
  stream.on('error', () => {});
  let answer = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
  const next = (i: number) => (i < pieces.length ? stream.write(pieces[i], () => setImmediate(next, i + 1)) : stream.end());
  next(0);
  await new Promise((resolve) => stream.once('end', resolve));
  stream.destroy();
  client.close();
  t.equal(answer, 'over');
  while (seen.length < 2) await new Promise((resolve) => setImmediate(resolve));
  t.same(seen, [{ exceeded: 1, read: 10 }, { exceeded: 1, read: 10 }], 'called once past 10 bytes; the app read the 10 before, nothing after, on both');
  http1.close();
  http2.close();
});

t.test('node:http ends a Connection: close response through destroySoon(), which lingerBeforeClose() replaces', async (t) => {
  let lingered = false;
  const server = createHttpServer((req, res) => {
    lingerBeforeClose(req.socket, 1000);
    const lingering = req.socket.destroySoon;
    req.socket.destroySoon = function (this: Socket) {
      lingered = true;
      lingering.call(this);
    };
    res.writeHead(200, { connection: 'close' });
    res.end('bye');
  });
  const port = await listen(server);
  const client = connect(port, '127.0.0.1', () => client.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  let answer = '';
  client.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
  await new Promise((resolve) => client.once('close', resolve));
  t.match(answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\nbye\r\n/);
  t.ok(lingered, 'the connection was ended through the lingering close');
  server.close();
});

t.test('sockets shared with workers: opened without accepting, then accepted on by a handle sent as it is', async (t) => {
  t.ok(canShareSockets(), 'net._createServerHandle is there (the workers accept themselves)');
  const handle = openWithoutAccepting({ host: '127.0.0.1', family: 4, port: 0 });
  t.teardown(() => handle.close());
  const bound = handleAddress(handle);
  t.ok(bound && bound.port > 0, 'bound, its address read back');
  const server = createServer();
  const served = new Promise<Socket>((resolve) => server.once('connection', resolve));
  acceptOn(handle, 16, (client) => server.emit('connection', adoptHandle(client, server)), (error) => t.fail(String(error)));
  const client = connect(bound!.port, '127.0.0.1');
  t.teardown(() => client.destroy());
  const socket = await served;
  t.equal(connectionCount(server), 1, 'counted by the server it was given to');
  socket.destroy();
  await new Promise((resolve) => socket.once('close', resolve));
  t.equal(connectionCount(server), 0, 'and no longer once closed');
});
