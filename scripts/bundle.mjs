// Bundles the command into one CommonJS file. Startup time is a product goal
// (a socket-activated service starts on its first request): loading ~40
// separate ESM files of ours, commander's and pino's cost ~50 ms, one bundled
// file ~15 ms, and a compile cache saves more (made where the bundle runs,
// not here: see src/compile-cache.cts).
// tsc still type-checks and emits dist/ for the library build.
import { build } from 'esbuild';
import { chmodSync, readFileSync, rmSync } from 'node:fs';

/**
 * pino loads worker_threads at startup, for its transports (thread-stream)
 * and to ask isMainThread; commander loads child_process (and with it dgram)
 * for executable subcommands: ~10 ms of Node internals the command never
 * uses. The command is always the main thread, writes to destinations, not
 * transports, and has no subcommands; so answer isMainThread at build time
 * and load the rest on first use only.
 */
const skipWorkerThreadsAtStartup = {
  name: 'skip-worker-threads-at-startup',
  setup(build) {
    build.onResolve({ filter: /^(node:)?worker_threads$/ }, (args) =>
      /pino[\\/]lib[\\/]tools\.js$/.test(args.importer) ? { path: 'main-thread', namespace: 'chaussette' } : undefined,
    );
    build.onResolve({ filter: /^thread-stream$/ }, () => ({ path: 'lazy-thread-stream', namespace: 'chaussette' }));
    build.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /commander[\\/]lib[\\/]command\.js$/.test(args.importer) ? { path: 'lazy-child-process', namespace: 'chaussette' } : undefined,
    );
    build.onLoad({ filter: /^lazy-child-process$/, namespace: 'chaussette' }, () => ({
      // commander only ever reads members (childProcess.spawn), so a proxy defers the load.
      contents: "module.exports = new Proxy({}, { get: (_, key) => require('node:child_process')[key] });",
      loader: 'js',
    }));
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

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: [new URL('../src/entry.ts', import.meta.url).pathname],
  outfile: new URL('../dist/chaussette.bundle.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'linked',
  define: { CHAUSSETTE_VERSION: JSON.stringify(version) },
  // Loaded only when needed (a terminal, a fetch-style app, NOTIFY_SOCKET): kept out of the startup path;
  // sd-notify is also a native addon, which cannot be bundled.
  external: ['pino-pretty', '@hono/node-server', 'sd-notify'],
  plugins: [skipWorkerThreadsAtStartup],
  logLevel: 'warning',
  // version() reads import.meta only in the unbundled build; here CHAUSSETTE_VERSION is defined.
  logOverride: { 'empty-import-meta': 'silent' },
});

// The README runs ./dist/bin.cjs directly; tsc does not make it executable.
chmodSync(new URL('../dist/bin.cjs', import.meta.url).pathname, 0o755);
// Earlier builds wrote a code cache here; it must not end up in a package.
rmSync(new URL('../dist/chaussette.bundle.cjs.cache', import.meta.url).pathname, { force: true });
