// A real systemd as PID 1 in a throw-away container, for end-to-end tests of
// socket units, readiness, watchdog and restarts. The host's PID 1 is not
// systemd, so machinectl and `systemd-run --machine` are out: we boot with
// systemd-nspawn ourselves and enter the guest with nsenter.
// The recipe and its traps: /work/shared/notes/real-systemd.md.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../helpers.js';

const ROOTFS_SH = join(dirname(fileURLToPath(import.meta.url)), 'rootfs.sh');
const HIERARCHIES = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'];
const GUEST_PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';
const BOOT_TIMEOUT_MS = 30_000;
const EXEC_TIMEOUT_MS = 20_000;
// glibc's SIGRTMIN is 34; systemd treats SIGRTMIN+4 as `systemctl poweroff`.
const SIGRTMIN_PLUS_4 = 38;

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Machine {
  readonly name: string;
  /** The guest's PID 1 (systemd), as the host sees it. */
  readonly leaderPid: number;
  /**
   * Runs `sh -c command` as root inside the guest, with only PATH set. Resolves whatever the exit
   * code; rejects on timeout (default 20 s) or when stop() cuts it short. Resolves only once stdout
   * closes: redirect the output of anything left running in the background.
   */
  exec(command: string, options?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** exec(), but a non-zero exit rejects with the command and its output; resolves with stdout. */
  sh(command: string, timeoutMs?: number): Promise<string>;
  writeFile(guestPath: string, content: string, mode?: number): Promise<void>;
  /** Powers the guest off and removes everything the boot left on the host. Idempotent. */
  stop(): Promise<void>;
}

export interface BootOptions {
  /** Machine (host) name, and name of its cgroups on the host; unique among running machines. */
  name?: string;
  binds?: Array<{ host: string; guest: string; readOnly?: boolean }>;
  /**
   * The host file bound as the guest's /usr/bin/node: by default the Node running the tests.
   * false: none, for a test whose packages install /usr/bin/node (a bound file cannot be replaced).
   */
  node?: string | false;
}

let booted = 0;

export async function bootMachine(options: BootOptions = {}): Promise<Machine> {
  const name = options.name ?? `chaussette-${process.pid}-${++booted}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(name)) throw new Error(`bad machine name ${JSON.stringify(name)}`);
  const tree = await rootTree();
  claimCgroups(name);

  // Dies with this process (EOF on its stdin), whatever killed it: tap's
  // timeout ends test processes with SIGALRM then SIGKILL, which skips 'exit'.
  const guard = spawn('sh', ['-c', GUARD, name], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  guard.unref();

  // A private /run, because nspawn leaves state there and the host's /run is
  // not a tmpfs; our own cgroup, because nspawn otherwise creates and leaves
  // /payload and /supervisor at the root of the hierarchies.
  const launch = `mount -t tmpfs -o mode=755 tmpfs /run && for h in ${HIERARCHIES.join(' ')}; do echo $$ > "$h/$0/cgroup.procs" || exit 1; done && exec "$@"`;
  const nspawn = [
    'systemd-nspawn', '-D', tree, '-M', name,
    // No host systemd to register with or to ask for a scope.
    '--register=no', '--keep-unit', '--settings=no', '--link-journal=no',
    // Writes go to a tmpfs: the cached tree stays pristine, every boot is clean.
    '--volatile=overlay',
    '--console=read-only', '--private-network',
    // The Node running the tests (the CI matrix runs each major), as the guest's /usr/bin/node.
    ...(options.node === false ? [] : [`--bind-ro=${escapeBind(options.node ?? process.execPath)}:/usr/bin/node`]),
    ...(options.binds ?? []).map((b) => `--bind${b.readOnly ? '-ro' : ''}=${escapeBind(b.host)}:${escapeBind(b.guest)}`),
    '--boot',
  ];
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', launch, name, ...nspawn], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A test that forgets stop() should still end; 'exit' and the guard clean up.
  child.unref();
  let output = '';
  const collect = (chunk: string) => (output = (output + chunk).slice(-20_000));
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8').on('data', collect);
    (stream as unknown as { unref(): void }).unref();
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  child.once('error', (error) => collect(`\n${error.message}\n`));

  const onExit = () => killCgroupsSync(name);
  process.on('exit', onExit);

  let leaderPid = 0;
  let stopping: Promise<void> | undefined;
  const stopExecs = new AbortController();
  const execs = new Set<Promise<unknown>>();

  const exec: Machine['exec'] = (command, execOptions = {}) => {
    if (!leaderPid || hasExited || stopping) return Promise.reject(new Error(`machine ${name} is not running`));
    const running = run(
      ['nsenter', '--target', String(leaderPid), '--all', '--', 'env', '-i', GUEST_PATH, 'sh', '-c', command],
      execOptions.input,
      execOptions.timeoutMs ?? EXEC_TIMEOUT_MS,
      `"${command}" in machine ${name}`,
      stopExecs.signal,
    );
    execs.add(running);
    void running.catch(() => {}).finally(() => execs.delete(running));
    return running;
  };

  const machine: Machine = {
    name,
    get leaderPid() {
      return leaderPid;
    },
    exec,
    async sh(command, timeoutMs) {
      const result = await exec(command, { timeoutMs });
      if (result.code !== 0) throw new Error(`guest: ${command}\nexit ${result.code}\n${result.stdout}${result.stderr}`);
      return result.stdout;
    },
    async writeFile(guestPath, content, mode = 0o644) {
      if (!posix.isAbsolute(guestPath)) throw new Error(`guest path must be absolute: ${guestPath}`);
      const path = shellQuote(guestPath);
      const result = await exec(
        `mkdir -p -- ${shellQuote(posix.dirname(guestPath))} && cat > ${path} && chmod ${mode.toString(8)} -- ${path}`,
        { input: content },
      );
      if (result.code !== 0) throw new Error(`writing ${guestPath} in machine ${name} failed: ${result.stderr}`);
    },
    stop() {
      stopping ??= (async () => {
        // systemd-shutdown SIGSTOPs every process before its SIGTERM; nsenter
        // then stops itself too, never reaps its child, and the shutdown waits
        // 90 s for that zombie. So end our commands first.
        stopExecs.abort();
        await Promise.allSettled(execs);
        if (!hasExited) {
          signal(leaderPid || child.pid, leaderPid ? SIGRTMIN_PLUS_4 : 'SIGTERM');
          // systemd-shutdown waits for a SIGCHLD before it looks again whether
          // what it killed is gone; a process that is not its child sends none.
          const nudge = setInterval(() => signal(leaderPid, 'SIGCHLD'), 200);
          void exited.then(() => clearInterval(nudge));
          if (!(await within(exited, 10_000))) {
            process.stderr.write(`machine ${name} ignored poweroff for 10 s; its console:\n${output.slice(-3000)}\n`);
            // nspawn forwards SIGTERM to the guest as a halt request.
            signal(child.pid, 'SIGTERM');
            if (!(await within(exited, 3_000))) {
              signal(child.pid, 'SIGKILL');
              // Killing nspawn alone leaves the guest running: its PID 1 must go too.
              signal(leaderPid, 'SIGKILL');
            }
          }
        }
        await removeCgroups(name);
        process.off('exit', onExit);
        guard.stdin!.end();
      })();
      return stopping;
    },
  };

  try {
    leaderPid = await findLeader(child, () => hasExited, BOOT_TIMEOUT_MS);
    await waitRunning(machine, () => hasExited, BOOT_TIMEOUT_MS);
  } catch (error) {
    await machine.stop().catch(() => {});
    throw new Error(`${(error as Error).message}\n--- systemd-nspawn output ---\n${output}`);
  }
  return machine;
}

/** Runs test/systemd/rootfs.sh (which builds the tree the first time) and returns the tree's path. */
async function rootTree(): Promise<string> {
  return new Promise((resolve, reject) => {
    const build = execFile('bash', [ROOTFS_SH], { maxBuffer: 16 << 20 }, (error, stdout) => {
      const tree = stdout.trim().split('\n').pop() ?? '';
      if (error || !tree.startsWith('/')) reject(new Error(`${ROOTFS_SH} failed: ${error?.message ?? stdout}`));
      else resolve(tree);
    });
    // A first build takes about a minute: let its progress through.
    build.stderr?.pipe(process.stderr);
  });
}

// Exits on EOF, that is when the process that booted the machine is gone,
// then kills what is left in the machine's cgroups and removes them.
const GUARD = `cat >/dev/null
for h in ${HIERARCHIES.join(' ')}; do
  d="$h/$0"
  [ -d "$d" ] || continue
  for i in $(seq 100); do
    pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
    [ -z "$pids" ] && break
    kill -KILL $pids 2>/dev/null
    sleep 0.1
  done
  find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
done`;

function claimCgroups(name: string): void {
  for (const hierarchy of HIERARCHIES) {
    const dir = join(hierarchy, name);
    if (existsSync(dir)) {
      if (cgroupPids(dir).length > 0) throw new Error(`machine ${name} is already running (${dir} is in use)`);
      // An empty leftover from a run killed before its guard could clean up.
      for (const sub of cgroupDirs(dir)) rmdirSync(sub);
    }
    mkdirSync(dir);
  }
}

/** The cgroup and all its descendants, deepest first, so they can be removed in order. */
function cgroupDirs(dir: string): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
  return [...entries.flatMap(cgroupDirs), dir];
}

function cgroupPids(dir: string): number[] {
  return cgroupDirs(dir).flatMap((sub) => {
    try {
      return readFileSync(join(sub, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

function killCgroupsSync(name: string): void {
  for (const hierarchy of HIERARCHIES) {
    for (const pid of cgroupPids(join(hierarchy, name))) signal(pid, 'SIGKILL');
  }
}

async function removeCgroups(name: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (const hierarchy of HIERARCHIES) {
    const root = join(hierarchy, name);
    let why = '';
    await waitUntil(
      () => {
        // Normally empty by now; a guest that ignored poweroff leaves stragglers.
        for (const pid of cgroupPids(root)) signal(pid, 'SIGKILL');
        try {
          for (const dir of cgroupDirs(root)) rmdirSync(dir);
          return true;
        } catch (error) {
          why = (error as Error).message;
          return false;
        }
      },
      Math.max(0, deadline - Date.now()),
      () => `cgroup ${root} to be removed (${why})`,
      { everyMs: 50 },
    );
  }
}

/**
 * The guest's PID 1: the child of nspawn whose comm is systemd. nspawn's first
 * child is a short-lived intermediate, so poll.
 */
function findLeader(nspawn: ChildProcess, hasExited: () => boolean, timeoutMs: number): Promise<number> {
  return waitUntil(
    () => {
      if (hasExited()) throw new Error('systemd-nspawn exited during boot');
      for (const pid of nspawn.pid ? childrenOf(nspawn.pid) : []) {
        try {
          if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd') return pid;
        } catch {
          // Gone between listing and reading: the intermediate.
        }
      }
      return undefined;
    },
    timeoutMs,
    "the guest's systemd",
  );
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

async function waitRunning(machine: Machine, hasExited: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let state = '';
  await waitUntil(
    async () => {
      if (hasExited()) throw new Error('systemd-nspawn exited during boot');
      // --wait blocks until boot is over, but fails at once while PID 1 is not yet listening.
      const result = await machine.exec('systemctl is-system-running --wait', { timeoutMs: Math.max(1, deadline - Date.now()) }).catch(() => undefined);
      state = result?.stdout.trim() ?? state;
      return state === 'running' || state === 'degraded';
    },
    timeoutMs,
    () => `the guest to boot (last state: ${state || 'none'})`,
  );
  if (state === 'degraded') {
    const failed = await machine.exec('systemctl --failed --no-pager --full');
    process.stderr.write(`machine ${machine.name} booted degraded:\n${failed.stdout}`);
  }
}

/** Runs argv (nsenter) in its own process group, so that a timeout reaches what it forked into the guest. */
function run(argv: string[], input: string | undefined, timeoutMs: number, what: string, abort: AbortSignal): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let cut = '';
    const cutShort = (why: string) => {
      cut ||= why;
      // Not nsenter itself: the guest-side processes it leaves behind would be
      // reparented to the host's PID 1, and a zombie there that the guest can
      // see stalls the guest's shutdown. Once its child is killed, nsenter exits.
      for (const pid of groupMembers(child.pid!)) signal(pid, 'SIGKILL');
      setTimeout(() => signal(child.pid, 'SIGKILL'), 1_000).unref();
    };
    const timer = setTimeout(() => cutShort(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => cutShort('was cut short: the machine is stopping');
    abort.addEventListener('abort', onAbort);
    const settle = () => {
      clearTimeout(timer);
      abort.removeEventListener('abort', onAbort);
    };
    child.once('error', (error) => {
      settle();
      reject(error);
    });
    child.once('close', (code) => {
      settle();
      if (cut) reject(new Error(`${what} ${cut}\nstdout: ${stdout}\nstderr: ${stderr}`));
      else resolve({ code, stdout, stderr });
    });
    if (input !== undefined) {
      // The command may exit without reading all of it.
      child.stdin!.on('error', () => {});
      child.stdin!.end(input);
    }
  });
}

/** The other processes of process group `pgid`. */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== pgid)
    .filter((pid) => {
      try {
        // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function signal(pid: number | undefined, sig: NodeJS.Signals | number): void {
  if (!pid) return;
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  const timeout = new AbortController();
  const won = await Promise.race([promise.then(() => true), sleep(ms, false, { signal: timeout.signal }).catch(() => false)]);
  timeout.abort();
  return won;
}

function escapeBind(path: string): string {
  return path.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

