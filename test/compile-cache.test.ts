// The compile cache dist/bin.cjs loads the bundle through (src/compile-cache.cts):
// where it lives, that it is used, that a rejected one is harmless, and that
// stack traces name the bundle where it is installed, not where it was built.
// Under whichever Node runs the suite: module.enableCompileCache() from 22.8,
// our own V8 cache of the bundle before.

import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import compileCache from '../src/compile-cache.cjs';
import { cleanEnv, FIXTURES, request, ROOT, serve, type Running } from './helpers.js';

// A CommonJS module (the bin loads it): its exports as Node's ESM sees them.
const { cacheIdentity, compileCacheDirectory, v8CacheFile } = compileCache;
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
/** Node's own compile cache API, which the bin prefers. */
const nodeCache = major > 22 || (major === 22 && minor >= 8);
const STACK_APP = join(FIXTURES, 'apps', 'stack.cjs');
const PID_APP = join(FIXTURES, 'apps', 'pid.mjs');
const node = { version: 'v20.20.2', arch: 'x64', flags: '' };

t.test('where the cache goes: NODE_COMPILE_CACHE, else $CACHE_DIRECTORY, else the temporary directory', async (t) => {
  t.equal(compileCacheDirectory({}), undefined, "Node's own choice");
  t.equal(compileCacheDirectory({ CACHE_DIRECTORY: '/var/cache/chaussette/app' }), '/var/cache/chaussette/app/node-compile-cache');
  t.equal(compileCacheDirectory({ CACHE_DIRECTORY: '/var/cache/a:/var/cache/b' }), '/var/cache/a/node-compile-cache', 'the first of several');
  t.equal(compileCacheDirectory({ CACHE_DIRECTORY: '/var/cache/a', NODE_COMPILE_CACHE: '/mine' }), undefined, "the user's own wins (Node reads it)");

  const bundle = '/usr/lib/chaussette/dist/chaussette.bundle.cjs';
  t.match(v8CacheFile({}, '/tmp', bundle, node), /^\/tmp\/node-compile-cache\/chaussette-v20\.20\.2-[0-9a-f]{8}\.v8cache$/);
  t.match(v8CacheFile({ CACHE_DIRECTORY: '/var/cache/c' }, '/tmp', bundle, node), /^\/var\/cache\/c\/node-compile-cache\/chaussette-/);
  t.match(v8CacheFile({ CACHE_DIRECTORY: '/var/cache/c', NODE_COMPILE_CACHE: '/mine' }, '/tmp', bundle, node), /^\/mine\/chaussette-/);
  t.equal(v8CacheFile({ NODE_DISABLE_COMPILE_CACHE: '' }, '/tmp', bundle, node), undefined, 'set at all, as Node reads it: off');
  const names = new Set([
    v8CacheFile({}, '/tmp', bundle, node),
    v8CacheFile({}, '/tmp', '/srv/other/dist/chaussette.bundle.cjs', node),
    v8CacheFile({}, '/tmp', bundle, { ...node, flags: '--max-old-space-size=512' }),
    v8CacheFile({}, '/tmp', bundle, { ...node, version: 'v20.19.2' }),
  ]);
  t.equal(names.size, 4, 'a file per install, flags and Node: none overwrites another in turn');
  t.not(
    cacheIdentity(bundle, { size: 1, mtimeMs: 2, ino: 3 }, ''),
    cacheIdentity(bundle, { size: 1, mtimeMs: 2, ino: 4 }, ''),
    'a bundle replaced in place (a new inode) does not take the old one\'s cache',
  );
});

/** A copy of dist/ elsewhere, as an install is: the bundle's real path is then not the one it was built at. */
function install(t: Test): { root: string; cache: string; bin: string; bundle: string } {
  const root = mkdtempSync(join(tmpdir(), 'chaussette-installed-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  // Without the source map, as the packages ship it: tap's hook turns source
  // maps on in every process a test spawns, and frames would name src/*.ts.
  cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true, filter: (path) => !path.endsWith('.map') });
  cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  const cache = join(root, 'cache');
  mkdirSync(cache);
  return { root, cache, bin: join(root, 'dist', 'bin.cjs'), bundle: join(root, 'dist', 'chaussette.bundle.cjs') };
}

/** The environment of a service with a CacheDirectory=, and none of the suite's own cache settings. */
function cacheEnv(cache: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = cleanEnv({ CACHE_DIRECTORY: cache, ...extra });
  for (const key of ['NODE_COMPILE_CACHE', 'NODE_DISABLE_COMPILE_CACHE', 'NODE_OPTIONS']) if (!(key in extra)) delete env[key];
  return env;
}

/** Serves `app` from the install at debug level, answers one request, stops: the cache line, the body, the exit code. */
async function serveOnce(t: Test, bin: string, env: NodeJS.ProcessEnv, app = STACK_APP): Promise<{ cacheLine: string; body: string; code: number }> {
  const running: Running = await serve(t, ['--log-level', 'debug', app], { command: [process.execPath, bin], env });
  const body = (await request({ port: running.port(), path: '/' })).body;
  const cacheLine = running.lines.find((line) => /^(Compile cache|V8 code cache): /.test(line.msg))?.msg ?? '(no cache line)';
  return { cacheLine, body, code: await running.stop() };
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((path) => statSync(join(dir, path)).isFile()).sort();
}

t.test('a second start uses the cache, and stack traces name the bundle where it is installed', async (t) => {
  const { cache, bin, bundle } = install(t);
  const env = cacheEnv(cache);
  const first = await serveOnce(t, bin, env);
  t.equal(first.code, 0);
  const second = await serveOnce(t, bin, env);
  t.equal(second.code, 0);
  const dir = join(cache, 'node-compile-cache');
  if (nodeCache) {
    t.equal(second.cacheLine, `Compile cache: ${dir} (module.enableCompileCache)`);
    const entries = filesUnder(dir);
    t.ok(entries.every((path) => path.startsWith(`v${process.versions.node}-${process.arch}-`)), `Node's layout: ${entries.join(', ')}`);
    t.equal(entries.length, 2, 'the bundle and the app (CommonJS, loaded with require())');
  } else {
    t.match(first.cacheLine, /^V8 code cache: \S+ none yet; a new one is written at exit$/);
    t.match(second.cacheLine, new RegExp(`^V8 code cache: ${dir}/chaussette-${process.version.replace(/\./g, '\\.')}-[0-9a-f]{8}\\.v8cache accepted$`));
  }
  for (const [run, body] of [['first', first.body], ['cached', second.body]]) {
    t.match(body, new RegExp(`^    at .*\\(${bundle.replace(/[.]/g, '\\.')}:\\d+:\\d+\\)$`, 'm'), `${run} start: frames in ${bundle}`);
    t.notMatch(body, join(ROOT, 'dist'), `${run} start: not the path it was built at`);
  }
});

t.test('an ESM app is cached too, where Node has the compile cache', async (t) => {
  const { cache, bin } = install(t);
  await serveOnce(t, bin, cacheEnv(cache), PID_APP);
  const entries = filesUnder(cache);
  // Before 22.8 only the bundle has a cache: the app is compiled by Node as usual.
  t.equal(entries.length, nodeCache ? 2 : 1, entries.join(', '));
});

t.test('a rejected cache only means a normal compile, and is replaced', async (t) => {
  const { cache, bin, bundle } = install(t);
  const env = cacheEnv(cache);
  await serveOnce(t, bin, env);
  const entries = filesUnder(cache);
  t.ok(entries.length >= 1, entries.join(', '));
  // Same names and headers, garbage where V8's data was.
  for (const entry of entries) {
    const path = join(cache, entry);
    const content = readFileSync(path);
    const keep = nodeCache ? 0 : content.indexOf(10) + 1;
    writeFileSync(path, Buffer.concat([content.subarray(0, keep), Buffer.alloc(content.length - keep, 0x5a)]));
  }
  const damaged = await serveOnce(t, bin, env);
  t.equal(damaged.code, 0, 'served and stopped cleanly');
  t.match(damaged.body, `(${bundle}:`);
  if (!nodeCache) t.match(damaged.cacheLine, /rejected by V8 \(another Node or other V8 flags\); a new one is written at exit$/);
  const again = await serveOnce(t, bin, env);
  if (!nodeCache) t.match(again.cacheLine, / accepted$/, 'the next start has a good one again');
  t.match(again.body, `(${bundle}:`);
});

t.test('NODE_OPTIONS=--max-old-space-size=512: starts, with a cache of its own', async (t) => {
  const { cache, bin, bundle } = install(t);
  await serveOnce(t, bin, cacheEnv(cache));
  const before = filesUnder(cache).length;
  const flagged = cacheEnv(cache, { NODE_OPTIONS: '--max-old-space-size=512' });
  const first = await serveOnce(t, bin, flagged);
  t.equal(first.code, 0);
  t.match(first.body, `(${bundle}:`);
  // Ours: another file for other flags, beside the first. Node's: another
  // directory when the flags change V8's flag hash (22), the same one when
  // V8 counts the heap size out of it (24, 26).
  const after = filesUnder(cache);
  t.ok(nodeCache ? after.length >= before : after.length > before, after.join(', '));
  const second = await serveOnce(t, bin, flagged);
  if (!nodeCache) t.match(second.cacheLine, / accepted$/);
  t.match(second.body, `(${bundle}:`);
});

t.test("the user's own NODE_COMPILE_CACHE and NODE_DISABLE_COMPILE_CACHE are obeyed", async (t) => {
  const { cache, bin } = install(t);
  const mine = join(cache, 'mine');
  const chosen = await serveOnce(t, bin, cacheEnv(join(cache, 'systemd'), { NODE_COMPILE_CACHE: mine }));
  t.match(chosen.cacheLine, nodeCache ? `Compile cache: ${mine}` : `V8 code cache: ${mine}/chaussette-`);
  t.ok(filesUnder(mine).length >= 1, 'written there');
  const off = join(cache, 'off');
  const disabled = await serveOnce(t, bin, cacheEnv(off, { NODE_DISABLE_COMPILE_CACHE: '1' }));
  t.equal(disabled.code, 0);
  t.match(disabled.cacheLine, /: off \(NODE_DISABLE_COMPILE_CACHE\)$/);
  t.same(readdirSync(cache).includes('off') ? filesUnder(off) : [], [], 'nothing written');
});
