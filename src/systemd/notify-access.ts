// Whether systemd would take messages that systemd-notify sends for us.
// systemd-notify is a child process, not the service's main process, and
// systemd drops a message it may not take without a word, so under
// Type=notify READY=1 never arrives and the start times out. It takes them:
//   - under NotifyAccess=all (any process of the unit);
//   - under NotifyAccess=main or exec when systemd-notify can send in our
//     name: it sends its parent's pid in the message's credentials, which the
//     kernel allows only with CAP_SYS_ADMIN (root, with a full bounding set).
// The unit's NotifyAccess is systemd's to say: `systemctl show`, for the unit
// that /proc/self/cgroup names (a service's processes live in its cgroup).
// From a DynamicUser= service D-Bus refuses systemctl ("Transport endpoint is
// not connected", seen on Debian 12): there the unit's author says it with
// Environment=CHAUSSETTE_NOTIFY_ACCESS=all, and without it chaussette does
// not bet the start on systemd-notify.

import { describeError } from '../errors.js';

export type NotifyAccess = 'none' | 'main' | 'exec' | 'all';

export interface ServiceUnit {
  name: string;
  /** A unit of a user's own manager (systemctl --user), not the system's. */
  user: boolean;
}

/**
 * The service unit a process belongs to, from /proc/PID/cgroup: the last
 * `*.service` in its cgroup path (a Delegate= subgroup sits below it).
 * Undefined outside a service (a login session, a container without systemd).
 */
export function serviceUnitFromCgroup(cgroupFile: string): ServiceUnit | undefined {
  const lines = cgroupFile.split('\n');
  // The unified hierarchy (0::/path), else the legacy name=systemd one (1:name=systemd:/path).
  const line = lines.find((l) => l.startsWith('0::')) ?? lines.find((l) => /^\d+:name=systemd:/.test(l));
  if (!line) return undefined;
  const segments = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).split('/');
  let last = segments.length - 1;
  while (last >= 0 && !/\.service$/.test(segments[last]!)) last--;
  if (last < 0) return undefined;
  const user = segments.slice(0, last).some((segment) => /^user@\d+\.service$/.test(segment));
  return { name: segments[last]!, user };
}

/** Whether CapEff in /proc/self/status holds CAP_SYS_ADMIN (21): what sending in another pid's name takes. */
export function hasSysAdmin(statusFile: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(statusFile)?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 21n)) !== 0n;
}

export type Verdict = 'accepted' | 'refused' | 'unknown';

/**
 * Would systemd take systemd-notify's messages? `access` undefined: systemd
 * could not be asked (from a DynamicUser= service, D-Bus refuses systemctl).
 * Then, inside a service, only the privilege to send in our name makes sure.
 */
export function systemdNotifyVerdict(access: string | undefined, canSendAsParent: boolean, inService: boolean): Verdict {
  if (canSendAsParent && access !== 'none') return 'accepted';
  switch (access) {
    case 'all':
      return 'accepted';
    case 'main':
    case 'exec':
    case 'none':
      return 'refused';
    default:
      return inService ? 'refused' : 'unknown';
  }
}

export interface AccessAnswer {
  unit: ServiceUnit | undefined;
  access: string | undefined;
  /** Why systemd could not be asked, when it could not. */
  why: string | undefined;
}

export type RunProgram = (file: string, args: string[], timeoutMs: number) => Promise<string>;

/** How long systemctl may take (its D-Bus call): past that, "unknown", and the start goes on. */
const SYSTEMCTL_TIMEOUT_MS = 5000;

/** Asks systemd for the NotifyAccess= of the unit this process runs in. */
/**
 * The NotifyAccess= of the unit this process runs in: as CHAUSSETTE_NOTIFY_ACCESS
 * says (the unit's author repeating it, where systemd cannot be asked), else
 * as systemd answers.
 */
export async function askNotifyAccess(cgroupFile: string | undefined, run: RunProgram, declared?: string): Promise<AccessAnswer> {
  const unit = cgroupFile === undefined ? undefined : serviceUnitFromCgroup(cgroupFile);
  if (declared && /^(none|main|exec|all)$/.test(declared)) return { unit, access: declared, why: undefined };
  if (!unit) return { unit, access: undefined, why: 'this process is not in a systemd service' };
  const args = [...(unit.user ? ['--user'] : []), 'show', '--property=NotifyAccess', '--value', unit.name];
  try {
    const access = (await run('systemctl', args, SYSTEMCTL_TIMEOUT_MS)).trim();
    return /^(none|main|exec|all)$/.test(access)
      ? { unit, access, why: undefined }
      : { unit, access: undefined, why: `systemctl ${args.join(' ')} answered ${JSON.stringify(access)}` };
  } catch (error) {
    return { unit, access: undefined, why: `systemctl ${args.join(' ')} failed: ${describeError(error)}` };
  }
}
