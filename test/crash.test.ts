// An exception nothing caught (here: thrown in a request body's 'end'
// callback) ends the process gracefully: logged with its stack, the other
// requests in flight answered, then exit 70 for the manager to restart it;
// with --workers only that worker goes, and a new one takes its place.
import t from 'tap';
import { join } from 'node:path';
import { FIXTURES, request, serve, waitForArrival, waitForLine } from './helpers.js';

const APP = join(FIXTURES, 'apps', 'throw-in-callback.mjs');

t.test('one process: the request in flight is answered, then exit 70', async (t) => {
  const running = await serve(t, ['--graceful-timeout', '2', APP]);
  const inFlight = request({ port: running.port(), path: '/slow?ms=1000' });
  await waitForArrival(running, '/slow?ms=1000');
  void request({ port: running.port(), path: '/throw', method: 'POST', body: 'x' }).catch(() => {});
  const fatal = await waitForLine(running, (line) => line.level === 60);
  t.match(fatal, { msg: 'the app threw outside any request; stopping, then exiting 70 for a restart', err: { message: 'bug in a body callback', stack: /\n\s+at / } });
  t.match((await inFlight).body, /^done by \d+\n$/, 'the other request in flight was answered');
  t.equal(await running.exited, 70, 'exit 70: the manager restarts it');
});

t.test('--workers 2: only that worker goes, after answering what it had; a new one takes its place', async (t) => {
  const running = await serve(t, ['--workers', '2', '--graceful-timeout', '2', APP]);
  const port = running.port();
  // One slow request on each worker (new connections go to the worker with the fewest being handed over).
  const slow = [request({ port, path: '/slow?ms=1000' }), request({ port, path: '/slow?ms=1000' })];
  await waitForArrival(running, '/slow?ms=1000', 2);
  void request({ port, path: '/throw', method: 'POST', body: 'x' }).catch(() => {});
  const crashed = await waitForLine(running, (line) => /^Worker \d \(pid \d+\) crashed \(the app threw outside any request\); starting a new one in 0\.1 s$/.test(line.msg));
  for (const answer of await Promise.all(slow)) t.match(answer.body, /^done by \d+\n$/, 'answered, on both workers');
  const pid = Number(/pid (\d+)/.exec(crashed.msg)![1]);
  await waitForLine(running, (line) => /serves again$/.test(line.msg), 10_000);
  const answers = await Promise.all(Array.from({ length: 10 }, () => request({ port, path: '/slow' })));
  t.ok(answers.every((answer) => answer.status === 200), 'served on by both workers');
  t.notOk(answers.some((answer) => answer.body.includes(`${pid}`)), 'never by the worker that crashed');
  t.equal(running.child.exitCode, null, 'the primary runs on');
  t.equal(await running.stop(), 0);
});
