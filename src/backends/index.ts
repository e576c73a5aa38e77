// Backends: the server implementations chaussette can put on a socket,
// registered by name as in the Python Chaussette's register(). A backend
// builds a server around the request listener; the caller owns listening,
// the drain, and the certificates (read once per start or reload).
//
// The registry lives on globalThis under a registered symbol: the command
// runs from a bundle, and a --require module that does
// `import { registerBackend } from 'chaussette'` loads the library build, a
// second copy of this module. Both must see one registry.

import type { Server } from 'node:net';
import type { RequestListener } from 'node:http';
import { errors } from '../errors.js';
import { httpBackend } from './http.js';
import { http2Backend } from './http2.js';
import { httpsBackend } from './https.js';
import type { ProbeProtocol } from '../systemd/watchdog.js';
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

const REGISTRY = Symbol.for('chaussette.backends');
type Global = typeof globalThis & { [REGISTRY]?: Map<string, Backend> };
const registry: Map<string, Backend> = ((globalThis as Global)[REGISTRY] ??= new Map());

/** Adds a backend, or replaces the one of that name. */
export function registerBackend(backend: Backend): void {
  if (!backend || typeof backend.name !== 'string' || typeof backend.createServer !== 'function') {
    throw new TypeError('registerBackend() takes { name, tls, createServer(listener, settings) }');
  }
  registry.set(backend.name, { ...backend, tls: backend.tls ?? 'none' });
}

export function getBackend(name: string): Backend {
  const backend = registry.get(name);
  if (!backend) throw errors.unknownBackend(name, [...registry.keys()]);
  return backend;
}

export function backendNames(): string[] {
  return [...registry.keys()];
}

for (const backend of [httpBackend, httpsBackend, http2Backend]) if (!registry.has(backend.name)) registerBackend(backend);

/** How the watchdog probe talks to a server of this backend; undefined when only a client certificate gets in. */
export function probeProtocol(backend: Pick<Backend, 'cleartext'>, tls: TlsFiles | undefined): ProbeProtocol | undefined {
  if (tls?.caCerts) return undefined;
  if (tls) return 'https';
  return backend.cleartext === 'h2c' ? 'h2c' : 'http';
}
