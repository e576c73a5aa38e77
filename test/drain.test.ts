// The drain's rule for keep-alive connections at stop (src/drain.ts), as a
// pure function of byte counts and time: a connection is closed once it has
// been quiet for the linger (one that has sent nothing yet, for
// FIRST_REQUEST_WAIT_MS), any byte or response in flight starts the linger
// again, and one that received a byte between the sweep and the close is kept.
import t, { type Test } from 'tap';
import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { drain, FIRST_REQUEST_WAIT_MS, QuietConnections } from '../src/drain.js';
import { connectionCount } from '../src/node-internals.js';
import { onEvent, waitUntil } from './helpers.js';

const socket = (bytesRead: number) => ({ bytesRead }) as unknown as Socket & { bytesRead: number };

t.test('quiet for the linger: closed; a byte received starts it again', async (t) => {
  const quiet = new QuietConnections(250);
  const idle = socket(100);
  const busy = socket(100);
  t.same(quiet.sweep([idle, busy], 0), [], 'first seen: nothing closed');
  busy.bytesRead = 180; // Its next request is arriving.
  t.same(quiet.sweep([idle, busy], 200), [], 'within the linger');
  t.same(quiet.sweep([idle, busy], 250), [idle], 'the quiet one, once its linger is over');
  t.same(quiet.sweep([busy], 449), [], 'the other: its linger began with its last byte');
  t.same(quiet.sweep([busy], 450), [busy]);
});

t.test('a linger of 0 closes what is quiet at the second look', async (t) => {
  const quiet = new QuietConnections(0);
  const idle = socket(90);
  t.same(quiet.sweep([idle], 10), []);
  t.same(quiet.sweep([idle], 10), [idle]);
});

t.test('a connection that has sent nothing yet waits for its first request longer than the linger', async (t) => {
  const quiet = new QuietConnections(250);
  const silent = socket(0);
  const idle = socket(100);
  t.same(quiet.sweep([silent, idle], 0), []);
  t.same(quiet.sweep([silent, idle], 250), [idle], 'a keep-alive connection between requests: the linger');
  t.same(quiet.sweep([silent], FIRST_REQUEST_WAIT_MS - 1), [], 'one just accepted: its client may be slow to be scheduled');
  t.same(quiet.sweep([silent], FIRST_REQUEST_WAIT_MS), [silent], 'closed once that wait is over');
  t.ok(FIRST_REQUEST_WAIT_MS > 250);
});

t.test('what arrived between the sweep and the close keeps the connection open', async (t) => {
  const quiet = new QuietConnections(250);
  const late = socket(100);
  const idle = socket(100);
  quiet.sweep([late, idle], 0);
  const found = quiet.sweep([late, idle], 300);
  t.same(found, [late, idle], 'quiet as far as the process had read');
  late.bytesRead = 180; // The request that sat in the kernel while the process was not scheduled, read by the poll phase.
  t.same(quiet.confirm(found), [idle], 'only the one still quiet is closed');
});

// The same rule on a real node:http server drained in this process: a client
// here writes into the kernel at once (a connected socket's write is tried
// synchronously), and blocking this event loop stands for a server process
// the machine did not schedule.

/** A keep-alive client on one raw connection: each answer in full, or how the connection ended. */
async function rawClient(port: number) {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  let received = '';
  let ended: string | undefined;
  const changed = new EventEmitter();
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    received += chunk;
    changed.emit('change');
  });
  socket.on('error', (error: NodeJS.ErrnoException) => (ended = error.code ?? error.message));
  socket.on('close', () => {
    ended ??= 'closed';
    changed.emit('change');
  });
  const answers = () => received.split('HTTP/1.1 ').slice(1);
  return {
    socket,
    ended: () => ended,
    send: (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
    /** The `n`th answer (from 1), once whole, or the way the connection ended before it. */
    answer: (n: number) =>
      waitUntil(
        () => {
          const answer = answers()[n - 1];
          if (answer?.endsWith('\r\n\r\nok')) return answer;
          if (ended) return `ended: ${ended}`;
          return undefined;
        },
        10_000,
        `answer ${n}`,
        { wake: onEvent(changed, 'change') },
      ),
  };
}

async function drainedServer(t: Test) {
  const server = createServer((_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.closeAllConnections());
  return { server, port: (server.address() as AddressInfo).port };
}

t.test('a request that reached the kernel while the process was not scheduled is answered, not reset', async (t) => {
  const { server, port } = await drainedServer(t);
  const client = await rawClient(port);
  client.send('/1');
  t.match(await client.answer(1), /^200 OK[\s\S]*Connection: keep-alive/i, 'the first answer keeps the connection');
  const drained = drain([server], 10_000, undefined, 100);
  // Its next request is in the server's kernel buffer now; this process then runs nothing for
  // longer than the linger, as a process the scheduler left out would: the drain's next sweep
  // finds the connection quiet before the event loop has read that request.
  client.send('/2');
  const until = Date.now() + 400;
  while (Date.now() < until);
  const answer = await client.answer(2);
  t.match(answer, /^200 OK[\s\S]*Connection: close/i, 'answered, with Connection: close');
  t.equal((await drained).forced, 0);
});

t.test('a connection accepted just before the stop, whose client is slow to send, is served', async (t) => {
  const { server, port } = await drainedServer(t);
  const idle = await rawClient(port);
  idle.send('/1');
  await idle.answer(1);
  const silent = await rawClient(port);
  await waitUntil(() => connectionCount(server) === 2, 5000, 'the server to accept both');
  const drained = drain([server], 10_000, undefined, 50);
  // The keep-alive connection between requests is closed after the linger; the one that has sent nothing is not.
  await waitUntil(() => idle.ended(), 5000, 'the idle keep-alive connection to be closed');
  t.notOk(silent.ended(), 'the silent one is still open');
  silent.send('/late');
  t.match(await silent.answer(1), /^200 OK[\s\S]*Connection: close/i, 'its first request is answered, with Connection: close');
  t.equal((await drained).forced, 0);
});
