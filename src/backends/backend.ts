// What a backend is: the contract between chaussette and a server
// implementation (the built-in http, https and http2, or one a --require
// module registers), and how the watchdog probe talks to one.

import type { RequestListener } from 'node:http';
import type { Server } from 'node:net';
import type { ProbeProtocol } from '../systemd/watchdog-probe.js';
import type { TlsFiles, TlsMaterial } from './tls.js';

export interface ServerSettings {
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderSize: number;
  /** Certificates and key, read and checked; present when the backend serves TLS. */
  tls?: TlsMaterial;
}

export interface Backend {
  name: string;
  /**
   * Whether it speaks TLS: 'required' needs --certfile/--keyfile, 'optional'
   * serves TLS when they are given and cleartext when not, 'none' refuses them.
   */
  tls: 'none' | 'optional' | 'required';
  /** What it speaks without TLS, for chaussette's own watchdog probe; default HTTP/1.1. */
  cleartext?: 'http/1.1' | 'h2c';
  /**
   * A server around the listener, not listening yet: a net.Server that
   * serves the connections it is given through its 'connection' event
   * (node:http, node:https and node:http2 servers all do). With TLS, a
   * tls.Server, whose setSecureContext() takes renewed certificates.
   */
  createServer(listener: RequestListener, settings: ServerSettings): Server;
}

/** How the watchdog probe talks to a server of this backend; undefined when only a client certificate gets in. */
export function probeProtocol(backend: Pick<Backend, 'cleartext'>, tls: TlsFiles | undefined): ProbeProtocol | undefined {
  if (tls?.caCerts) return undefined;
  if (tls) return 'https';
  return backend.cleartext === 'h2c' ? 'h2c' : 'http';
}
