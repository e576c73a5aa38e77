// The one lifecycle of a serving process, whatever serves: load -> pre-hook
// -> listen -> READY=1 -> STATUS= reports and the watchdog -> (reloads) ->
// stop: STOPPING=1, the drain with its progress, the app's teardown ->
// post-hook. systemd hears of each step it cares about. What serves is an
// Engine: servers in this process (in-process.ts: a single process, the
// library) or a pool of worker processes (workers/primary.ts). The
// command and the library drive it; signals reach it through the table.

import type { DrainProgress, DrainResult } from './drain.js';
import { summary } from './errors.js';
import type { Hooks } from './hooks.js';
import type { Logger } from './log.js';
import { logTrouble, onLogTrouble } from './logs/output.js';
import { exitCodeOf, type HandledSignal, type Phase, type SignalTable } from './signals.js';
import { type DescriptorWatch, watchDescriptors } from './sockets/fd-shortage.js';
import type { Listening } from './sockets/open.js';
import { announceStopping } from './stopping.js';
import { monotonicUsec, type Notifier } from './systemd/notify.js';
import { drainingNotice, type LoadSample, plural, servingStatus, startStatusReports } from './systemd/status.js';
import { planWatchdog } from './systemd/watchdog.js';
import type { WatchdogSetting } from './systemd/watchdog-env.js';
import type { ProbeProtocol } from './systemd/watchdog-probe.js';

/** What serves. Each method is one step the lifecycle takes, in this order. */
export interface Engine {
  /** What serving needs before anything listens: the app loaded, or what the workers will need checked. */
  prepare(): Promise<void>;
  /** Listens, and starts serving; resolves once every listener accepts. Its accepts (and its workers') report to `descriptors`. */
  open(descriptors: DescriptorWatch): Promise<Listening[]>;
  /** How the watchdog probe speaks to the listeners; undefined: it cannot (client certificates). */
  probeProtocol(): ProbeProtocol | undefined;
  /** The backend as STATUS= shows it: "http", "http, 3 of 4 workers". */
  label(): string;
  /** Counts requests from now on, for STATUS=. */
  startCounting(): { sample(): LoadSample; stop(): void };
  /** Why nothing can serve now (the watchdog holds its pings back), or undefined. */
  problem?(): string | undefined;
  /** What fails in logging elsewhere (a worker's log), for STATUS=; this process's own is read from logs/output.ts. */
  logTrouble?(): string | undefined;
  /** RELOADING=1's STATUS=, if it has one to say. */
  reloadingStatus?(why: string): string;
  /** Reloads (SIGHUP, --reload); resolves with why it failed, or undefined. */
  reload(why: string): Promise<string | undefined>;
  /** Settles when serving ended by itself (the one Accept=yes connection closed); never otherwise. */
  ended(): Promise<void>;
  /** Now, as the stop begins: what is in flight, how long the stop may take, and the log's words for it. */
  stopPlan(graceMs: number): DrainProgress & { says: string };
  /** Stops accepting, drains, tears the app down; reports progress every second. */
  drain(graceMs: number, onProgress: (progress: DrainProgress) => void): Promise<DrainResult>;
  /** Stop at once: what must not outlive this process goes now. */
  halt(): void;
  /** A start that failed after open(), or a stop while starting: close what is open; what was accepted is drained (the stop waits for it). */
  abort(): void | Promise<void>;
}

export interface LifecycleContext {
  gracefulTimeoutS: number;
  watchdog: WatchdogSetting;
  watchdogProbe: string | undefined;
  log: Logger;
  notifier: Notifier;
  /** The command's --pre-hook and --post-hook. */
  hooks?: Hooks;
  /** Signals reach stop(), reload() and halt() through it; without, the caller stops us. */
  signals?: SignalTable;
  /** --reload: watches the sources and calls back on a change; closed at the stop. */
  watchSources?: (onChange: (file: string) => void) => { close(): void };
}

export type StopReason = HandledSignal | 'a stop request' | 'connection closed' | 'an uncaught exception';

/** After an uncaught exception the app may be broken: the requests in flight get this long at most. */
export const CRASH_GRACE_S = 10;

/** The grace of a stop after an uncaught exception, in seconds: the graceful timeout, capped. */
export const crashGraceS = (gracefulTimeoutS: number) => Math.min(gracefulTimeoutS, CRASH_GRACE_S);

/** How a stop asked while starting ends the start's current step. */
class StoppedWhileStarting extends Error {
  constructor(readonly reason: StopReason) {
    super(`stopped while starting (${reason})`);
  }
}

export class Lifecycle {
  /** Settles once stopped, whatever stopped it, after the post-hook; rejects if the post-hook fails. */
  readonly stopped: Promise<DrainResult>;
  private phaseNow: Phase = 'starting';
  private listeners: Listening[] = [];
  /** A stop while starting: settles once what the start had opened is closed and drained. */
  private aborted: Promise<unknown> = Promise.resolve();
  private stopReason: StopReason | undefined;
  private beginStop: (reason: StopReason) => void = () => {};
  /** Rejects when a stop is asked while starting: start() races each of its steps against it. */
  private readonly stopWhileStarting: Promise<never>;
  private abortStart: (stop: StoppedWhileStarting) => void = () => {};
  /** Set once serving: the request counter, and what the stop ends (reports, watching; then the pings). */
  private sample: (() => LoadSample) | undefined;
  private whenStopping: () => void = () => {};
  private whenStopped: () => void = () => {};
  /** Running out of file descriptors, here or in a worker: logged by the watch, STATUS= sent at once. */
  private descriptors: DescriptorWatch | undefined;
  /** The context's, each message sent with a descriptor spared for it once serving. */
  private notifier: Notifier;

  constructor(
    private readonly engine: Engine,
    private readonly context: LifecycleContext,
  ) {
    this.notifier = context.notifier;
    const asked = new Promise<StopReason>((resolve) => (this.beginStop = resolve));
    this.stopped = asked.then((reason) =>
      this.phaseNow === 'stopping' ? this.aborted.then(() => ({ forced: 0, elapsedMs: 0 })) : this.runStop(reason),
    );
    this.stopWhileStarting = new Promise<never>((_, reject) => (this.abortStart = reject));
    this.stopWhileStarting.catch(() => undefined); // Heard by start(), if it still runs.
    this.stopped.catch(() => undefined); // Whoever awaits it hears a failed post-hook.
    context.signals?.bind({
      stop: (signal) => void this.stop(signal),
      reload: () => void this.reload('SIGHUP'),
      halt: (signal) => this.halt(signal),
    });
  }

  get phase(): Phase {
    return this.phaseNow;
  }

  /**
   * Resolves once every listener accepts and systemd has READY=1; the listeners, as opened. A stop
   * asked before then ends the start where it is (the app may still be loading: nothing has been
   * served, and connections wait in the socket for the next process): no READY=1, [] here.
   */
  async start(): Promise<Listening[]> {
    const { engine, context } = this;
    const { log } = context;
    const step = <T>(work: Promise<T> | undefined): Promise<T | undefined> => {
      void work?.catch(() => undefined); // Left running when the stop wins: its failure is moot.
      return Promise.race([work, this.stopWhileStarting]);
    };
    let descriptors: DescriptorWatch | undefined;
    let notifier = context.notifier;
    let startPinging;
    try {
      await step(engine.prepare());
      await step(context.hooks?.load());
      await step(context.hooks?.pre());
      const watch = watchDescriptors({ log, onChange: () => this.tellStatus(), reserve: context.notifier.transport !== 'none' });
      descriptors = watch;
      this.descriptors = watch;
      notifier = { ...context.notifier, notify: (fields) => watch.spare(() => context.notifier.notify(fields)) };
      this.notifier = notifier;
      this.listeners = (await step(engine.open(watch))) ?? [];
      startPinging = planWatchdog(context.watchdog, context.watchdogProbe, engine.probeProtocol(), this.listeners, notifier, log, engine.problem?.bind(engine));
    } catch (error) {
      descriptors?.stop();
      if (error instanceof StoppedWhileStarting) {
        this.enter('stopping');
        notifier.notify({ STOPPING: 1, STATUS: `Stopped while starting (${error.reason}): nothing was served` });
        log.info(`Received ${error.reason} while starting: stopping before serving`);
        this.aborted = Promise.resolve(engine.abort()).catch((failure: unknown) => log.error(`Stopping what had started failed: ${summary(failure)}`));
        this.beginStop(error.reason);
        return [];
      }
      if (this.listeners.length > 0) void Promise.resolve(engine.abort()).catch(() => undefined);
      throw error;
    }
    // Serving from here on: SIGHUP reloads. systemd (>= 259) checks at READY=1 that SIGHUP is handled;
    // the signal table has handled it since the process began.
    this.enter('serving');
    notifier.notify({ READY: 1, STATUS: this.describe(0, 0, 0) });
    const pinger = startPinging?.();
    const telling = notifier.transport === 'sd-notify' || notifier.transport === 'systemd-notify';
    const counting = telling ? engine.startCounting() : undefined;
    const reports = counting ? startStatusReports(notifier, counting.sample, (...load) => this.describe(...load)) : undefined;
    const watching = context.watchSources?.((file) => void this.reload(`${file} changed`));
    this.sample = counting?.sample;
    // A log output that starts or stops failing is told at once, not at the next report.
    const troubleTold = telling ? onLogTrouble(() => this.tellStatus()) : undefined;
    this.whenStopping = () => {
      troubleTold?.();
      this.descriptors?.stop();
      watching?.close();
      reports?.stop();
      counting?.stop();
    };
    this.whenStopped = () => pinger?.stop();
    void engine.ended().then(() => this.stop('connection closed'));
    return this.listeners;
  }

  /** Stops as SIGTERM does; resolves when stopped. Asked while starting, the start ends where it is. */
  stop(reason: StopReason = 'a stop request'): Promise<DrainResult> {
    this.stopReason ??= reason;
    if (this.phaseNow === 'starting') this.abortStart(new StoppedWhileStarting(this.stopReason));
    else this.beginStop(this.stopReason);
    return this.stopped;
  }

  /** RELOADING=1, the engine's reload, READY=1; a failed reload keeps what serves and says so in STATUS=. */
  async reload(why: string): Promise<void> {
    if (this.phaseNow !== 'serving') return;
    const { notifier } = this;
    const reloadingStatus = this.engine.reloadingStatus?.(why);
    notifier.notify({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), ...(reloadingStatus ? { STATUS: reloadingStatus } : {}) });
    let failed: string | undefined;
    try {
      failed = await this.engine.reload(why);
    } catch (error) {
      failed = `Reload failed: ${summary(error)}`;
    }
    const load = this.sample?.();
    const status = failed ?? (load ? this.describe(load.requests, load.connections) : undefined);
    notifier.notify({ READY: 1, ...(status ? { STATUS: status } : {}) });
  }

  /** STATUS= now, from the current counts (while serving). */
  private tellStatus(): void {
    const load = this.sample?.();
    if (this.phaseNow === 'serving' && load) this.notifier.notify({ STATUS: this.describe(load.requests, load.connections) });
  }

  /** SIGINT twice, SIGQUIT: no drain; the process exits now. */
  halt(signal: HandledSignal): never {
    this.engine.halt();
    process.exit(exitCodeOf(signal));
  }

  private enter(phase: Phase): void {
    this.phaseNow = phase;
    this.context.signals?.enter(phase);
  }

  private describe(requests: number, connections: number, perSecond?: number): string {
    const trouble = [this.descriptors?.note(), logTrouble(), this.engine.logTrouble?.()].filter(Boolean).join('; ');
    return servingStatus(
      this.listeners.map((opened) => opened.address),
      this.engine.label(),
      requests,
      connections,
      perSecond,
      trouble,
    );
  }

  private async runStop(reason: StopReason): Promise<DrainResult> {
    const { engine, context, notifier } = this;
    const { log } = context;
    this.enter('stopping');
    announceStopping(reason);
    this.whenStopping();
    const graceS = reason === 'an uncaught exception' ? crashGraceS(context.gracefulTimeoutS) : context.gracefulTimeoutS;
    const graceMs = graceS * 1000;
    const plan = engine.stopPlan(graceMs);
    notifier.notify({ STOPPING: 1, ...drainingNotice(plan.inFlight, plan.connections, plan.msLeft) });
    if (reason === 'connection closed') log.info('The connection closed: exiting');
    else log.info(`Received ${reason}: ${plan.says}`);
    const result = await engine.drain(graceMs, (progress) => notifier.notify(drainingNotice(progress.inFlight, progress.connections, progress.msLeft)));
    this.whenStopped();
    log.info(`Stopped after ${result.elapsedMs} ms of drain${result.served === undefined ? '' : `; ${plural(result.served, 'request')} served`}`);
    await context.hooks?.post();
    return result;
  }
}
