// Baseline for the benchmark: the smallest node:http server that answers
// byte-for-byte what chaussette's built-in hello app answers, on the same
// kind of socket (fd 3 handed over by systemd-socket-activate). Whatever
// chaussette costs on top of this is what bench/run.mjs measures.

import { createServer } from 'node:http';

const BODY = 'Hello from chaussette\n';
const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(BODY)) };

const server = createServer(
  // chaussette's default keep-alive timeout is 65 s; Node puts it in the
  // Keep-Alive response header, so matching it keeps the responses identical.
  { keepAliveTimeout: 65_000 },
  (_req, res) => {
    res.writeHead(200, HEADERS);
    res.end(BODY);
  },
);

// The backlog must be the 2nd argument: Node ignores `backlog` inside the
// options object when listening on an inherited fd.
server.listen({ fd: 3 }, 4096);

// Same contract as chaussette: SIGTERM stops accepting, then exits.
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  // Idle keep-alive connections would hold close() open for 65 s.
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
});
