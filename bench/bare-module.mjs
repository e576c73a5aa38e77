// The reference for a user module: a bare node:http server that imports the
// module chaussette is given (bench/apps/*), its default export being the
// listener (a CommonJS module's module.exports), and serves it on fd 3 the
// way bare-hello.mjs does. So a cold start compares like with like: both
// load Node, import the same module, listen and answer.
//
//   node bench/bare-module.mjs MODULE

import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const module = process.argv[2];
if (!module) {
  console.error('usage: bare-module.mjs MODULE');
  process.exit(64);
}
const { default: app } = await import(pathToFileURL(resolve(module)).href);

// 65 s: chaussette's keep-alive timeout, so the responses are the same bytes.
const server = createServer({ keepAliveTimeout: 65_000 }, app);
// The backlog must be the 2nd argument: the fd form ignores options.backlog.
server.listen({ fd: 3 }, 4096);

// on, not once: the bench signals the whole process group, so a process
// started by bare-shared.mjs or cluster-module.mjs gets SIGTERM from there
// and from its parent.
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
});
