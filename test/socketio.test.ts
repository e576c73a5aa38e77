// socket.io on an exported http.Server, with the real socket.io-client:
// the WebSocket transport alone, and the default (long-polling, then the
// upgrade), on http and https, in one process and with --workers 2
// --sticky. Clients come from several loopback addresses (127.0.0.1 to .6:
// the whole 127/8 is the loopback), so that --sticky has clients to spread;
// the app prints each engine.io request with the client's address, port and
// the pid that took it, which shows every connection of a client on one worker.
// The plain ws client too, on both schemes, through --workers 2 --sticky.
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { clientKey, hashKey } from '../src/workers/sticky.js';
import { makeCertificates, read } from './certificates.js';
import { FIXTURES, type Running, serve, waitForLine, waitUntil } from './helpers.js';
import { exchange } from './websocket-exchange.js';

const APP = join(FIXTURES, 'apps', 'socketio-server.mjs');
const certs = makeCertificates();
t.teardown(() => certs.remove());
const SCHEMES = {
  http: [],
  https: ['--backend', 'https', '--certfile', certs.cert, '--keyfile', certs.key],
} as const;
type Scheme = keyof typeof SCHEMES;
/** Loopback addresses whose clients fall in both slots of two workers (checked below, not assumed). */
const ADDRESSES = [1, 2, 3, 4, 5, 6].map((i) => `127.0.0.${i}`);

interface Answer {
  text: string;
  pid: number;
  transport: string;
}

interface ClientOptions {
  scheme: Scheme;
  port: number;
  /** The client's own address. */
  address?: string;
  /** undefined: socket.io's default, polling then the upgrade to WebSocket. */
  transports?: Array<'websocket' | 'polling'>;
  reconnection?: boolean;
}

/** A connected socket.io client; its polling requests and its WebSocket leave from `address`, verifying the test CA on https. */
async function connectClient(t: Test, options: ClientOptions): Promise<Socket> {
  const { scheme, port, address = '127.0.0.1', transports, reconnection = false } = options;
  const ca = read(certs.ca).toString();
  // No keep-alive: each polling request is a connection of its own, handed to a worker of its own.
  const agent = scheme === 'https' ? new HttpsAgent({ localAddress: address, ca }) : new HttpAgent({ localAddress: address });
  const socket = io(`${scheme}://127.0.0.1:${port}`, {
    forceNew: true,
    transports,
    reconnection,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    ca,
    agent: agent as unknown as string,
  });
  t.teardown(() => {
    socket.close();
    agent.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

const echo = (socket: Socket, text: string) => socket.timeout(5000).emitWithAck('echo', text) as Promise<Answer>;

/** Once the client has moved from long-polling to its WebSocket. */
const upgraded = (socket: Socket) =>
  waitUntil(() => socket.io.engine?.transport.name === 'websocket', 10_000, () => `the upgrade to WebSocket (transport: ${socket.io.engine?.transport.name})`);

/** Exchanges messages; with the default transports, also once the upgrade is done. Returns every answer. */
async function converse(t: Test, socket: Socket, polling: boolean): Promise<Answer[]> {
  const answers = [await echo(socket, 'hello'), await echo(socket, 'again')];
  if (polling) {
    await upgraded(socket);
    answers.push(await echo(socket, 'upgraded'));
    t.equal(answers.at(-1)!.transport, 'websocket', 'after the upgrade, on the WebSocket');
  }
  t.same(
    answers.map((answer) => answer.text),
    ['echo hello', 'echo again', ...(polling ? ['echo upgraded'] : [])],
  );
  return answers;
}

interface EngineRequest {
  transport: string;
  address: string;
  port: number;
  pid: number;
}

/** The engine.io requests the app printed ("engine.io: polling GET ::ffff:127.0.0.2 40312 1234"). */
const engineRequests = (running: Running): EngineRequest[] =>
  running.lines.flatMap((line) => {
    const match = /^engine\.io: (\w+) \w+ (\S+) (\d+) (\d+)$/.exec(line.msg);
    return match ? [{ transport: match[1]!, address: clientKey(match[2]), port: Number(match[3]), pid: Number(match[4]) }] : [];
  });

/** The workers' pids, from "Using http backend with 2 workers (pids 1, 2)" or "Reloaded: 2 new workers serving (pids 3, 4)". */
const pidsIn = (line: { msg: string }) => (/\(pids ([\d, ]+)\)/.exec(line.msg)?.[1] ?? '').split(', ').map(Number);

for (const scheme of ['http', 'https'] as const) {
  t.test(`${scheme}, one process: socket.io-client exchanges messages over WebSocket alone, and over polling then the upgrade`, async (t) => {
    const running = await serve(t, [...SCHEMES[scheme], APP]);
    for (const transports of [['websocket'] as Array<'websocket'>, undefined]) {
      const socket = await connectClient(t, { scheme, port: running.port(), transports });
      const answers = await converse(t, socket, transports === undefined);
      t.same(new Set(answers.map((answer) => answer.pid)), new Set([running.child.pid]), 'served by chaussette itself');
      socket.close();
    }
    // The app printed the poll before answering it, but its stdout can lag the WebSocket's messages.
    t.ok(await waitForLine(running, (line) => /^engine\.io: polling \w+ \S+ \d+ \d+$/.test(line.msg)), 'the default client did poll before upgrading');
    t.equal(await running.stop(), 0);
  });

  t.test(`${scheme}, --workers 2 --sticky: every connection of a client address on one worker, the addresses over both`, async (t) => {
    const running = await serve(t, [...SCHEMES[scheme], '--workers', '2', '--sticky', APP]);
    const workers = pidsIn(await waitForLine(running, (line) => /^Using \w+ backend with 2 workers/.test(line.msg)));
    t.equal(workers.length, 2);
    t.ok(running.lines.some((line) => line.msg === 'Sticky: every connection from one client address goes to the same worker'));
    const slotOf = (address: string) => hashKey(address) % 2;
    t.same(new Set(ADDRESSES.map(slotOf)), new Set([0, 1]), 'the addresses fall in both slots');

    // From each address at once: a default client (polling, then the upgrade) and a WebSocket-only one.
    const served = await Promise.all(
      ADDRESSES.map(async (address) => {
        const clients = await Promise.all([
          connectClient(t, { scheme, port: running.port(), address }),
          connectClient(t, { scheme, port: running.port(), address, transports: ['websocket'] }),
        ]);
        const answers = [...(await converse(t, clients[0], true)), ...(await converse(t, clients[1], false))];
        return { address, pids: new Set(answers.map((answer) => answer.pid)) };
      }),
    );
    // Stopped first: the workers printed each request before answering it, but their stdout can lag
    // the answers; once the process has exited, every line is in.
    t.equal(await running.stop(), 0);
    const requests = engineRequests(running);
    const pidOf = new Map<string, number>();
    for (const { address, pids } of served) {
      const mine = requests.filter((request) => request.address === address);
      const connections = new Set(mine.map((request) => request.port));
      t.ok(connections.size >= 3, `${address}: ${connections.size} connections (polling requests, two WebSockets)`);
      t.ok(mine.some((request) => request.transport === 'polling'), `${address}: it polled`);
      const all = new Set([...pids, ...mine.map((request) => request.pid)]);
      t.equal(all.size, 1, `${address}: every answer and every connection on one worker (${[...all].join(', ')})`);
      pidOf.set(address, [...all][0]!);
    }
    t.same(new Set(pidOf.values()), new Set(workers), 'both workers have clients');
    for (const a of ADDRESSES) {
      for (const b of ADDRESSES) {
        if (a < b) t.equal(pidOf.get(a) === pidOf.get(b), slotOf(a) === slotOf(b), `${a} and ${b}: together exactly when their slot is the same`);
      }
    }
  });
}

t.test('the ws client through --workers 2 --sticky, on ws:// and wss://: messages both ways, every connection of an address on one worker', async (t) => {
  t.not(hashKey('127.0.0.1') % 2, hashKey('127.0.0.4') % 2, '127.0.0.1 and 127.0.0.4 fall in different slots');
  for (const scheme of ['http', 'https'] as const) {
    const running = await serve(t, [...SCHEMES[scheme], '--workers', '2', '--sticky', join(FIXTURES, 'apps', 'ws-server.mjs')]);
    const open = (address: string) =>
      new Promise<WebSocket>((resolve, reject) => {
        const socket = new WebSocket(`${scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${running.port()}/ws`, { ca: read(certs.ca), localAddress: address });
        t.teardown(() => socket.terminate());
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      });
    const pids = new Set<string>();
    for (const address of ['127.0.0.1', '127.0.0.4']) {
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) {
        const socket = await open(address);
        answers.push(await exchange(socket, `hi ${i}`), await exchange(socket, `again ${i}`));
        socket.close();
      }
      t.match(answers[0], /^echo hi 0 from \d+$/, `${scheme}: the ws app answers`);
      const from = new Set(answers.map((answer) => /from (\d+)$/.exec(answer)?.[1]));
      t.equal(from.size, 1, `${scheme}, ${address}: three connections, one worker`);
      pids.add([...from][0]!);
    }
    t.equal(pids.size, 2, `${scheme}: 127.0.0.1 and 127.0.0.4 on the two workers`);
    t.equal(await running.stop(), 0);
  }
});

t.test('--workers 2 without --sticky: long-polling fails (a poll meets the worker that does not hold its session)', async (t) => {
  const running = await serve(t, ['--workers', '2', APP]);
  const outcome = await connectClient(t, { scheme: 'http', port: running.port(), transports: ['polling'] }).then(
    async (socket) => {
      const lost = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(`disconnected: ${reason}`)));
      return Promise.race([lost, Promise.all([1, 2, 3].map((i) => echo(socket, `${i}`))).then(() => 'served', (error: Error) => `failed: ${error.message}`)]);
    },
    (error: Error) => `refused: ${error.message}`,
  );
  t.not(outcome, 'served', `the session is lost (${outcome})`);
  t.equal(await running.stop(), 0);
});

t.test('--workers 2 --sticky: at a reload (SIGHUP) the clients reconnect, each address to the new worker of its slot', async (t) => {
  const running = await serve(t, ['--workers', '2', '--sticky', APP]);
  const before = pidsIn(await waitForLine(running, (line) => /^Using \w+ backend with 2 workers/.test(line.msg)));
  const clients = await Promise.all(ADDRESSES.map((address) => connectClient(t, { scheme: 'http', port: running.port(), address, reconnection: true })));
  const pidBefore = await Promise.all(clients.map(async (socket) => (await echo(socket, 'before')).pid));
  running.child.kill('SIGHUP');
  const after = pidsIn(await waitForLine(running, (line) => line.msg.startsWith('Reloaded: '), 30_000));
  t.equal(after.length, 2);
  t.same(after.filter((pid) => before.includes(pid)), [], 'two new workers');
  // Each client is back once it has an answer from a new worker.
  const pidAfter = await Promise.all(
    clients.map((socket, i) =>
      waitUntil(
        async () => {
          if (!socket.connected) return undefined;
          const answer = await echo(socket, 'after').catch(() => undefined);
          return answer && after.includes(answer.pid) ? answer.pid : undefined;
        },
        30_000,
        () => `${ADDRESSES[i]} to be served by a new worker (connected: ${socket.connected})`,
        { everyMs: 100 },
      ),
    ),
  );
  for (let i = 0; i < ADDRESSES.length; i++) {
    const slot = before.indexOf(pidBefore[i]!);
    t.equal(pidAfter[i], after[slot], `${ADDRESSES[i]}: from the old worker of slot ${slot + 1} to its new one`);
  }
  t.equal(await running.stop(), 0);
});
