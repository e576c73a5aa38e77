// The pure parts of --workers and --reload: which worker gets a connection
// (--sticky's too), the most connections a worker accepting itself should
// hold, how long a failing slot waits, what the reloader ignores and where
// it looks.
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ignoredName, projectRoot } from '../src/dev/watch.js';
import { keptAlive, mostPerWorker } from '../src/workers/accepting.js';
import { pickWorker, restartDelayMs } from '../src/workers/pool.js';
import { clientKey, hashKey, stickySlot } from '../src/workers/sticky.js';
import { parse } from './helpers.js';

t.test('pickWorker: the fewest pending hand-overs, equals in turn', async (t) => {
  t.equal(pickWorker([], 0), -1, 'no worker ready');
  t.same([0, 1, 2, 3].map((cursor) => pickWorker([0, 0, 0], cursor)), [0, 1, 2, 0], 'round robin among idle workers');
  t.equal(pickWorker([1, 0, 1], 0), 1, 'a worker with a hand-over still pending is passed over');
  t.equal(pickWorker([3, 5, 2, 2], 1), 2, 'the least pending, first from the cursor');
  t.equal(pickWorker([4, 4], 1), 1);
});

t.test('stickySlot: a client address always gets the same slot; the next ready one while its own has no worker', async (t) => {
  const all = [true, true, true, true];
  const home = hashKey('192.0.2.7') % 4;
  t.equal(stickySlot(hashKey('192.0.2.7'), all), home, 'its home slot');
  t.same([1, 2, 3].map(() => stickySlot(hashKey('192.0.2.7'), all)), [home, home, home], 'every time');
  const withoutHome = all.map((_, i) => i !== home);
  t.equal(stickySlot(hashKey('192.0.2.7'), withoutHome), (home + 1) % 4, 'its slot empty: the next one');
  t.equal(stickySlot(hashKey('192.0.2.7'), withoutHome), (home + 1) % 4, 'and again the same next one');
  t.equal(stickySlot(5, [false, true, false]), 1, 'wraps around to the first ready slot');
  t.equal(stickySlot(5, [false, false, false]), -1, 'none ready');
  t.equal(stickySlot(5, []), -1, 'no slots');
  t.equal(stickySlot(4, [true, true, true, true], 1), 1, 'a retry looks from the slot after');
  t.equal(stickySlot(hashKey('a'), [true]), 0, 'one worker takes everyone');
});

t.test('hashKey spreads addresses over the slots, neighbours included', async (t) => {
  t.equal(hashKey('127.0.0.1'), hashKey('127.0.0.1'), 'the same address, the same hash');
  for (const slots of [2, 3, 4, 8]) {
    const counts = new Array<number>(slots).fill(0);
    for (let i = 0; i < 4096; i++) counts[hashKey(`10.0.${i >> 8}.${i & 255}`) % slots]!++;
    const even = 4096 / slots;
    t.ok(counts.every((count) => Math.abs(count - even) < even * 0.1), `${slots} slots, 4096 neighbouring addresses: ${counts.join(' / ')}`);
  }
  const firstEight = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => hashKey(`127.0.0.${i}`) % 2);
  t.ok(firstEight.includes(0) && firstEight.includes(1), `127.0.0.1 to .8 over 2 slots: ${firstEight.join('')}`);
});

t.test('clientKey: an IPv4 client is one key on a v4 or a dual-stack socket; no address is one key too', async (t) => {
  t.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
  t.equal(clientKey('192.0.2.7'), '192.0.2.7');
  t.equal(clientKey('2001:db8::1'), '2001:db8::1');
  t.equal(clientKey('::ffff:1'), '::ffff:1', 'only a mapped IPv4 address loses its prefix');
  t.equal(clientKey(undefined), '', 'a unix-socket client');
});

t.test('restartDelayMs doubles from 0.1 s and stops at 10 s', async (t) => {
  t.same([1, 2, 3, 4, 5].map(restartDelayMs), [100, 200, 400, 800, 1600]);
  t.equal(restartDelayMs(8), 10_000);
  t.equal(restartDelayMs(40), 10_000);
});

t.test('the reloader ignores editor droppings and node_modules', async (t) => {
  for (const name of ['.server.js.swp', 'app.js~', 'x.swx', '4913', '.git', 'node_modules', 'a.tmp']) t.ok(ignoredName(name), name);
  for (const name of ['server.js', 'app.mjs', 'config.json', 'v2']) t.notOk(ignoredName(name), name);
});

t.test('projectRoot: up from the app file to its package.json', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'project-'));
  mkdirSync(join(root, 'src', 'http'), { recursive: true });
  writeFileSync(join(root, 'package.json'), '{}');
  t.equal(projectRoot(join(root, 'src', 'http', 'app.js'), '/elsewhere'), root);
  t.equal(projectRoot(undefined, '/cwd'), '/cwd', 'no app file: the working directory');
  t.equal(projectRoot(join(root, 'node_modules', 'pkg', 'index.js'), '/cwd'), '/cwd', 'an installed package is not the project');
});

t.test('--workers and --reload, from the command line or the environment', async (t) => {
  t.match(parse([]), { workers: 0, reload: false });
  t.equal(parse(['--workers', '4']).workers, 4);
  t.equal(parse([], { CHAUSSETTE_WORKERS: '3' }).workers, 3);
  t.ok(parse(['--workers', 'auto']).workers >= 1, 'auto: one per CPU');
  t.equal(parse(['--reload']).reload, true);
  t.equal(parse([], { CHAUSSETTE_RELOAD: 'yes' }).reload, true);
  t.equal(parse([], { CHAUSSETTE_RELOAD: '0' }).reload, false);
  t.throws(() => parse(['--workers', 'many']), { code: 'ERR_USAGE_VALUE', message: /--workers "many" is not a number of workers \(0-1024\) or auto/ });
  t.throws(() => parse([], { CHAUSSETTE_RELOAD: 'maybe' }), { code: 'ERR_USAGE_VALUE', message: /CHAUSSETTE_RELOAD "maybe" is not one of 1, true, yes, on, 0, false, no, off/ });
  t.equal(parse(['./app.js', '--reload']).reload, true, 'after the app too');
  t.equal(parse(['--reload', './app.js', '--', '--reload']).args[0], '--reload', 'after --, arguments are the app\'s');
});

t.test('--sticky, from the command line, the environment or the file; off by default', async (t) => {
  t.equal(parse([]).sticky, false);
  t.equal(parse(['--workers', '2', '--sticky']).sticky, true);
  t.equal(parse([], { CHAUSSETTE_STICKY: 'yes' }).sticky, true);
  t.equal(parse(['--config', 'app.conf'], {}, { 'app.conf': 'workers = 4\nsticky = on\n' }).sticky, true);
  t.equal(parse(['--sticky'], {}).workers, 0, 'accepted without --workers: one process already keeps every client');
  t.throws(() => parse([], { CHAUSSETTE_STICKY: 'ip' }), { code: 'ERR_USAGE_VALUE', message: /CHAUSSETTE_STICKY "ip" is not one of 1, true/ });
});

t.test('mostPerWorker: the mean rounded up plus 5% (at least one), so the least loaded worker always has room', async (t) => {
  t.equal(mostPerWorker([25, 25]), 27, '50 over two: no worse than 27/23');
  t.equal(mostPerWorker([42, 8]), 27, 'the same total, however it is split now');
  t.equal(mostPerWorker([0, 0]), 1, 'idle: one each before the next report');
  t.equal(mostPerWorker([1, 0, 0]), 2);
  t.equal(mostPerWorker([400, 400, 400, 400]), 420);
  for (const counts of [[0, 5], [3, 9, 1], [100, 0], [7, 7, 7, 8]]) {
    t.ok(Math.min(...counts) < mostPerWorker(counts), `${counts.join('/')}: the least loaded may accept`);
  }
});


t.test('keptAlive: a worker pauses above its share only while its clients keep their connections', async (t) => {
  t.ok(keptAlive(0, 0, 0), 'nothing accepted lately (idle, or paused): as for keep-alive, so a burst is capped');
  t.ok(keptAlive(0, 5000, 50), 'requests on connections it holds');
  t.ok(keptAlive(10, 20, 30), 'two requests per connection');
  t.ok(keptAlive(400, 0, 400), 'WebSockets: no request event, but every one accepted is still open');
  t.notOk(keptAlive(600, 600, 12), 'a new connection per request: the kernel spreads them');
  t.notOk(keptAlive(600, 1100, 20), 'mostly new connections');
});
