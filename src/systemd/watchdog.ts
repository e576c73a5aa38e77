// The service watchdog (sd_watchdog_enabled(3), WatchdogSec=): systemd
// kills the service when WATCHDOG=1 stops arriving within WATCHDOG_USEC.
// The pings come from a timer on the main event loop, so a loop stuck in a
// busy request stops them, and systemd restarts a process that can no
// longer serve. With a probe path, a ping is also held back until the app
// answers that path through its own socket.

import { request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { request as requestTls } from 'node:https';
import { connect as connectNet } from 'node:net';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import type { OpenListener } from '../sockets/open.js';
import type { Notifier } from './notify.js';

export const WATCHDOG_VARIABLES = ['WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

export type WatchdogSetting =
  | { kind: 'off' }
  /** Set for another process further up or down the tree (WATCHDOG_PID is not ours). */
  | { kind: 'not-ours'; watchdogPid: string }
  | { kind: 'invalid'; value: string }
  | { kind: 'on'; intervalMs: number };

export function readWatchdog(env: NodeJS.ProcessEnv, pid: number): WatchdogSetting {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || usec.trim() === '') return { kind: 'off' };
  const owner = env.WATCHDOG_PID;
  if (owner !== undefined && owner.trim() !== '' && owner.trim() !== String(pid)) return { kind: 'not-ours', watchdogPid: owner };
  const value = Number(usec);
  if (!/^\d+$/.test(usec.trim()) || !Number.isSafeInteger(value) || value === 0) return { kind: 'invalid', value: usec };
  return { kind: 'on', intervalMs: value / 1000 };
}

/** sd_watchdog_enabled(3) recommends a keep-alive every half interval. */
export const pingEveryMs = (intervalMs: number) => Math.max(1, Math.floor(intervalMs / 2));

/** Where the probe asks: a TCP address or a unix socket path (abstract: leading NUL). */
export type ProbeTarget = { host: string; port: number } | { socketPath: string };

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

export interface Watchdog {
  stop(): void;
}

/** undefined: healthy, ping; otherwise why not. Given the time it may take. */
export type HealthCheck = (timeoutMs: number) => Promise<string | undefined>;

/**
 * Pings now, then every half interval. With a check (the probe, the
 * workers' health), each ping waits for it to pass; `onHealthChange` hears
 * when that flips.
 */
export function startWatchdog(
  notifier: Notifier,
  intervalMs: number,
  check: HealthCheck | undefined,
  onHealthChange: (healthy: boolean, reason: string) => void,
): Watchdog {
  const every = pingEveryMs(intervalMs);
  let healthy = true;
  let busy = false;
  const tick = async () => {
    if (busy) return; // A check still waiting: the next tick decides.
    busy = true;
    try {
      const problem = check ? await check(every) : undefined;
      if (problem === undefined) notifier.notify({ WATCHDOG: 1 });
      if ((problem === undefined) !== healthy) {
        healthy = problem === undefined;
        onHealthChange(healthy, problem ?? 'answered');
      }
    } finally {
      busy = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), every);
  timer.unref();
  return { stop: () => clearInterval(timer) };
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

/**
 * What the watchdog will do, checked before READY=1; the returned function
 * starts it. `poolProblem` (the workers' health) joins the probe, if any.
 */
export function planWatchdog(
  setting: WatchdogSetting,
  probePath: string | undefined,
  /** How the probe speaks to the backend; undefined: it cannot (client certificates required). */
  protocol: ProbeProtocol | undefined,
  listeners: OpenListener[],
  notifier: Notifier,
  log: Logger,
  poolProblem?: () => string | undefined,
): (() => Watchdog) | undefined {
  if (setting.kind === 'not-ours') {
    log.debug(`Watchdog: WATCHDOG_PID=${setting.watchdogPid} is another process; not pinging`);
    return undefined;
  }
  if (setting.kind === 'invalid') {
    log.warn(`Watchdog: ignoring WATCHDOG_USEC=${JSON.stringify(setting.value)}, which is not a number of microseconds`);
    return undefined;
  }
  if (setting.kind === 'off') {
    if (probePath) log.warn('--watchdog-probe has no effect: systemd set no watchdog (WatchdogSec=)');
    return undefined;
  }
  const reach = listeners.find((opened) => opened.reach)?.reach;
  if (probePath && !reach) throw errors.watchdogProbeUnreachable(probePath, 'none of the sockets can be reached from this process');
  if (probePath && !protocol) throw errors.watchdogProbeUnreachable(probePath, 'the socket requires a client certificate (--ca-certs)');
  const probe = probePath && reach && protocol ? { target: reach, path: probePath, protocol } : undefined;
  const check: HealthCheck | undefined =
    probe || poolProblem
      ? async (timeoutMs) => {
          const poolIssue = poolProblem?.();
          if (poolIssue || !probe) return poolIssue;
          const failed = await askProbe(probe, timeoutMs);
          return failed && `the probe failed (${failed})`;
        }
      : undefined;
  const recovered = probe && !poolProblem ? `${probe.path} answers again` : 'healthy again';
  const every = pingEveryMs(setting.intervalMs);
  const conditions = [poolProblem ? 'a worker serves' : '', probe ? `GET ${probe.path} answers` : ''].filter(Boolean).join(' and ');
  return () => {
    log.info(`Watchdog: pinging systemd every ${every} ms${conditions ? ` while ${conditions}` : ''} (WatchdogSec=${setting.intervalMs / 1000} s)`);
    return startWatchdog(notifier, setting.intervalMs, check, (healthy, why) => {
      if (healthy) log.info(`Watchdog: ${recovered}; pinging`);
      else log.error(`Watchdog: not pinging, ${why}; systemd will restart this service if it goes on`);
    });
  };
}
