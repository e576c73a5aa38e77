// Server-Sent Events at a stop: the stream open at SIGTERM ends cleanly
// about a second later (so that an EventSource client reconnects to the
// next process), rather than holding the stop for the graceful timeout and
// then being cut; an app that listens to `stopping` says its last word.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { cleanEnv, FIXTURES, serve, waitUntil } from './helpers.js';

const SSE = join(FIXTURES, 'apps', 'sse.mjs');

function subscribe(port: number) {
  const stream = { text: '', ended: false, error: undefined as Error | undefined };
  const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8').on('data', (chunk: string) => (stream.text += chunk));
    res.on('end', () => (stream.ended = true));
    res.on('error', (error) => (stream.error = error));
  });
  req.on('error', (error) => (stream.error = error));
  req.end();
  return stream;
}

for (const sayBye of [false, true]) {
  t.test(`an SSE stream open at SIGTERM ends cleanly within about a second${sayBye ? ', after the app\'s last event' : ''}`, async (t) => {
    const running = await serve(t, [SSE], { env: cleanEnv(sayBye ? { SAY_BYE: '1' } : {}) });
    const stream = subscribe(running.port());
    await waitUntil(() => stream.text.includes('data: tick 2'), 5000, 'three events');
    const signalled = Date.now();
    running.child.kill('SIGTERM');
    await waitUntil(() => stream.ended || stream.error, 10_000, 'the stream to end');
    const took = Date.now() - signalled;
    t.notOk(stream.error, 'ended, not cut (curl would say: transfer closed with outstanding read data)');
    t.ok(took < 3000, `ended ${took} ms after SIGTERM, not after the 30 s graceful timeout`);
    if (sayBye) t.match(stream.text, /event: bye\ndata: SIGTERM\n\n/, 'the app saw `stopping` and said goodbye');
    t.equal(await running.exited, 0);
  });
}
