// HTTPS: node:https, the HTTP/1.1 server of http.ts over TLS, with the same
// timeouts. Certificates come from --certfile/--keyfile; reload() swaps them
// on the listening server, so new handshakes use the new ones.

import { createServer } from 'node:https';
import { httpServerOptions } from './http.js';
import type { Backend } from './backend.js';
import { tlsServerOptions } from './tls.js';

export const httpsBackend: Backend = {
  name: 'https',
  tls: 'required',
  createServer(listener, settings) {
    const server = createServer({ ...httpServerOptions(settings), ...tlsServerOptions(settings.tls!) }, listener);
    server.keepAliveTimeout = settings.keepAliveTimeoutMs;
    return server;
  },
};
