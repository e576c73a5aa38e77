// The STATUS= line a person reads in `systemctl status`: what is served,
// how much, how fast; then the drain's progress; or why the start failed.
// Sent at a modest pace and only when the words change: never per request.

import type { Server } from 'node:net';
import { openConnections } from '../drain.js';
import type { Notifier, NotifyFields } from './notify.js';

export const STATUS_EVERY_MS = 10_000;

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * "Serving 127.0.0.1:8080 (http): 1234 requests, 3 open connections, 12.5 req/s";
 * the rate only when known; then what goes wrong while serving goes on
 * ("; the log cannot be written (ENOSPC…): 12 lines dropped", out of file descriptors).
 */
export function servingStatus(addresses: string[], backend: string, requests: number, connections: number, perSecond?: number, trouble?: string): string {
  const where = addresses.length <= 3 ? addresses.join(', ') : `${addresses.length} sockets`;
  const rate = perSecond === undefined ? '' : `, ${formatRate(perSecond)} req/s`;
  const load = requests === 0 ? 'no requests yet' : `${plural(requests, 'request')}, ${plural(connections, 'open connection')}${rate}`;
  return `Serving ${where} (${backend}): ${load}${trouble ? `; ${trouble}` : ''}`;
}

/** "Stopping: draining 3 requests on 5 connections, 12 s left". */
export function drainingStatus(inFlight: number, connections: number, msLeft: number): string {
  const left = `${Math.max(0, Math.ceil(msLeft / 1000))} s left`;
  if (connections === 0) return 'Stopping: all connections closed';
  return `Stopping: draining ${plural(inFlight, 'request')} on ${plural(connections, 'connection')}, ${left}`;
}

/** Room after the drain's deadline for the post-hook and the exit, when asking systemd for more stop time. */
export const STOP_SLACK_MS = 5000;

/**
 * The drain's progress for systemd: the STATUS= line, and EXTEND_TIMEOUT_USEC=
 * for the time the drain can still take plus slack. Honest: the drain ends by
 * its deadline, so this is never an open-ended wait.
 */
export function drainingNotice(inFlight: number, connections: number, msLeft: number): NotifyFields {
  return {
    STATUS: drainingStatus(inFlight, connections, msLeft),
    EXTEND_TIMEOUT_USEC: Math.round((Math.max(0, msLeft) + STOP_SLACK_MS) * 1000),
  };
}

const formatRate = (perSecond: number) => (perSecond >= 100 ? Math.round(perSecond).toString() : perSecond.toFixed(1));

export interface StatusReports {
  stop(): void;
}

export interface LoadSample {
  requests: number;
  connections: number;
}

/** Counts the requests on these servers from now on; the sample also reads their open connections. */
export function countRequests(servers: Server[]): { sample: () => LoadSample; stop: () => void } {
  let requests = 0;
  const count = () => void requests++;
  for (const server of servers) server.on('request', count);
  return {
    sample: () => ({ requests, connections: openConnections(servers) }),
    stop: () => servers.forEach((server) => server.removeListener('request', count)),
  };
}

/** Sends a fresh STATUS= line every `everyMs` when its words changed. */
export function startStatusReports(
  notifier: Notifier,
  sample: () => LoadSample,
  describe: (requests: number, connections: number, perSecond: number) => string,
  everyMs = STATUS_EVERY_MS,
): StatusReports {
  let last = describe(0, 0, 0);
  let lastRequests = 0;
  let lastAt = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const { requests, connections } = sample();
    const perSecond = ((requests - lastRequests) * 1000) / Math.max(1, now - lastAt);
    lastRequests = requests;
    lastAt = now;
    const text = describe(requests, connections, perSecond);
    if (text !== last) notifier.notify({ STATUS: text });
    last = text;
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
