// The service watchdog (WatchdogSec=), decided: whether to ping at all, and
// on what condition (the probe answering, a worker serving). Checked before
// READY=1, so a probe that cannot work fails the start; the pieces are
// watchdog-env.ts (the setting), watchdog-timer.ts (the pings) and
// watchdog-probe.ts (the client).

import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import type { Listening } from '../sockets/open.js';
import type { Notifier } from './notify.js';
import type { WatchdogSetting } from './watchdog-env.js';
import { pingEveryMs } from './watchdog-env.js';
import { askProbe, type ProbeProtocol } from './watchdog-probe.js';
import { type HealthCheck, startWatchdog, type Watchdog } from './watchdog-timer.js';

/**
 * What the watchdog will do, checked before READY=1; the returned function
 * starts it. `poolProblem` (the workers' health) joins the probe, if any.
 */
export function planWatchdog(
  setting: WatchdogSetting,
  probePath: string | undefined,
  /** How the probe speaks to the backend; undefined: it cannot (client certificates required). */
  protocol: ProbeProtocol | undefined,
  listeners: Listening[],
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
