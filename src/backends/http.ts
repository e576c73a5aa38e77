// HTTP/1.1 on node:http, with the timeouts set for a long-lived server
// behind a proxy rather than Node's library defaults.

import { createServer } from 'node:http';
import type { Backend } from './index.js';

export const httpBackend: Backend = {
  name: 'http',
  createServer(listener, settings) {
    const server = createServer(
      {
        maxHeaderSize: settings.maxHeaderSize,
        requestTimeout: settings.requestTimeoutMs,
        headersTimeout: Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs || Infinity),
        keepAliveTimeout: settings.keepAliveTimeoutMs,
        // Node checks header and request timeouts on this tick (default 30 s,
        // which would let a 30 s limit stretch to 60 s).
        connectionsCheckingInterval: 1000,
      },
      listener,
    );
    return server;
  },
};
