// Baseline for the h2 and h2c scenarios of bench/run.mjs: the smallest
// node:http2 server that answers, through the compatibility API as chaussette
// does, the bytes chaussette's hello app answers under `--backend http2`.
//
//   node bench/bare-hello-http2.mjs CERTFILE KEYFILE   h2 over TLS, ALPN h2 + http/1.1
//   node bench/bare-hello-http2.mjs                    h2c, prior knowledge
//
// Listens on fd 3, handed over by systemd-socket-activate.

import { readFileSync } from 'node:fs';
import { createSecureServer, createServer } from 'node:http2';

const [certfile, keyfile] = process.argv.slice(2);

const BODY = 'Hello from chaussette\n';
const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(BODY)) };

const hello = (_req, res) => {
  res.writeHead(200, HEADERS);
  res.end(BODY);
};

const server = certfile
  ? createSecureServer({ cert: readFileSync(certfile), key: readFileSync(keyfile), allowHTTP1: true }, hello)
  : createServer(hello);
// For HTTP/1.1 clients of the TLS server: chaussette's 65 s keep-alive timeout.
if (certfile) server.keepAliveTimeout = 65_000;

server.listen({ fd: 3 }, 4096);

// close() waits for open sessions; h2load closes its own when done, and a
// session left over must not hold the exit.
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
