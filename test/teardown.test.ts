// The app's own teardown runs after the drain, for every shape that has
// one: a NestJS application's close() (onModuleDestroy, then
// onApplicationShutdown), whether exported as itself or made by an async
// factory, once even when it called enableShutdownHooks() (whose SIGTERM
// listener would close it under the drain), and an exported http.Server's
// close() ('close'). A request in
// flight at SIGTERM is answered first; then the teardown; then exit 0. In
// one process and in each --workers worker.
import t from 'tap';
import { join } from 'node:path';
import { cleanEnv, FIXTURES, request, serve, waitForArrival, waitForLine } from './helpers.js';

// Real servers stopped with their teardown each: about 30 s alone, over 60 s seen on a loaded 2-core machine.
t.setTimeout(180_000);

const app = (name: string) => join(FIXTURES, 'apps', name);
const CASES = [
  { shape: 'a NestJS app from an async factory', app: app('nest.mjs'), teardown: ['onModuleDestroy', 'onApplicationShutdown'], kind: 'a NestJS application from a factory' },
  { shape: 'a NestJS app exported as itself', app: app('nest-direct.mjs'), teardown: ['onModuleDestroy', 'onApplicationShutdown'], kind: 'a NestJS application' },
  { shape: 'a NestJS app that called enableShutdownHooks()', app: app('nest.mjs'), env: { NEST_SHUTDOWN_HOOKS: '1' }, teardown: ['onModuleDestroy', 'onApplicationShutdown'], kind: 'a NestJS application from a factory' },
  { shape: 'an exported http.Server', app: app('server-teardown.mjs'), teardown: ["'close'"], kind: 'an http.Server' },
];

for (const { shape, app, teardown, kind, env } of CASES as Array<(typeof CASES)[number] & { env?: NodeJS.ProcessEnv }>) {
  for (const extra of [[], ['--workers', '2']]) {
    t.test(`${shape}${extra.length ? ' with --workers 2' : ''}: the request in flight is answered, then the teardown runs, then exit 0`, async (t) => {
      const running = await serve(t, [...extra, app], env ? { env: cleanEnv(env) } : {});
      t.ok(running.lines.some((line) => line.msg.endsWith(`(${kind})`)), `recognised as ${kind}`);
      const path = '/slow?ms=1500';
      const answer = request({ port: running.port(), path });
      const [arrival] = await waitForArrival(running, path);
      const pid = /\(pid (\d+)\)$/.exec(arrival!.msg)![1];
      // To the whole group, as systemd's KillMode=control-group does: a worker's own SIGTERM listeners (Nest's) hear it too.
      process.kill(-running.child.pid!, 'SIGTERM');
      await waitForLine(running, (line) => line.msg.startsWith('Received SIGTERM'));
      const response = await answer;
      t.equal(response.status, 200, 'answered');
      t.equal(response.body, 'done after 1500 ms\n');
      t.equal(await running.exited, 0, 'exit 0');
      const said = running.lines.filter((line) => line.level === 0 && line.msg.endsWith(`(pid ${pid})`) && !line.msg.startsWith('arrived:'));
      t.same(
        said.map((line) => line.msg),
        [`answered: ${path} (pid ${pid})`, ...teardown.map((hook) => `teardown: ${hook} (pid ${pid})`)],
        'answered, then torn down, in that order',
      );
      const stopped = running.lines.findIndex((line) => line.pid === Number(pid) && /^(Worker \d+: )?[Ss]topped after/.test(line.msg));
      const lastHook = running.lines.findIndex((line) => line.msg === said.at(-1)?.msg);
      t.ok(lastHook >= 0 && stopped > lastHook, 'the teardown ran before that process said it stopped');
    });
  }
}
