// HTTP/1.1 on node:http, with the timeouts set for a long-lived server
// behind a proxy rather than Node's library defaults.

import { createServer, type ServerOptions } from 'node:http';
import type { Backend, ServerSettings } from './backend.js';

/** node:http's settings from ours; https.ts and the HTTP/1.1 side of http2.ts use them too. */
export function httpServerOptions(settings: ServerSettings): ServerOptions {
  return {
    maxHeaderSize: settings.maxHeaderSize,
    requestTimeout: settings.requestTimeoutMs,
    headersTimeout: Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs || Infinity),
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    // Node checks header and request timeouts on this tick (default 30 s,
    // which would let a 30 s limit stretch to 60 s).
    connectionsCheckingInterval: 1000,
  };
}

export const httpBackend: Backend = {
  name: 'http',
  tls: 'none',
  createServer(listener, settings) {
    return createServer(httpServerOptions(settings), listener);
  },
};
