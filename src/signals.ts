// Every signal and process-wide event chaussette answers, in one table.
// It is installed first thing (entry.ts for the command, serve() for the
// library), so no signal ever meets Node's default: SIGHUP would kill the
// process, SIGUSR1 would open the inspector to every local user. What each
// signal does is decided by decide(), a pure function of the role, the
// phase and what came before; what doing it means is bound later by the
// lifecycle (stop, reload, halt) and the command (the log, failures).
//
// SIGNAL_HELP below is the table as --help, README and the man page say it.
// Workers ignore them all because a signal sent to the whole process group
// (a terminal's Ctrl-C or hangup, `timeout`, `systemctl kill`) reaches them
// too: only their primary tells them what to do. A second SIGTERM does not
// cut the drain: NestJS apps re-raise it, `timeout` sends it twice, and the
// manager's SIGKILL after its stop timeout is the hard stop.

import { constants } from 'node:os';
import { describeError, errors, ExitCode } from './errors.js';
import type { Logger } from 'pino';

/** What each signal does, as --help prints it and README and the man page say it (test/docs.test.ts). */
export const SIGNAL_HELP: ReadonlyArray<{ signal: string; single: string; primary: string; worker: string }> = [
  {
    signal: 'SIGTERM',
    single: 'stop: drain, exit 0; a second one is logged, the drain goes on',
    primary: 'the same, every worker draining',
    worker: 'ignored: only its primary stops it',
  },
  { signal: 'SIGINT', single: 'as SIGTERM; a second SIGINT stops at once (exit 130)', primary: 'the same; at once kills the workers', worker: 'ignored' },
  { signal: 'SIGQUIT', single: 'stop at once (exit 131)', primary: 'the same; the workers are killed', worker: 'ignored' },
  {
    signal: 'SIGHUP',
    single: 'reload the TLS certificates (once serving; before: logged, ignored)',
    primary: 'replace the workers one at a time',
    worker: 'ignored',
  },
  {
    signal: 'SIGUSR1',
    single: 'reopen the --log-output and --access-log-output files; never opens the inspector',
    primary: 'the same, and the workers reopen theirs',
    worker: 'ignored: its primary tells it',
  },
];

export type Role = 'main' | 'worker' | 'library';
export type Phase = 'starting' | 'serving' | 'stopping';
export type HandledSignal = 'SIGTERM' | 'SIGINT' | 'SIGQUIT' | 'SIGHUP' | 'SIGUSR1';

const TAKEN: Record<Role, readonly HandledSignal[]> = {
  main: ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1'],
  worker: ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1'],
  library: ['SIGTERM', 'SIGINT', 'SIGHUP'],
};

/** Where the process stands, as far as signals are concerned. */
export interface SignalState {
  phase: Phase;
  /** A stop was asked for (it may still be waiting for the start to finish). */
  stopAsked: boolean;
  /** SIGINTs received before this one. */
  interrupts: number;
}

export type Action =
  | { do: 'stop' }
  | { do: 'halt' }
  | { do: 'reload' }
  | { do: 'reopen-log' }
  | { do: 'note'; level: 'debug' | 'info' | 'warn'; message: string };

/** The table: what `signal` does to a process of this role, in this state. */
export function decide(role: Role, signal: HandledSignal, state: SignalState): Action {
  if (role === 'worker') return { do: 'note', level: 'debug', message: `${signal} ignored: a worker acts only on what its primary tells it` };
  switch (signal) {
    case 'SIGQUIT':
      return { do: 'halt' };
    case 'SIGINT':
    case 'SIGTERM':
      if (signal === 'SIGINT' && state.interrupts > 0) return { do: 'halt' };
      if (!state.stopAsked) return { do: 'stop' };
      return {
        do: 'note',
        level: 'warn',
        message: `Received ${signal} again: the drain goes on (a second SIGINT or a SIGQUIT stops at once)`,
      };
    case 'SIGHUP':
      if (state.phase === 'serving' && !state.stopAsked) return { do: 'reload' };
      return { do: 'note', level: 'info', message: `Received SIGHUP while ${state.stopAsked ? 'stopping' : 'starting'}: nothing to reload; ignored` };
    case 'SIGUSR1':
      return { do: 'reopen-log' };
  }
}

/** What a role binds to the table; anything unbound has a safe default. */
export interface SignalHandlers {
  /** Graceful stop. Unbound: remembered, and handed over when bound. */
  stop(signal: HandledSignal): void;
  /** Stop at once. Unbound: exit 128 + the signal's number. */
  halt(signal: HandledSignal): void;
  /** Unbound: nothing to reload. */
  reload(): void;
  /** Unbound: there is no log file to reopen. */
  reopenLog(): void;
  /** An uncaught exception or unhandled rejection. Unbound: one line on stderr, exit 70. */
  fatal(error: unknown): void;
  /** A worker's primary is gone (its IPC channel closed). Unbound (the app still loading): exit at once. */
  primaryGone(): void;
  /**
   * Node's event loop emptied while starting: whatever the start awaits can
   * never settle, and Node would exit 0 in silence. Unbound: one line, exit 70.
   */
  startStalled(): void;
}

export const exitCodeOf = (signal: HandledSignal) => 128 + (constants.signals[signal] ?? 0);

export class SignalTable {
  private readonly state: SignalState = { phase: 'starting', stopAsked: false, interrupts: 0 };
  private handlers: Partial<SignalHandlers> = {};
  private pendingStop: HandledSignal | undefined;
  private stalled = false;
  private log: Logger | undefined;
  private readonly removers: Array<() => void> = [];

  private constructor(readonly role: Role) {}

  /** Takes this role's signals (and, but for the library, the process-wide events) now. */
  static install(role: Role): SignalTable {
    const table = new SignalTable(role);
    for (const signal of TAKEN[role]) table.listen(signal, () => table.receive(signal));
    if (role !== 'library') table.listen('uncaughtException', (error: unknown) => table.dispatchFatal(error));
    if (role !== 'library') table.listen('beforeExit', () => table.state.phase === 'starting' && table.dispatchStalled());
    if (role === 'worker') table.listen('disconnect', () => (table.handlers.primaryGone ?? (() => process.exit(ExitCode.ok)))());
    return table;
  }

  bind(handlers: Partial<SignalHandlers>): void {
    this.handlers = { ...this.handlers, ...handlers };
    if (handlers.stop && this.pendingStop) {
      const signal = this.pendingStop;
      this.pendingStop = undefined;
      handlers.stop(signal);
    }
  }

  /** Where notes go once there is a logger; before, warnings go to stderr. */
  setLogger(log: Logger): void {
    this.log = log;
  }

  enter(phase: Phase): void {
    this.state.phase = phase;
    if (phase === 'stopping') this.state.stopAsked = true;
  }

  /** Gives every signal and event back to Node (the library, once stopped). */
  dispose(): void {
    for (const remove of this.removers.splice(0)) remove();
  }

  private listen(event: string, listener: (...args: never[]) => void): void {
    process.on(event as NodeJS.Signals, listener as () => void);
    this.removers.push(() => process.removeListener(event as NodeJS.Signals, listener as () => void));
  }

  private receive(signal: HandledSignal): void {
    const action = decide(this.role, signal, this.state);
    if (signal === 'SIGINT') this.state.interrupts++;
    switch (action.do) {
      case 'stop':
        this.state.stopAsked = true;
        if (this.handlers.stop) this.handlers.stop(signal);
        else this.pendingStop = signal;
        return;
      case 'halt':
        this.note('warn', `Received ${signal}: stopping at once`);
        if (this.handlers.halt) this.handlers.halt(signal);
        else process.exit(exitCodeOf(signal));
        return;
      case 'reload':
        if (this.handlers.reload) this.handlers.reload();
        else this.note('info', 'Received SIGHUP: nothing to reload; ignored');
        return;
      case 'reopen-log':
        if (this.handlers.reopenLog) this.handlers.reopenLog();
        else this.note('debug', 'Received SIGUSR1: there is no log file to reopen (the inspector stays closed)');
        return;
      case 'note':
        this.note(action.level, action.message);
    }
  }

  private dispatchFatal(error: unknown): void {
    if (this.handlers.fatal) return this.handlers.fatal(error);
    process.stderr.write(`chaussette: ERR_INTERNAL: ${describeError(error)}\n`);
    process.exit(ExitCode.software);
  }

  private dispatchStalled(): void {
    // The failure's own last notice schedules work, after which the loop empties again.
    if (this.stalled) return;
    this.stalled = true;
    if (this.handlers.startStalled) return this.handlers.startStalled();
    process.stderr.write(`chaussette: ${errors.startNeverSettled().oneLine()}\n`);
    process.exit(ExitCode.software);
  }

  private note(level: 'debug' | 'info' | 'warn', message: string): void {
    if (this.log) this.log[level](message);
    else if (level === 'warn') process.stderr.write(`chaussette: ${message}\n`);
  }
}
