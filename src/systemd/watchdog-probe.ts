// The probe client: GET a path of the app through its own socket, as a
// client would, in the protocol the backend speaks. Used by the watchdog
// before each ping when --watchdog-probe is given.

import { request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { request as requestTls } from 'node:https';
import { connect as connectNet } from 'node:net';
import type { ProbeTarget } from '../sockets/open.js';

/**
 * How the probe speaks to our own socket, as the backend serves it: plain
 * HTTP/1.1, HTTP/1.1 over TLS (https, and http2 with certificates, which
 * also takes HTTP/1.1), or cleartext HTTP/2 (http2 without certificates).
 */
export type ProbeProtocol = 'http' | 'https' | 'h2c';

export interface Probe {
  target: ProbeTarget;
  path: string;
  protocol: ProbeProtocol;
}

/** undefined when the app answered the probe with 2xx/3xx; otherwise why not. */
export function askProbe(probe: Probe, timeoutMs: number): Promise<string | undefined> {
  const verdict = (status: number) => (status >= 200 && status < 400 ? undefined : `${probe.path} answered ${status}`);
  if (probe.protocol === 'h2c') return askOverHttp2(probe, timeoutMs, verdict);
  return new Promise((resolve) => {
    const options: RequestOptions = {
      ...probe.target,
      path: probe.path,
      method: 'GET',
      headers: { host: 'localhost', 'user-agent': 'chaussette-watchdog', connection: 'close' },
      timeout: timeoutMs,
      agent: false,
    };
    const onResponse = (res: IncomingMessage) => {
      res.resume();
      resolve(verdict(res.statusCode ?? 0));
    };
    // Our own socket: the certificate is the one we serve, whatever name it carries.
    const req: ClientRequest =
      probe.protocol === 'https' ? requestTls({ ...options, rejectUnauthorized: false }, onResponse) : request(options, onResponse);
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', (error) => resolve(`${probe.path}: ${error.message}`));
    req.end();
  });
}

function askOverHttp2(probe: Probe, timeoutMs: number, verdict: (status: number) => string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const session = connectHttp2('http://localhost', { createConnection: () => ('socketPath' in probe.target ? connectNet({ path: probe.target.socketPath }) : connectNet(probe.target)) });
    const done = (answer: string | undefined) => {
      clearTimeout(timer);
      session.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(`${probe.path}: no answer within ${timeoutMs} ms`), timeoutMs);
    session.once('error', (error) => done(`${probe.path}: ${error.message}`));
    const stream = session.request({ ':path': probe.path, 'user-agent': 'chaussette-watchdog' });
    stream.once('response', (headers) => done(verdict(Number(headers[':status']))));
    stream.once('error', (error) => done(`${probe.path}: ${error.message}`));
    stream.end();
  });
}
