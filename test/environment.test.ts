// The environment beside the options, for real: PORT as platforms set it,
// and a mistyped CHAUSSETTE_* variable, warned about once.
import t from 'tap';
import { cleanEnv, freePort, listeningSocket, request, serve, startChaussette, stdioWith } from './helpers.js';

t.test('PORT is bound when no --port, CHAUSSETTE_PORT or port = names one', async (t) => {
  const port = await freePort();
  const running = await startChaussette(['--host', '127.0.0.1'], { env: cleanEnv({ PORT: String(port) }) });
  t.teardown(() => running.stop('SIGKILL'));
  t.ok(running.lines.some((line) => line.msg === `Serving on 127.0.0.1:${port}`), `serves 127.0.0.1:${port}`);
  t.equal((await request({ port })).status, 200);
  t.equal(await running.stop(), 0);
});

t.test('PORT below CHAUSSETTE_PORT', async (t) => {
  const [platform, ours] = [await freePort(), await freePort()];
  const running = await startChaussette(['--host', '127.0.0.1'], { env: cleanEnv({ PORT: String(platform), CHAUSSETTE_PORT: String(ours) }) });
  t.teardown(() => running.stop('SIGKILL'));
  t.same(running.lines.filter((line) => line.msg.startsWith('Serving on')).map((line) => line.msg), [`Serving on 127.0.0.1:${ours}`]);
});

t.test('PORT never moves an inherited socket: --fd 7 is served, and PORT is not bound', async (t) => {
  const { server, port, passable } = await listeningSocket();
  const platform = await freePort();
  const running = await startChaussette(['--fd', '7'], { stdio: stdioWith(7, passable), env: cleanEnv({ PORT: String(platform) }) }).finally(() => server.close());
  t.teardown(() => running.stop('SIGKILL'));
  t.same(running.lines.filter((line) => line.msg.startsWith('Serving on')).map((line) => line.msg), [`Serving on fd 7 -> 127.0.0.1:${port}`]);
  t.equal((await request({ port })).status, 200);
  t.equal(await running.stop(), 0);
});

t.test('a mistyped CHAUSSETTE_* variable: one warning line with the variable meant, once even with workers', async (t) => {
  const running = await serve(t, ['--workers', '2'], { env: cleanEnv({ CHAUSSETTE_PROT: '9000' }) });
  // "Using ... with 2 workers" comes once both workers have read their options: each could have warned by now.
  const warnings = running.lines.filter((line) => line.msg.includes('CHAUSSETTE_PROT'));
  t.same(
    warnings.map((line) => [line.level, line.msg]),
    [[40, 'unknown variable CHAUSSETTE_PROT ignored: did you mean CHAUSSETTE_PORT?']],
    'one warning, from the primary',
  );
  t.equal(running.stderr(), '');
  t.equal(await running.stop(), 0);
});

t.test('known variables alone: no warning', async (t) => {
  const running = await serve(t, [], { env: cleanEnv({ CHAUSSETTE_GRACEFUL_TIMEOUT: '5', CHAUSSETTE_LOG_LEVEL: 'info' }) });
  t.same(running.lines.filter((line) => line.level >= 40), []);
  t.equal(await running.stop(), 0);
});
