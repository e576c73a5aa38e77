// LogSink against a pretend descriptor: what waits, what is dropped and
// counted, where the notice goes, and that nothing it holds passes its limit.
import t from 'tap';
import { LogSink, type WriteSync } from '../src/logs/sink.js';

const errno = (code: string) => Object.assign(new Error(`${code}: pretend, write`), { code });

/** A destination that takes what `take` allows: a byte count (EAGAIN at 0), or an error code to throw. */
function destination() {
  let take: number | string = Infinity;
  let written = '';
  const write: WriteSync = (_fd, data) => {
    if (typeof take === 'string') throw errno(take);
    const text = data.toString();
    if (take === 0) throw errno('EAGAIN');
    const n = Math.min(Buffer.byteLength(text), take);
    written += Buffer.from(text).subarray(0, n).toString();
    if (take !== Infinity) take -= n;
    return n;
  };
  return {
    write,
    set: (value: number | string) => void (take = value),
    text: () => written,
  };
}

function setUp(queueLimit = 100) {
  const dest = destination();
  const reports: string[] = [];
  const exits: Array<() => void> = [];
  const sink = new LogSink(
    7,
    (dropped, reason) => `NOTICE ${dropped} (${reason})\n`,
    { failing: (reason) => reports.push(`failing: ${reason}`), recovered: (dropped) => reports.push(`recovered: ${dropped}`) },
    { write: dest.write, queueLimit, retryMs: 1_000_000, now: () => 0, atExit: (flush) => exits.push(flush) },
  );
  return { sink, dest, reports, exit: () => exits.forEach((flush) => flush()) };
}

t.test('writes go straight out while the destination takes them', async (t) => {
  const { sink, dest, reports } = setUp();
  sink.write('a\n');
  sink.write('b\nc\n');
  t.equal(dest.text(), 'a\nb\nc\n');
  t.same(reports, []);
  t.equal(sink.trouble(), undefined);
});

t.test('EAGAIN: lines wait, in order, up to the limit; past it they are dropped, counted, reported once; the notice follows what waited', async (t) => {
  const { sink, dest, reports } = setUp(20);
  dest.set(0);
  sink.write('one 5678\n'); // 9 bytes
  sink.write('two 5678\n'); // 18
  t.same(reports, [], 'waiting is not failing');
  sink.write('three\nfour\n'); // 29 > 20: dropped (2 lines)
  sink.write('five\n'); // dropped: a run of drops goes on until the notice is out
  t.same(reports, ['failing: its reader does not keep up (20 bytes waiting)']);
  t.same(sink.trouble(), { dropped: 3, reason: 'its reader does not keep up (20 bytes waiting)' });
  dest.set(Infinity);
  sink.write('six\n');
  t.equal(dest.text(), 'one 5678\ntwo 5678\nNOTICE 3 (its reader does not keep up (20 bytes waiting))\nsix\n');
  t.same(reports, ['failing: its reader does not keep up (20 bytes waiting)', 'recovered: 3']);
  t.equal(sink.trouble(), undefined);
});

t.test('a write cut short: its rest goes first, and a notice after a cut line starts on a line of its own', async (t) => {
  const { sink, dest, reports } = setUp();
  dest.set(4);
  sink.write('abcdefgh\n');
  t.equal(dest.text(), 'abcd');
  dest.set(2);
  sink.write('next\n'); // The rest first: "ef" out, "gh\n" and "next\n" wait.
  t.equal(dest.text(), 'abcdef');
  dest.set('ENOSPC');
  sink.write('lost\n');
  t.same(reports, ['failing: ENOSPC: pretend, write'], 'what waited is dropped with it');
  t.same(sink.trouble(), { dropped: 3, reason: 'ENOSPC: pretend, write' }, 'the rest of the cut line, next, lost');
  dest.set(Infinity);
  sink.write('back\n');
  t.equal(dest.text(), 'abcdef\nNOTICE 3 (ENOSPC: pretend, write)\nback\n');
});

t.test('a destination that refuses: every line dropped, reported once, however long', async (t) => {
  const { sink, dest, reports } = setUp();
  dest.set('ENOSPC');
  for (let i = 0; i < 10_000; i++) sink.write(`line ${i}\n`);
  t.same(reports, ['failing: ENOSPC: pretend, write']);
  t.same(sink.trouble(), { dropped: 10_000, reason: 'ENOSPC: pretend, write' });
  dest.set('EPIPE');
  sink.write('x\n');
  t.same(sink.trouble(), { dropped: 10_001, reason: 'EPIPE: pretend, write' }, 'the reason is the latest');
  t.equal(dest.text(), '');
});

t.test('at the exit: what waits is written once the destination takes it; a refusing one is not waited for', async (t) => {
  const { sink, dest, exit } = setUp();
  dest.set(0);
  sink.write('queued\n');
  dest.set(Infinity);
  exit();
  t.equal(dest.text(), 'queued\n');
  sink.write('after the exit handler\n');
  t.equal(dest.text(), 'queued\nafter the exit handler\n', 'a later write (a batch flushed at the exit) goes out at once');

  const refusing = setUp();
  refusing.dest.set('EIO');
  refusing.sink.write('lost\n');
  const before = Date.now();
  refusing.exit();
  t.ok(Date.now() - before < 500, 'no wait for a destination that refuses');
});
