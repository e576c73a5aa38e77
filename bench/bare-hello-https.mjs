// Baseline for the https scenario of bench/run.mjs: bench/bare-hello.mjs on
// node:https. The smallest server that answers byte-for-byte what chaussette's
// hello app answers under `--backend https`, with the same certificate, on
// the same kind of socket (fd 3 from systemd-socket-activate).
//
//   node bench/bare-hello-https.mjs CERTFILE KEYFILE

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certfile, keyfile] = process.argv.slice(2);
if (!certfile || !keyfile) {
  console.error('usage: node bench/bare-hello-https.mjs CERTFILE KEYFILE');
  process.exit(64);
}

const BODY = 'Hello from chaussette\n';
const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(BODY)) };

const server = createServer(
  // 65 s: chaussette's keep-alive timeout, which Node puts in the Keep-Alive header.
  { cert: readFileSync(certfile), key: readFileSync(keyfile), keepAliveTimeout: 65_000 },
  (_req, res) => {
    res.writeHead(200, HEADERS);
    res.end(BODY);
  },
);

// Backlog as 2nd argument: Node ignores it in the options for an inherited fd.
server.listen({ fd: 3 }, 4096);

process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
});
