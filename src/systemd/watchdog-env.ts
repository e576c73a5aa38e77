// Whether systemd expects watchdog pings from this process
// (sd_watchdog_enabled(3)): WATCHDOG_USEC, and WATCHDOG_PID when it names
// us. Pure: an environment and our pid in, a setting out.

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
