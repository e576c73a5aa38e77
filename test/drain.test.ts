// The drain's rule for keep-alive connections at stop (src/drain.ts), as a
// pure function of byte counts and time: a connection is closed once it has
// been quiet for the linger, and any byte or response in flight starts the
// linger again.
import t from 'tap';
import type { Socket } from 'node:net';
import { QuietConnections } from '../src/drain.js';

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
  const idle = socket(0);
  t.same(quiet.sweep([idle], 10), []);
  t.same(quiet.sweep([idle], 10), [idle]);
});
