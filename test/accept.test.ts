// Accept=yes: the manager accepts, and hands each process one connected
// socket. chaussette serves it as one HTTP connection (keep-alive included)
// and exits when it closes. Real systemd-socket-activate -a, and a
// socketpair handed down by this test.

import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLI, FIXTURES, freePort, onEvent, request, type Running, sleep, startChaussette, stdioWith, waitForArrival, waitForLine, waitUntil } from './helpers.js';

const PID_APP = join(FIXTURES, 'apps', 'pid.mjs');

/** A process that is gone, or a zombie nobody reaped yet: either way, it has exited. */
function hasExited(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  try {
    return readFileSync(stat, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

/** Whether `pid` exits within the time (nothing tells this process when an activator's child exits). */
function waitExited(pid: number, timeoutMs = 5000): Promise<boolean> {
  return waitUntil(() => hasExited(pid), timeoutMs, `process ${pid} to exit`).then(
    () => true,
    () => false,
  );
}

/** systemd-socket-activate in per-connection mode, running chaussette with the pid app for each connection. */
async function acceptOnPort(t: Test): Promise<{ port: number; activator: Running }> {
  const port = await freePort();
  const activator = await startChaussette([PID_APP], {
    command: ['systemd-socket-activate', '--accept', '-l', `127.0.0.1:${port}`, process.execPath, CLI],
    waitReady: false,
  });
  t.teardown(() => activator.stop('SIGKILL'));
  await waitUntil(() => activator.stderr().includes('Listening on'), 5000, () => `systemd-socket-activate to listen: ${activator.stderr()}`, {
    wake: activator.onChange,
  });
  return { port, activator };
}

t.test('systemd-socket-activate --accept: one process per connection, each exits when its connection closes', async (t) => {
  const { port, activator } = await acceptOnPort(t);

  const first = await request({ port, path: '/', agent: false });
  const second = await request({ port, path: '/', agent: false });
  t.equal(first.status, 200);
  t.equal(second.status, 200);
  const [a, b] = [Number(first.body), Number(second.body)];
  t.not(a, b, 'each connection had its own process');
  t.ok(await waitExited(a), `process ${a} exited after its connection closed`);
  t.ok(await waitExited(b), `process ${b} exited after its connection closed`);
  // The activator is still running: its children's lines may still be in the pipe.
  t.ok(
    await waitForLine(activator, (line) => /^Serving on fd 3: one connection from 127\.0\.0\.1:\d+ to 127\.0\.0\.1:\d+ \(Accept=yes\)$/.test(line.msg)),
    'the log says what is served',
  );
  t.ok(await waitForLine(activator, (line) => line.msg === 'The connection closed: exiting'));
});

t.test('keep-alive on an accepted connection: its requests all go to the one process', async (t) => {
  const { port } = await acceptOnPort(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push((await request({ port, path: '/', agent })).body);
  t.equal(new Set(answers).size, 1, 'three requests, one process');
  const pid = Number(answers[0]);
  // Not a wait for an event: proof that the process does not exit while its
  // connection is open. Nothing marks "would have exited by now"; 200 ms is
  // ample for the exit that follows a close (see the test above).
  await sleep(200);
  t.notOk(hasExited(pid), 'still serving while the connection is open');
  agent.destroy();
  t.ok(await waitExited(pid), 'exits once the client closes');
});

t.test('a socketpair end on fd 3 is served as one connection, and SIGTERM lets its request finish', async (t) => {
  const running = await startChaussette(['--fd', '3', PID_APP], { stdio: stdioWith(3, 'pipe'), waitReady: true });
  t.teardown(() => running.stop('SIGKILL'));
  const socket = running.child.stdio[3] as import('node:net').Socket;
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.write('GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitUntil(() => received.includes(`\r\n\r\n${running.child.pid}\n`), 3000, () => `the answer on the socketpair: ${JSON.stringify(received)}`, {
    wake: onEvent(socket, 'data'),
  });
  t.match(received, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(received, /Connection: keep-alive/i, 'the connection stays open for more');

  received = '';
  socket.write('GET /?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitForArrival(running, '/?ms=800');
  running.child.kill('SIGTERM');
  t.equal(await running.exited, 0);
  t.match(received, /^HTTP\/1\.1 200 OK\r\n/, 'the request in flight at SIGTERM was answered');
  t.match(received, /Connection: close/i, 'as the last one');
  t.ok(await waitForLine(running, (line) => /^Received SIGTERM: draining 1 connection/.test(line.msg)));
});

t.test('the peer closing ends the process with exit 0', async (t) => {
  const running = await startChaussette(['--fd', '3'], { stdio: stdioWith(3, 'pipe') });
  t.teardown(() => running.stop('SIGKILL'));
  (running.child.stdio[3] as import('node:net').Socket).end();
  t.equal(await running.exited, 0);
  t.ok(running.lines.some((line) => line.msg === 'The connection closed: exiting'));
});

t.test('an accepted connection keeps the header timeout (slowloris guard)', async (t) => {
  const running = await startChaussette(['--fd', '3', '--headers-timeout', '1'], { stdio: stdioWith(3, 'pipe') });
  t.teardown(() => running.stop('SIGKILL'));
  const socket = running.child.stdio[3] as import('node:net').Socket;
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const started = Date.now();
  t.equal(await running.exited, 0, 'the connection was closed for it, so the process ended');
  t.match(received, /^HTTP\/1\.1 408 Request Timeout/);
  t.ok(Date.now() - started < 4000, `within ${Date.now() - started} ms`);
});
