// Backends: the server implementations chaussette can put on a socket,
// registered by name as in the Python Chaussette's register(). A backend
// builds a server around the request listener; the caller owns listening.

import type { Server } from 'node:net';
import type { RequestListener } from 'node:http';
import { errors } from '../errors.js';
import { httpBackend } from './http.js';

export interface ServerSettings {
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderSize: number;
}

export interface Backend {
  name: string;
  createServer(listener: RequestListener, settings: ServerSettings): Server;
}

const registry = new Map<string, Backend>();

export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
}

export function getBackend(name: string): Backend {
  const backend = registry.get(name);
  if (!backend) throw errors.unknownBackend(name, [...registry.keys()]);
  return backend;
}

export function backendNames(): string[] {
  return [...registry.keys()];
}

registerBackend(httpBackend);
