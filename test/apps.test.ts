// Real apps and frameworks (dev dependencies), each answering real requests
// through the real CLI; and failures inside an app staying inside one request.
import t from 'tap';
import { rawExchange, request, serve, waitForLine, type Running } from './helpers.js';

const applicationLine = (running: Running) => running.lines.find((line) => line.msg.startsWith('Application is'))?.msg;

t.test('Express', async (t) => {
  const running = await serve(t, ['examples/express.mjs']);
  t.equal(applicationLine(running), 'Application is examples/express.mjs (a (req, res, next) app (Express/Connect))');
  const res = await request({ port: running.port(), path: '/hello/chaussette' });
  t.equal(res.status, 200);
  t.same(JSON.parse(res.body), { app: 'express', hello: 'chaussette' });
  t.equal((await request({ port: running.port(), path: '/nowhere' })).status, 404);
});

t.test('Koa', async (t) => {
  const running = await serve(t, ['examples/koa.mjs']);
  t.match(applicationLine(running), /a Koa app/);
  const res = await request({ port: running.port(), path: '/k' });
  t.same(JSON.parse(res.body), { app: 'koa', path: '/k' });
});

t.test('Fastify, made ready before serving, with a request body', async (t) => {
  const running = await serve(t, ['examples/fastify.mjs']);
  t.match(applicationLine(running), /a Fastify instance/);
  const res = await request({ port: running.port(), path: '/echo', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
  t.equal(res.status, 200);
  t.same(JSON.parse(res.body), { app: 'fastify', echo: { n: 1 } });
  t.equal(await running.stop(), 0, 'Fastify closes cleanly after the drain');
});

t.test('Hono (fetch-style), including a streamed body', async (t) => {
  const running = await serve(t, ['examples/hono.mjs']);
  t.match(applicationLine(running), /a fetch handler/);
  t.same(JSON.parse((await request({ port: running.port() })).body), { app: 'hono' });
  t.equal((await request({ port: running.port(), path: '/stream' })).body, 'chunk 1\nchunk 2\n');
});

t.test('a CommonJS factory called with the extra args', async (t) => {
  const running = await serve(t, ['examples/factory.cjs:createApp', 'Bonjour']);
  t.match(applicationLine(running), /from a factory/);
  t.equal((await request({ port: running.port() })).body, 'Bonjour from a factory\n');
});

t.test('an ESM-only package, by name with an export, resolved from the working directory', async (t) => {
  const running = await serve(t, ['greeter-app:createApp', 'a', 'b'], { cwd: 'test/fixtures' });
  t.equal((await request({ port: running.port() })).body, 'greeter a,b\n');
});

t.test('a named export and an exported http.Server', async (t) => {
  const named = await serve(t, ['test/fixtures/apps/named-only.mjs:handler']);
  t.equal((await request({ port: named.port() })).body, 'named\n');
  const server = await serve(t, ['test/fixtures/apps/server-instance.cjs']);
  t.equal((await request({ port: server.port() })).body, 'from an http.Server\n');
});

t.test('an app that throws or rejects: 500 for that request, logged with its stack, serving goes on', async (t) => {
  const running = await serve(t, ['test/fixtures/apps/faulty.mjs']);
  const port = running.port();
  for (const path of ['/throw', '/reject']) {
    const res = await request({ port, path });
    t.equal(res.status, 500, `${path} answers 500`);
    t.equal(res.body, 'Internal Server Error\n');
  }
  await t.rejects(request({ port, path: '/midway' }), 'a response already under way is cut, not passed off as complete');
  t.equal((await request({ port, path: '/ok' })).body, 'fine\n', 'the server keeps serving');
  await waitForLine(running, (line) => line.msg === 'request failed: the app threw' && line.url === '/midway');
  const logged = running.lines.filter((line) => line.msg === 'request failed: the app threw');
  t.equal(logged.length, 3);
  t.match(logged[0], { level: 50, url: '/throw', err: { message: 'sync failure in the app', stack: /faulty\.mjs/ } });
  t.match(logged[1], { url: '/reject', err: { message: 'async failure in the app' } });
});

t.test('a fetch handler that throws gets the same 500', async (t) => {
  const running = await serve(t, ['test/fixtures/apps/fetch-throws.mjs']);
  t.equal((await request({ port: running.port() })).headers['x-shape'], 'fetch');
  t.equal((await request({ port: running.port(), path: '/boom' })).status, 500);
  const logged = await waitForLine(running, (line) => line.msg === 'request failed: the app threw');
  t.match(logged, { level: 50, err: { message: 'fetch handler failure' } });
});

t.test('malformed HTTP gets 400 and the server keeps serving', async (t) => {
  const running = await serve(t, []);
  t.match(await rawExchange(running.port(), 'NONSENSE / HTTP/9.9\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request/);
  t.equal((await request({ port: running.port() })).status, 200);
});
