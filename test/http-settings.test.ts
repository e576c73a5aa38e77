// The HTTP backend's production defaults are really in force, and each is an option.
import t from 'tap';
import { rawExchange, request, serve } from './helpers.js';

t.test('keep-alive timeout: 65 s by default (above a proxy\'s 60 s), settable', async (t) => {
  const byDefault = await serve(t, []);
  t.equal((await request({ port: byDefault.port(), headers: { connection: 'keep-alive' } })).headers['keep-alive'], 'timeout=65');
  const set = await serve(t, ['--keep-alive-timeout', '7']);
  t.equal((await request({ port: set.port(), headers: { connection: 'keep-alive' } })).headers['keep-alive'], 'timeout=7');
});

t.test('max header size: 16 KiB by default, answered 431 above; settable', async (t) => {
  const big = { 'x-big': 'a'.repeat(20 * 1024) };
  const byDefault = await serve(t, []);
  t.equal((await request({ port: byDefault.port(), headers: big })).status, 431);
  const set = await serve(t, ['--max-header-size', '65536']);
  t.equal((await request({ port: set.port(), headers: big })).status, 200);
});

t.test('headers timeout: a client that never finishes its headers is answered 408 and closed', async (t) => {
  const running = await serve(t, ['--headers-timeout', '1']);
  const started = Date.now();
  t.match(await rawExchange(running.port(), 'GET / HTTP/1.1\r\nHost: x\r\n'), /^HTTP\/1\.1 408 Request Timeout/);
  t.ok(Date.now() - started < 10000, 'within seconds, not the 30 s default');
});

t.test('an exception outside any request: logged as fatal, exit 70 for the manager to restart', async (t) => {
  const running = await serve(t, ['test/fixtures/apps/crash-later.mjs']);
  running.child.kill('SIGUSR2');
  t.equal(await running.exited, 70);
  const fatal = running.lines.find((line) => line.level === 60);
  t.match(fatal, { msg: 'the app threw outside any request; stopping, then exiting 70 for a restart', err: { message: 'timer bug outside any request', stack: /timer bug outside any request\n\s+at / } });
});
