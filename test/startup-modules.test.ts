// What a plain HTTP service loads at startup: not TLS, HTTP/2 or worker
// threads (~10 ms of Node internals on a cold start, kept out by
// scripts/bundle.mjs), read from the real command's process.moduleLoadList
// at its exit; they still load when a backend needs them. And a CommonJS app
// is required, as `node app.js` would run it, not imported through Node's
// ESM loader (another ~10 ms).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { makeCertificates, read } from './certificates.js';
import { CLI, cleanEnv, FIXTURES, request, serve } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'chaussette-builtins-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const certs = makeCertificates();
t.teardown(certs.remove);

/** Serves with `args`, answers one request with `ask`, stops, and returns the built-ins the process loaded. */
async function builtinsLoaded(t: Test, name: string, args: string[], ask: (port: number) => Promise<number>): Promise<Set<string>> {
  const file = join(dir, `${name}.txt`);
  const running = await serve(t, args, {
    // Through env(1), to drop the NODE_OPTIONS that tap's process tracker
    // adds to every child it sees spawned: its loader loads worker_threads.
    command: ['env', '-u', 'NODE_OPTIONS', process.execPath, '-r', join(FIXTURES, 'loaded-builtins.cjs'), CLI],
    env: cleanEnv({ LOADED_BUILTINS_FILE: file }),
  });
  t.equal(await ask(running.port()), 200, `${name}: answered`);
  t.equal(await running.stop(), 0, `${name}: stopped cleanly`);
  return new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean));
}

// Not child_process: node:net loads it (for node:cluster) when a server first listens, bare Node's included.
const LOADED_ON_DEMAND = ['https', 'tls', 'http2', 'dns/promises', 'worker_threads', 'assert'];

t.test('plain HTTP: none of TLS, HTTP/2 or worker threads is loaded', async (t) => {
  const loaded = await builtinsLoaded(t, 'http', [], async (port) => (await request({ port })).status);
  t.ok(loaded.has('http') && loaded.has('net'), 'the list is read: node:http and node:net are in it');
  t.same(
    LOADED_ON_DEMAND.filter((name) => loaded.has(name)),
    [],
    'not loaded',
  );
});

t.test('the https backend still gets node:https and node:tls when it needs them', async (t) => {
  const ask = (port: number) =>
    new Promise<number>((resolve, reject) => {
      httpsRequest({ host: 'localhost', port, ca: read(certs.ca), agent: false, timeout: 10000 }, (res) => {
        res.resume().on('end', () => resolve(res.statusCode!));
      })
        .on('error', reject)
        .end();
    });
  const loaded = await builtinsLoaded(t, 'https', ['--backend', 'https', '--certfile', certs.cert, '--keyfile', certs.key], ask);
  t.ok(loaded.has('https') && loaded.has('tls'), 'loaded on first use');
  t.notOk(loaded.has('http2'), 'and HTTP/2 is still not');
});

// Each app writes the stack it is loaded from. Node 24 and later load part of
// the ESM loader at every start, so the list of built-ins cannot tell; a frame
// of node:internal/modules/esm/ below the app's top level can.
const STACK = {
  cjs: "Error.stackTraceLimit = 50;\nrequire('node:fs').writeFileSync(process.env.APP_STACK_FILE, new Error().stack);\n",
  esm: "import { writeFileSync } from 'node:fs';\nError.stackTraceLimit = 50;\nwriteFileSync(process.env.APP_STACK_FILE, new Error().stack);\n",
};
const LISTENER = { cjs: "module.exports = (req, res) => res.end('served');\n", esm: "export default (req, res) => res.end('served');\n" };

t.test('a CommonJS app is required; an ES module app is imported, whatever its file is called', async (t) => {
  const apps = join(dir, 'apps');
  const untyped = join(apps, 'untyped');
  const typed = join(apps, 'typed');
  mkdirSync(untyped, { recursive: true });
  mkdirSync(typed);
  writeFileSync(join(untyped, 'package.json'), '{}\n');
  writeFileSync(join(typed, 'package.json'), '{ "type": "module" }\n');
  const cjs = `${STACK.cjs}${LISTENER.cjs}`;
  const esm = `${STACK.esm}${LISTENER.esm}`;
  const cases = [
    { name: 'app.cjs', file: join(untyped, 'app.cjs'), source: cjs, imported: false },
    { name: 'app.js, package without "type"', file: join(untyped, 'app.js'), source: cjs, imported: false },
    { name: 'app.mjs', file: join(untyped, 'app.mjs'), source: esm, imported: true },
    { name: 'app.js, "type": "module"', file: join(typed, 'app.js'), source: esm, imported: true },
    // Compiled by require() (Node 20.19 and later), refused for its top-level await before it runs: imported instead.
    { name: 'app.js with ES module syntax and top-level await, package without "type"', file: join(untyped, 'tla.js'), source: `${esm}await Promise.resolve();\n`, imported: true },
  ];
  for (const c of cases) {
    writeFileSync(c.file, c.source);
    const stackFile = join(dir, `stack-${cases.indexOf(c)}.txt`);
    const running = await serve(t, [c.file], { env: cleanEnv({ APP_STACK_FILE: stackFile }) });
    t.equal((await request({ port: running.port() })).body, 'served', `${c.name}: the app answers`);
    t.equal(await running.stop(), 0);
    const stack = readFileSync(stackFile, 'utf8');
    t.equal(/\(node:internal\/modules\/esm\//.test(stack), c.imported, `${c.name}: ${c.imported ? 'imported' : 'required'}`);
  }
});
