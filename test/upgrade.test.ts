// Upgrades reach the app: WebSocket with the real ws client, for an
// exported http.Server with ws attached (and Express with express-ws, Hono
// with @hono/node-ws, each exported as that server), for Fastify with
// @fastify/websocket and a NestJS app whose provider attaches ws at init, in one process and through --workers, over wss on the
// https backend and the http2 backend's HTTP/1.1 side; an upgraded
// connection counts in the drain, which closes it at the deadline.
import t from 'tap';
import WebSocket from 'ws';
import { FIXTURES, request, serve, waitForLine, waitUntil } from './helpers.js';
import { exchange } from './websocket-exchange.js';
import { UPGRADES_SECTION, upgradeAsked } from '../src/apps/upgrade-warning.js';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { makeCertificates, read } from './certificates.js';

// Some thirty real servers, half with --workers: about 40 s alone, over 100 s seen on a loaded 2-core machine.
t.setTimeout(240_000);

const APPS = {
  'an http.Server with ws': join(FIXTURES, 'apps', 'ws-server.mjs'),
  'Fastify with @fastify/websocket': join(FIXTURES, 'apps', 'fastify-ws.mjs'),
  'Express with express-ws (its http.Server exported)': join(FIXTURES, 'apps', 'express-ws.mjs'),
  'Hono with @hono/node-ws (its http.Server exported)': join(FIXTURES, 'apps', 'hono-ws.mjs'),
  "Hono with @hono/node-server 2's own upgradeWebSocket (createAdaptorServer exported)": join(FIXTURES, 'apps', 'hono-node-server-ws.mjs'),
  'NestJS with ws attached to its http server at init (as a gateway does)': join(FIXTURES, 'apps', 'nest.mjs'),
};

function open(port: number, tls?: { ca: Buffer }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls ? new WebSocket(`wss://localhost:${port}/ws`, { ca: tls.ca }) : new WebSocket(`ws://127.0.0.1:${port}/ws`);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

for (const [shape, app] of Object.entries(APPS)) {
  for (const extra of [[], ['--workers', '2']]) {
    t.test(`${shape}${extra.length ? ' with --workers 2' : ''}: a WebSocket exchanges messages; plain requests still served`, async (t) => {
      const running = await serve(t, [...extra, app]);
      const socket = await open(running.port());
      t.teardown(() => socket.terminate());
      t.match(await exchange(socket, 'hello'), /^echo hello from \d+$/);
      t.match(await exchange(socket, 'again'), /^echo again from \d+$/, 'on the same connection');
      t.match((await request({ port: running.port() })).body, /^plain from \d+/);
      socket.close();
      t.equal(await running.stop(), 0);
    });
  }
}

t.test('over TLS: wss through the https backend and the http2 backend\'s HTTP/1.1 side, with --workers too', async (t) => {
  const certs = makeCertificates();
  t.teardown(certs.remove);
  const tls = { ca: read(certs.ca) };
  for (const backend of ['https', 'http2']) {
    for (const extra of [[], ['--workers', '2']]) {
      const running = await serve(t, ['--backend', backend, '--certfile', certs.cert, '--keyfile', certs.key, ...extra, APPS['an http.Server with ws']]);
      const socket = await open(running.port(), tls);
      const label = `${backend}${extra.length ? ' --workers 2' : ''}`;
      t.match(await exchange(socket, 'secret'), /^echo secret from \d+$/, `${label}: a message over wss`);
      if (extra.length === 0) {
        // The drain counts it on this backend too (it left node:http's list at the upgrade).
        running.child.kill('SIGTERM');
        t.ok(await waitForLine(running, (line) => /^Received SIGTERM: draining 1 connection\(s\)/.test(line.msg)), `${label}: counted in the drain`);
      }
      socket.close();
      t.equal(await (extra.length ? running.stop() : running.exited), 0, `${label}: exit 0`);
    }
  }
});

/** What a WebSocket handshake to an app that serves it as a plain request gets: the status it was answered with. */
function refused(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    socket.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      // ws leaves the answered request to this listener to end.
      req.destroy();
    });
    socket.on('error', () => {}); // The handshake ending so is what is tested.
    socket.once('open', () => reject(new Error('the handshake succeeded')));
  });
}

t.test('upgradeAsked(): the Upgrade header, whatever its case; h2c and look-alike names are not upgrades', async (t) => {
  const asked = (...rawHeaders: string[]) => upgradeAsked({ rawHeaders } as unknown as IncomingMessage);
  t.equal(asked('Host', 'x', 'Connection', 'Upgrade', 'Upgrade', 'websocket'), 'websocket');
  t.equal(asked('UPGRADE', 'WebSocket'), 'WebSocket');
  t.equal(asked('upgrade', 'h2c'), undefined, 'h2c');
  t.equal(asked('Upgrade', ' H2C '), undefined, 'h2c, any case and spacing');
  t.equal(asked('X-Upgrade', 'websocket', 'Upgrades', 'websocket'), undefined, 'another header');
  t.equal(asked('Host', 'x'), undefined, 'none');
});

t.test('an upgrade request to an app without upgrade handling: served as a plain request, and said once per process', async (t) => {
  for (const extra of [[], ['--workers', '2']]) {
    const running = await serve(t, [...extra, 'examples/express.mjs']);
    const warnings = () => running.lines.filter((line) => line.msg.startsWith('An upgrade request'));
    // curl --http2 asks every cleartext request for h2c: answering HTTP/1.1 is right, and no news.
    t.equal((await request({ port: running.port(), headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': '' } })).status, 200, 'h2c asked: a plain answer');
    t.equal(await refused(running.port(), '/chat?token=secret'), 404, "the handshake was answered as a plain request (Express's 404)");
    const [warning] = await waitUntil(() => warnings().length > 0 && warnings(), 5000, 'the warning', { wake: running.onChange });
    t.match(warning!.msg, /^An upgrade request \(Upgrade: websocket\) for \/chat reached an app that handles no upgrades/, 'names the path (the h2c request said nothing)');
    t.notMatch(warning!.msg, /secret/, 'not the query, which may carry a token');
    t.ok(warning!.msg.includes(`"${UPGRADES_SECTION}" in chaussette's README`), 'points to the README section');
    for (let i = 0; i < 6; i++) await refused(running.port(), `/chat/${i}`);
    t.equal(await running.stop(), 0, 'exit 0');
    const perProcess = new Set(warnings().map((line) => line.pid));
    if (extra.length === 0) t.equal(warnings().length, 1, 'one process: one line for 7 handshakes');
    else t.equal(warnings().length, perProcess.size, `with --workers 2: one line per worker that saw one (${warnings().length})`);
  }
});

t.test('an open WebSocket counts in the drain, and is closed at the graceful deadline', async (t) => {
  const running = await serve(t, ['--graceful-timeout', '1', APPS['an http.Server with ws']]);
  const socket = await open(running.port());
  t.match(await exchange(socket, 'hi'), /^echo hi/);
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  running.child.kill('SIGTERM');
  t.ok(await waitForLine(running, (line) => /^Received SIGTERM: draining 1 connection\(s\)/.test(line.msg)), 'the upgraded connection is counted');
  t.equal(await closed, 1006, 'cut at the deadline (the app did not close it)');
  t.equal(await running.exited, 0);
  t.ok(running.lines.some((line) => line.msg === 'Graceful timeout reached: closed 1 connection(s) by force'));
});

t.test('examples/websocket.mjs: at SIGTERM the app closes its WebSockets with 1001 (Going Away), on `stopping`', async (t) => {
  const running = await serve(t, [join(FIXTURES, '..', '..', 'examples', 'websocket.mjs')]);
  const socket = new WebSocket(`ws://127.0.0.1:${running.port()}/`);
  const greeting = await new Promise<string>((resolve, reject) => {
    socket.once('message', (data) => resolve(String(data)));
    socket.once('error', reject);
  });
  t.match(greeting, /^connected to \d+$/);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const signalled = Date.now();
  running.child.kill('SIGTERM');
  t.same(await closed, { code: 1001, reason: 'restarting' }, 'Going Away: a browser reconnects');
  t.equal(await running.exited, 0);
  t.ok(Date.now() - signalled < 5000, 'the stop did not wait for the graceful timeout');
});
