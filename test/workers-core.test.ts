// The pure parts of --workers and --reload: which worker gets a connection,
// how long a failing slot waits, what the reloader ignores and where it looks.
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ignoredName, projectRoot } from '../src/dev/watch.js';
import { pickWorker, restartDelayMs } from '../src/workers/pool.js';
import { parse } from './helpers.js';

t.test('pickWorker: the fewest pending hand-overs, equals in turn', async (t) => {
  t.equal(pickWorker([], 0), -1, 'no worker ready');
  t.same([0, 1, 2, 3].map((cursor) => pickWorker([0, 0, 0], cursor)), [0, 1, 2, 0], 'round robin among idle workers');
  t.equal(pickWorker([1, 0, 1], 0), 1, 'a worker with a hand-over still pending is passed over');
  t.equal(pickWorker([3, 5, 2, 2], 1), 2, 'the least pending, first from the cursor');
  t.equal(pickWorker([4, 4], 1), 1);
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
  t.equal(parse(['--reload', './app.js', '--reload']).args[0], '--reload', 'after the app, arguments are the app\'s');
});
