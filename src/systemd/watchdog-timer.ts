// The pings themselves: WATCHDOG=1 every half interval, from a timer on the
// main event loop, so a loop stuck in a busy request stops them and systemd
// restarts a process that can no longer serve. A health check, when given,
// holds each ping back until it passes.

import type { Notifier } from './notify.js';
import { pingEveryMs } from './watchdog-env.js';

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
