// Backends: the server implementations chaussette can put on a socket,
// registered by name as in the Python Chaussette's register(). A backend
// builds a server around the request listener; the caller owns listening,
// the drain, and the certificates (read once per start or reload).
//
// The registry lives on globalThis under a registered symbol: the command
// runs from a bundle, and a --require module that does
// `import { registerBackend } from 'chaussette'` loads the library build, a
// second copy of this module. Both must see one registry.

import { errors } from '../errors.js';
import type { Backend } from './backend.js';
import { httpBackend } from './http.js';
import { http2Backend } from './http2.js';
import { httpsBackend } from './https.js';

export type { Backend, ServerSettings } from './backend.js';
export { probeProtocol } from './backend.js';

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
