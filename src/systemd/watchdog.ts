// The service watchdog (sd_watchdog_enabled(3), WatchdogSec=): systemd
// kills the service when WATCHDOG=1 stops arriving within WATCHDOG_USEC.
// The pings come from a timer on the main event loop, so a loop stuck in a
// busy request stops them, and systemd restarts a process that can no
// longer serve. With a probe path, a ping is also held back until the app
// answers that path through its own socket.

import { request } from 'node:http';
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

export interface Probe {
  target: ProbeTarget;
  path: string;
}

export interface Watchdog {
  stop(): void;
}

/**
 * Pings now, then every half interval. With a probe, each ping waits for a
 * 2xx or 3xx answer to probe.path; `onHealthChange` hears when that flips.
 */
export function startWatchdog(
  notifier: Notifier,
  intervalMs: number,
  probe: Probe | undefined,
  onHealthChange: (healthy: boolean, reason: string) => void,
): Watchdog {
  const every = pingEveryMs(intervalMs);
  let healthy = true;
  let busy = false;
  const tick = async () => {
    if (busy) return; // A probe still waiting: the next tick decides.
    busy = true;
    try {
      const problem = probe ? await askProbe(probe, every) : undefined;
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
  return new Promise((resolve) => {
    const req = request(
      {
        ...probe.target,
        path: probe.path,
        method: 'GET',
        headers: { host: 'localhost', 'user-agent': 'chaussette-watchdog', connection: 'close' },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 400 ? undefined : `${probe.path} answered ${status}`);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', (error) => resolve(`${probe.path}: ${error.message}`));
    req.end();
  });
}
