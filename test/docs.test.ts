// The README says what --help says: the same options, variables and defaults;
// and .ci/run runs the README's test command.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envName, helpText, OPTION_TABLE } from '../src/options.js';
import { SIGNAL_HELP } from '../src/signals.js';
import { UPGRADES_SECTION } from '../src/apps/upgrade-warning.js';
import { ROOT } from './helpers.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const helpFlags = (help: string) => new Set([...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!));
const readmeRows = [...readme.matchAll(/^\| `((?:-\w, )?--[\w-]+)[^`]*` \|\s*(?:`(\w+)`)?\s*\|\s*(?:`([^`]+)`)?\s*\|/gm)];

t.test('every option in --help has its README row, with the same variable and default', async (t) => {
  const inHelp = helpFlags(helpText('0.0.0'));
  const inReadme = new Set(readmeRows.map((row) => row[1]!.replace(/^-\w, /, '')));
  t.same([...inReadme].sort(), [...inHelp].sort(), 'the same flags');
  for (const spec of OPTION_TABLE) {
    const flag = spec.flags.split(' ')[0]!;
    const row = readmeRows.find((r) => r[1] === flag);
    // An option without a default shows an empty cell.
    t.ok(row, `${flag} has a row`);
    t.equal(row?.[2], envName(spec.flags), `${flag}: its variable`);
    t.equal(row?.[3], spec.defaultText, `${flag}: its default`);
  }
});

t.test('the quick start has the two commands, and CI runs the test one', async (t) => {
  const quickStart = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const commands = quickStart.split('\n').filter(Boolean).map((line) => line.replace(/\s+#.*$/, ''));
  t.same(commands, ['npm ci && npx chaussette', 'npm ci && npm test']);
  t.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^\s*npm ci && npm test\b/m, 'under each Node of the matrix');
});

t.test("README's signal table is the one in src/signals.ts, which --help prints", async (t) => {
  const section = /^## Signals\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  const rows = [...section.matchAll(/^\| (SIG\w+) \| (.*) \| (.*) \| (.*) \|$/gm)].map((row) => ({
    signal: row[1],
    single: row[2],
    primary: row[3],
    worker: row[4],
  }));
  t.same(rows, SIGNAL_HELP, 'the same rows, word for word');
  const help = helpText('0.0.0');
  for (const row of SIGNAL_HELP) t.ok(help.includes(`  ${row.signal.padEnd(9)} ${row.single}\n`), `--help: ${row.signal}`);
});

t.test("the section the upgrade warning points to exists, with a row for each app shape", async (t) => {
  const section = new RegExp(`^## ${UPGRADES_SECTION}\\n([\\s\\S]*?)(?=^## )`, 'm').exec(readme)?.[1] ?? '';
  t.ok(section, `README has "## ${UPGRADES_SECTION}"`);
  const shapes = [...section.matchAll(/^\| (.+?) \| `/gm)].map((row) => row[1]);
  for (const shape of ['Express + `express-ws`', 'Koa + `ws`', 'Fastify + `@fastify/websocket`', 'Hono + `@hono/node-ws`', '`http.Server` + `ws`', 'socket.io', 'NestJS']) {
    t.ok(shapes.includes(shape), `a row for ${shape}`);
  }
});
