// Bundles the command into one CommonJS file. Startup time is a product goal
// (a socket-activated service starts on its first request): loading ~40
// separate ESM files of ours, commander's and pino's cost ~50 ms, one bundled
// file ~15 ms, and a compile cache saves more (made where the bundle runs,
// not here: see src/compile-cache.cts).
// tsc still type-checks and emits dist/ for the library build.
import { build } from 'esbuild';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { sep } from 'node:path';

const requireBuiltin = createRequire(import.meta.url);

/**
 * pino loads worker_threads at startup, for its transports (thread-stream)
 * and to ask isMainThread. The command is always the main thread and writes
 * to destinations, not transports; so answer isMainThread at build time and
 * load thread-stream on first use only.
 */
const skipWorkerThreadsAtStartup = {
  name: 'skip-worker-threads-at-startup',
  setup(build) {
    build.onResolve({ filter: /^(node:)?worker_threads$/ }, (args) =>
      /pino[\\/]lib[\\/]tools\.js$/.test(args.importer) ? { path: 'main-thread', namespace: 'chaussette' } : undefined,
    );
    build.onResolve({ filter: /^thread-stream$/ }, () => ({ path: 'lazy-thread-stream', namespace: 'chaussette' }));
    build.onLoad({ filter: /^main-thread$/, namespace: 'chaussette' }, () => ({
      contents: 'module.exports = { isMainThread: true };',
      loader: 'js',
    }));
    build.onLoad({ filter: /^lazy-thread-stream$/, namespace: 'chaussette' }, () => ({
      // Resolved at run time, beside pino: an absolute path from this build
      // would point into the build machine's checkout (packages install elsewhere).
      contents: `module.exports = function ThreadStream(options) {
        const { dirname } = require('node:path');
        const owner = 'pino'; // a variable, so that esbuild leaves this lookup to run time
        const Real = require(require.resolve('thread-stream', { paths: [dirname(require.resolve(owner))] }));
        return new Real(options);
      };`,
      loader: 'js',
      resolveDir: process.cwd(),
    }));
  },
};

/**
 * Node built-ins that most starts never use, loaded on their first use
 * instead (test/startup-modules.test.ts checks): node:https with node:tls
 * (~5 ms) and node:http2 (~5 ms) serve only the TLS and HTTP/2 backends;
 * node:dns/promises (~1 ms) only a --host to look up, never an inherited
 * socket; sonic-boom calls assert only when it opens a destination. Each importer
 * named here reads their members inside functions only, never while its
 * module initialises. (Not child_process: Node's net loads it, for
 * node:cluster, the first time any server listens.)
 */
const LAZY_BUILTINS = [
  { builtins: ['https', 'http2', 'tls', 'dns/promises'], importer: new RegExp(`\\${sep}src\\${sep}`) },
  { builtins: ['assert'], importer: /sonic-boom[\\/]index\.js$/ },
];
const loadBuiltinsOnFirstUse = {
  name: 'load-builtins-on-first-use',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_0-9/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      const lazy = LAZY_BUILTINS.some(({ builtins, importer }) => builtins.includes(name) && importer.test(args.importer));
      return lazy ? { path: name, namespace: 'lazy-builtin' } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      // esbuild's import interop copies a module's own property names, so
      // each member is a getter, named here from the building Node's module.
      // A function, so that a callable module (assert) stays callable.
      contents: `const load = () => require('node:${args.path}');
        module.exports = function () { return Reflect.apply(load(), this, arguments); };
        for (const name of ${JSON.stringify(Object.keys(requireBuiltin(`node:${args.path}`)))}) {
          Object.defineProperty(module.exports, name, { enumerable: true, get: () => load()[name] });
        }`,
      loader: 'js',
    }));
  },
};

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: [new URL('../src/entry.ts', import.meta.url).pathname],
  outfile: new URL('../dist/chaussette.bundle.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Whitespace and syntax only, names kept: 36% fewer bytes to read, hash and
  // parse at each start (about 4 ms of a 90 ms cold start), and stack frames
  // still name every function. The linked map gives back files and lines
  // with NODE_OPTIONS=--enable-source-maps from Node 22.8 (Node 20 runs the
  // bundle through vm.Script for its code cache, which it does not map).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  define: { CHAUSSETTE_VERSION: JSON.stringify(version) },
  // Loaded only when needed (a terminal, a fetch-style app, NOTIFY_SOCKET): kept out of the startup path;
  // sd-notify is also a native addon, which cannot be bundled.
  external: ['pino-pretty', '@hono/node-server', 'sd-notify'],
  plugins: [skipWorkerThreadsAtStartup, loadBuiltinsOnFirstUse],
  logLevel: 'warning',
  // version() reads import.meta only in the unbundled build; here CHAUSSETTE_VERSION is defined.
  logOverride: { 'empty-import-meta': 'silent' },
});

// The README runs ./dist/bin.cjs directly; tsc does not make it executable.
chmodSync(new URL('../dist/bin.cjs', import.meta.url).pathname, 0o755);
// Earlier builds wrote a code cache here; it must not end up in a package.
rmSync(new URL('../dist/chaussette.bundle.cjs.cache', import.meta.url).pathname, { force: true });
