// The pool with --sticky, on pretend workers (no process, no socket): a
// client address keeps its slot across connections; while its slot has no
// worker (a crash) it goes to the next slot, and comes home to the worker
// that replaces the dead one, or a reload's new one; a connection without
// an address (a unix socket) has one slot too, and is reported once.
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../src/log.js';
import type { Connection } from '../src/node-internals.js';
import { WorkerPool } from '../src/workers/pool.js';
import { hashKey } from '../src/workers/sticky.js';
import { waitUntil } from './helpers.js';

class PretendWorker extends EventEmitter {
  static next = 1000;
  readonly pid = PretendWorker.next++;
  connected = true;
  readonly received: Array<{ kind: string; handle?: unknown }> = [];
  send(message: { kind: string }, handle: unknown, _options: unknown, done: (error: Error | null) => void): boolean {
    this.received.push({ kind: message.kind, handle });
    setImmediate(() => done(null));
    return true;
  }
  kill(): boolean {
    this.exit();
    return true;
  }
  ready(): void {
    this.emit('message', { kind: 'ready' });
  }
  exit(): void {
    if (!this.connected) return;
    this.connected = false;
    this.emit('exit', null, 'SIGKILL');
  }
  connections(): unknown[] {
    return this.received.filter((message) => message.kind === 'connection').map((message) => message.handle);
  }
}

/** A raw TCP handle as the primary accepts it: getpeername() and close(). */
const tcp = (address: string): Connection => ({ getpeername: (out: { address?: string }) => ((out.address = address), 0), close() {} }) as Connection;
/** A Pipe handle: a unix-socket client, no getpeername(). */
const pipe = (): Connection => ({ close() {} });

/** An address whose home is `slot` of `count`. */
const addressIn = (slot: number, count: number): string => {
  for (let i = 1; ; i++) if (hashKey(`192.0.2.${i}`) % count === slot) return `192.0.2.${i}`;
};

t.test('a sticky pool of two pretend workers', async (t) => {
  const workers: PretendWorker[] = [];
  const warnings: string[] = [];
  const log = { info() {}, error() {}, warn: (line: string) => warnings.push(line) } as unknown as Logger;
  const pool = new WorkerPool({
    size: 2,
    launch: () => {
      const worker = new PretendWorker();
      workers.push(worker);
      return worker as unknown as ChildProcess;
    },
    log,
    heartbeatMs: 60_000,
    stuckAfterMs: undefined,
    stopTimeoutMs: 60_000,
    sticky: true,
  });
  t.teardown(() => {
    pool.kill();
    for (const worker of workers) worker.exit();
  });
  const started = pool.start();
  workers.forEach((worker) => worker.ready());
  await started;
  const [first, second] = workers as [PretendWorker, PretendWorker];
  const home0 = addressIn(0, 2);
  const home1 = addressIn(1, 2);
  /** Dispatches a connection and says which worker it reached. */
  const whereGoes = async (connection: Connection) => {
    pool.dispatch(0, connection);
    return waitUntil(() => workers.find((worker) => worker.connections().includes(connection)), 2000, 'the connection to reach a worker');
  };

  for (let i = 0; i < 3; i++) {
    t.equal(await whereGoes(tcp(home0)), first, `${home0}: slot 1, connection ${i + 1}`);
    t.equal(await whereGoes(tcp(home1)), second, `${home1}: slot 2, connection ${i + 1}`);
  }
  t.equal(await whereGoes(tcp(`::ffff:${home1}`)), second, 'the same IPv4 client through a dual-stack socket');

  const unixHome = workers[hashKey('') % 2];
  t.equal(await whereGoes(pipe()), unixHome, 'a unix-socket client: its own slot');
  t.equal(await whereGoes(pipe()), unixHome, 'every one of them');
  t.same(warnings, ['--sticky: connections on a unix socket have no client address; they all go to one worker (with a proxy in front, it is one client anyway)'], 'said once');

  first.exit(); // Crashed: slot 1 waits 0.1 s for its next worker.
  t.equal(await whereGoes(tcp(home0)), second, `${home0}: its slot empty, the next one takes it`);
  t.equal(await whereGoes(tcp(home0)), second, 'and keeps it while the slot is empty');
  const replacement = await waitUntil(() => workers[2], 5000, 'a worker started in place of the dead one');
  t.equal(await whereGoes(tcp(home0)), second, 'still, while the replacement starts');
  replacement.ready();
  t.equal(await whereGoes(tcp(home0)), replacement, `${home0}: home again, to the replacement`);
  t.equal(await whereGoes(tcp(home1)), second, `${home1}: never moved`);

  const reloaded = pool.reload();
  const fresh1 = await waitUntil(() => workers[3], 2000, "the reload's first new worker");
  t.equal(await whereGoes(tcp(home0)), replacement, 'while the new worker starts, the old one serves its slot');
  fresh1.ready();
  const fresh2 = await waitUntil(() => workers[4], 2000, "the reload's second new worker");
  t.equal(await whereGoes(tcp(home0)), fresh1, `${home0}: to its slot's new worker`);
  fresh2.ready();
  t.equal(await reloaded, 2);
  t.equal(await whereGoes(tcp(home1)), fresh2, `${home1}: to its slot's new worker`);
  t.ok(replacement.received.some((message) => message.kind === 'stop') && second.received.some((message) => message.kind === 'stop'), 'the old ones were told to stop');
});
