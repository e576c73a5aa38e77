// Bundles the command into one CommonJS file. Startup time is a product goal
// (a socket-activated service starts on its first request): loading ~40
// separate ESM files of ours, commander's and pino's cost ~50 ms, one bundled
// file ~15 ms. tsc still type-checks and emits dist/ for the library build.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: [new URL('../src/cli.ts', import.meta.url).pathname],
  outfile: new URL('../dist/chaussette.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'linked',
  define: { CHAUSSETTE_VERSION: JSON.stringify(version) },
  // Loaded only when needed (a terminal, a fetch-style app): kept out of the startup path.
  external: ['pino-pretty', '@hono/node-server'],
  logLevel: 'warning',
  // version() reads import.meta only in the unbundled build; here CHAUSSETTE_VERSION is defined.
  logOverride: { 'empty-import-meta': 'silent' },
});
