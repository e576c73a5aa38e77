// Every example in README's table, run with the very command the README
// gives, from the repository root: each must answer on its port and stop
// cleanly on SIGTERM. The port comes from the environment (CHAUSSETTE_PORT,
// or PORT for the library example), so the commands stay as printed.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, freePort, request, ROOT, startChaussette, waitUntil } from './helpers.js';

const EXPECTED: Record<string, RegExp> = {
  'examples/listener.mjs': /"app":"listener"/,
  'examples/express.mjs': /^\{"app":"express"\}$/,
  'examples/koa.mjs': /"app":"koa"/,
  'examples/fastify.mjs': /^\{"app":"fastify"\}$/,
  'examples/hono.mjs': /"app":"hono"/,
  'examples/factory.cjs:createApp': /^Bonjour from a factory\n$/,
  'examples/programmatic.mjs': /^\{"app":"programmatic","pid":\d+\}$/,
  'examples/websocket.mjs': /new WebSocket\(/,
  'examples/sse.mjs': /new EventSource\('\/events'\)/,
};

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const table = readme.slice(readme.indexOf('| example | command |'), readme.indexOf('\n\n', readme.indexOf('| example | command |')));
const commands = [...table.matchAll(/^\|[^|]+\| `([^`]+)` \|$/gm)].map((match) => match[1]!);

t.test('README lists one command per example, and every example file is in it', async (t) => {
  t.equal(commands.length, Object.keys(EXPECTED).length, commands.join('\n'));
  for (const example of Object.keys(EXPECTED)) t.ok(commands.some((command) => command.includes(` ${example}`)), example);
});

for (const command of commands) {
  t.test(command, async (t) => {
    const example = Object.keys(EXPECTED).find((name) => command.includes(` ${name}`));
    if (!example) return t.fail(`no expectation for ${command}`);
    const port = await freePort();
    const running = await startChaussette([], {
      command: ['sh', '-c', command],
      env: cleanEnv({ CHAUSSETTE_PORT: String(port), PORT: String(port) }),
      waitReady: false,
    });
    t.teardown(() => running.stop('SIGKILL'));
    // npx and the frameworks load at their own pace: ask again at every line it logs, and every 100 ms.
    const answer = await waitUntil(() => request({ port, path: '/' }).catch(() => undefined), 30_000, () => `an answer on ${port}: ${running.stderr()}`, {
      wake: running.onChange,
      everyMs: 100,
    });
    t.equal(answer.status, 200);
    t.match(answer.body, EXPECTED[example]!);
    // The group's SIGTERM also ends sh and npx, whose exit status is theirs; chaussette's own log says it drained.
    await running.stop('SIGTERM');
    t.ok(running.lines.some((line) => /^Stopped after \d+ ms of drain$/.test(line.msg)), 'stops cleanly, after a drain');
  });
}
