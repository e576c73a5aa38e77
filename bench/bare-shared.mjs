// N bare node:http processes accepting on one inherited socket, each on its
// own: the kernel decides which process gets a connection (what Circus's
// numprocesses and Supervisor's numprocs do with a bare server). This
// process only starts them, each with our fd 3 as its fd 3, and stops them.
//
//   node bench/bare-shared.mjs N MODULE

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [count, module] = [Number(process.argv[2]), process.argv[3]];
if (!Number.isInteger(count) || count < 1 || !module) {
  console.error('usage: bare-shared.mjs N MODULE');
  process.exit(64);
}
const bare = join(dirname(fileURLToPath(import.meta.url)), 'bare-module.mjs');
const children = Array.from({ length: count }, () =>
  spawn(process.execPath, [bare, module], { stdio: ['ignore', 'inherit', 'inherit', 3] }),
);
let failed = false;
const exited = children.map((child) => new Promise((resolve) => child.once('exit', (code) => resolve(code))));
// One that dies on its own takes the set down: the bench would measure N-1.
for (const child of children) {
  child.once('exit', (code, signal) => {
    if (!stopping) {
      failed = true;
      console.error(`bare-shared: pid ${child.pid} exited (${code ?? signal}) before SIGTERM`);
      stop();
    }
  });
}
let stopping = false;
function stop() {
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
  void Promise.all(exited).then((codes) => process.exit(failed || codes.some((code) => code !== 0) ? 1 : 0));
}
process.once('SIGTERM', stop);
