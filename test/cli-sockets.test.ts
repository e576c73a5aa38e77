// The real CLI in child processes, handed real sockets the way each manager
// hands them: bound by itself, an fd at an arbitrary number (Circus), fd 0
// (Supervisor's fcgi-program), and fds from systemd-socket-activate.
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, CLI, freePort, listeningSocket, onEvent, request, serve, startChaussette, stdioWith, waitForLine, waitUntil } from './helpers.js';

const SSA = '/usr/bin/systemd-socket-activate';

t.test('binds --host/--port itself and serves the hello app', async (t) => {
  const running = await serve(t, []);
  const res = await request({ port: running.port() });
  t.equal(res.status, 200);
  t.equal(res.body, 'Hello from chaussette\n');
  t.ok(running.lines.some((line) => line.msg === 'Application is the built-in hello app (a (req, res) listener)'));
  t.ok(running.lines.some((line) => line.msg === 'Using http backend'));
  t.equal(await running.stop(), 0, 'SIGTERM exits 0');
});

t.test('Circus style: a listening socket inherited at fd 7, named by --fd 7', async (t) => {
  const { server, port, passable } = await listeningSocket();
  const running = await startChaussette(['--fd', '7'], { stdio: stdioWith(7, passable) }).finally(() => server.close());
  t.teardown(() => running.stop());
  t.ok(running.lines.some((line) => line.msg === `Serving on fd 7 -> 127.0.0.1:${port}`), 'logs the fd and its address');
  t.equal((await request({ port })).status, 200);
  t.equal(await running.stop(), 0);
});

t.test('Supervisor style: the socket on fd 0, and stdin never touched', async (t) => {
  const { server, port, passable } = await listeningSocket();
  const running = await startChaussette(['--fd', '0', 'test/fixtures/apps/echo-env.mjs'], { stdio: stdioWith(0, passable) }).finally(() => server.close());
  t.teardown(() => running.stop());
  const res = await request({ port, path: '/x' });
  t.equal(res.status, 200);
  t.equal(JSON.parse(res.body).url, '/x');
});

t.test('the same socket in several processes: all serve, restarting one loses nothing', async (t) => {
  const { server, port, passable } = await listeningSocket();
  const [first, second] = await Promise.all([
    startChaussette(['--fd', '3'], { stdio: stdioWith(3, passable) }),
    startChaussette(['--fd', '3'], { stdio: stdioWith(3, passable) }),
  ]).finally(() => server.close());
  t.teardown(() => Promise.all([first.stop(), second.stop()]));
  const stopped = first.stop();
  const answers = await Promise.all(Array.from({ length: 20 }, () => request({ port })));
  t.same([...new Set(answers.map((res) => res.status))], [200], 'every request answered while one process stops');
  t.equal(await stopped, 0);
});

/** Starts systemd-socket-activate around chaussette; it execs chaussette on the first connection. */
async function socketActivated(t: Test, listen: string[], fdnames: string | undefined, args: string[]) {
  const ssaArgs = [...listen.flatMap((address) => ['-l', address]), ...(fdnames ? [`--fdname=${fdnames}`] : []), process.execPath, CLI, ...args];
  const child = spawn(SSA, ssaArgs, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  await waitUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`systemd-socket-activate exited: ${stderr}`);
      return (stderr.match(/Listening on/g) ?? []).length >= listen.length;
    },
    5000,
    () => `systemd-socket-activate to listen on ${listen.join(', ')}: ${stderr}`,
    { wake: [onEvent(child.stderr, 'data'), onEvent(child, 'exit')] },
  );
  return { child, exited, output: () => stdout, stderr: () => stderr };
}

/**
 * socketActivated() on `count` free TCP ports of 127.0.0.1. A port found free can be taken by
 * another test file running beside this one before systemd-socket-activate binds it: then it
 * exits with "Address already in use", and new ports are tried.
 */
async function socketActivatedOnPorts(t: Test, count: number, fdnames: string | undefined, args: string[]) {
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    try {
      return { ...(await socketActivated(t, ports.map((port) => `127.0.0.1:${port}`), fdnames, args)), ports };
    } catch (error) {
      if (attempt >= 5 || !/Address already in use/.test(String(error))) throw error;
    }
  }
}

t.test('systemd-socket-activate: two named sockets, all served at once', async (t) => {
  const ssa = await socketActivatedOnPorts(t, 2, 'web:admin', []);
  const [web, admin] = ssa.ports as [number, number];
  t.equal((await request({ port: web })).status, 200, 'the first request is held in the backlog until chaussette accepts');
  t.equal((await request({ port: admin })).status, 200);
  t.match(ssa.output(), `Serving on fd 3 (web) -> 127.0.0.1:${web}`);
  t.match(ssa.output(), `Serving on fd 4 (admin) -> 127.0.0.1:${admin}`);
  const backlogs = execFileSync('ss', ['-Hltn', `sport = :${web}`], { encoding: 'utf8' });
  t.match(backlogs, /LISTEN\s+\d+\s+4096\s/, 'the backlog systemd gave the socket (somaxconn) is kept, not cut to 511');
  ssa.child.kill('SIGTERM');
  t.equal(await ssa.exited, 0);
});

t.test('systemd-socket-activate: --fd NAME selects one socket; the other stays unserved', async (t) => {
  const ssa = await socketActivatedOnPorts(t, 2, 'web:admin', ['--fd', 'admin']);
  const [web, admin] = ssa.ports as [number, number];
  t.equal((await request({ port: admin })).status, 200);
  t.match(ssa.output(), `Serving on fd 4 (admin) -> 127.0.0.1:${admin}`);
  t.notMatch(ssa.output(), 'fd 3', 'fd 3 is not served');
  await t.rejects(request({ port: web, timeoutMs: 500 }), 'nobody accepts on the unselected socket');
});

t.test('systemd-socket-activate without --fdname: the name is "unknown"', async (t) => {
  const ssa = await socketActivatedOnPorts(t, 1, undefined, ['examples/listener.mjs']);
  const [port] = ssa.ports as [number];
  const res = await request({ port, path: '/named' });
  t.same(JSON.parse(res.body), { app: 'listener', method: 'GET', url: '/named' });
  t.match(ssa.output(), `Serving on fd 3 (unknown) -> 127.0.0.1:${port}`);
});

t.test('LISTEN_* are unset for the app and its children', async (t) => {
  const [port] = (await socketActivatedOnPorts(t, 1, 'web', ['test/fixtures/apps/echo-env.mjs'])).ports as [number];
  const { env } = JSON.parse((await request({ port })).body) as { env: Record<string, string> };
  t.equal(env.LISTEN_FDS, undefined);
  t.equal(env.LISTEN_PID, undefined);
  t.equal(env.LISTEN_FDNAMES, undefined);
});

t.test('LISTEN_PID of another process (a wrapper that forked): fds ignored, warned, default address served', async (t) => {
  const [port, activatorPort] = [await freePort(), await freePort()];
  // sh runs node as a child (there is a command after it), as npx or npm run would.
  const running = await startChaussette(['--port', String(port), '--host', '127.0.0.1'], {
    command: [SSA, '-l', `127.0.0.1:${activatorPort}`, '--fdname=web', 'sh', '-c', `"$0" "$@"; exit $?`, process.execPath, CLI],
    waitReady: false,
  });
  t.teardown(() => running.stop());
  // The activator execs only on a first connection: poke it.
  await waitUntil(() => /Listening on/.test(running.stderr()), 5000, () => `systemd-socket-activate to listen: ${running.stderr()}`, { wake: running.onChange });
  const poke = connect(activatorPort, '127.0.0.1');
  poke.on('error', () => {});
  await waitForLine(running, (line) => line.msg.startsWith('Using'), 10_000);
  poke.destroy();
  const warning = running.lines.find((line) => line.msg.startsWith('ignoring LISTEN_FDS=1'));
  t.ok(warning, 'a warning explains it');
  t.equal(warning?.level, 40, 'at warn level');
  t.match(warning?.msg, /LISTEN_PID=\d+ but this process is \d+.*wrapper/);
  t.equal((await request({ port })).status, 200, 'the address given on the command line is served');
});

t.test('unix socket: bound, served, a stale file replaced, removed on exit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'app.sock');
  // A stale socket: the file a process leaves when it dies without unlinking it.
  execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`]);
  t.ok(statSync(path).isSocket(), 'a stale socket file is in place');

  const running = await startChaussette(['--host', `unix:${path}`]);
  t.ok(running.lines.some((line) => line.msg === `Serving on unix:${path}`));
  t.equal((await request({ socketPath: path })).body, 'Hello from chaussette\n');

  const second = await startChaussette(['--host', `unix:${path}`], { waitReady: false });
  t.equal(await second.exited, 69, 'a live socket is not taken over');
  t.match(second.stderr(), /^chaussette: ERR_UNIX_SOCKET_LIVE: unix:.*app\.sock is served by another process/);

  t.equal(await running.stop(), 0);
  t.notOk(existsSync(path), 'the socket chaussette created is removed when it stops');
});

t.test('a unix socket fd from systemd is served and never unlinked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'web.sock');
  const ssa = await socketActivated(t, [path], 'web', []);
  t.equal((await request({ socketPath: path })).status, 200);
  t.match(ssa.output(), `Serving on fd 3 (web) -> unix:${path}`);
  ssa.child.kill('SIGTERM');
  t.equal(await ssa.exited, 0);
  t.ok(existsSync(path), 'the manager\'s socket file is still there');
});
