// node:cluster with N workers serving the module on the inherited fd 3:
// the primary opens the socket, accepts, and hands each connection to a
// worker in turn over IPC (SCHED_RR, Node's default on Linux). The set-up
// Node's documentation offers for several processes, beside
// `chaussette --workers N` and N bare processes sharing the socket.
//
//   node bench/cluster-module.mjs N MODULE

import cluster from 'node:cluster';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [count, module] = [Number(process.argv[2]), process.argv[3]];
if (!Number.isInteger(count) || count < 1 || !module) {
  console.error('usage: cluster-module.mjs N MODULE');
  process.exit(64);
}

// Each worker is bare-module.mjs itself: its listen({ fd: 3 }) goes through
// the cluster, so the primary accepts and hands over.
cluster.setupPrimary({ exec: join(dirname(fileURLToPath(import.meta.url)), 'bare-module.mjs'), args: [module] });
cluster.schedulingPolicy = cluster.SCHED_RR;
for (let i = 0; i < count; i++) cluster.fork();
let stopping = false;
let exited = 0;
cluster.on('exit', (worker, code, signal) => {
  if (!stopping) {
    console.error(`cluster-module: worker ${worker.process.pid} exited (${code ?? signal}) before SIGTERM`);
    process.exitCode = 1;
  }
  if (++exited === count) process.exit(process.exitCode ?? 0);
});
process.once('SIGTERM', () => {
  stopping = true;
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
});
