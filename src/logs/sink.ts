// Writing the log without letting it take serving down, nor grow without
// bound. Each piece of text (a record, a batch of access lines) is one
// write(2), made at once, so the last lines before an exit are not lost and
// a write of at most PIPE_BUF to a pipe shared with other processes is never
// interleaved with theirs. The descriptor never blocks (output.ts opens pipes
// non-blocking), so a destination can fail in two ways:
//  - it cannot take more now (EAGAIN: its reader lags): the text waits in a
//    queue of at most QUEUE_LIMIT bytes, tried again every RETRY_MS and
//    before each new write; what does not fit is dropped;
//  - it refuses (ENOSPC on a full disk, EIO, EPIPE once its reader is gone):
//    the text is dropped.
// Dropped lines are counted. The first one of a run is reported once
// (onFailing: stderr and STATUS=); then every write begins with a notice
// saying how many lines were lost and why, and the first notice that gets
// through ends the run (onRecovered): it sits in the log where the lines
// are missing. Before this, on SonicBoom, standard output on /dev/full made
// the process spin at full CPU and grow by 30 MB a second without ever
// serving, and a --log-output file on a full disk kept every unwritten line
// in memory (135 MB after 600k requests).

import { writeSync } from 'node:fs';
import { describeError } from '../errors.js';

/** What waits for a destination that cannot take it now, at most: a second or two of a busy access log. */
export const QUEUE_LIMIT = 1024 * 1024;
/** How often what waits, or a failing destination, is tried again when nothing new is written. */
export const RETRY_MS = 100;
/** At the exit, how long what is queued may wait for a slow reader before it is given up. */
export const EXIT_WAIT_MS = 1000;

export interface SinkReports {
  /** The first line of a run was dropped, because of `reason` ("ENOSPC: no space left on device"). */
  failing(reason: string): void;
  /** The notice got through: `dropped` lines were lost in all. */
  recovered(dropped: number, reason: string): void;
}

/** The notice written when writing works again, as a line of this output (a record, a journal line). */
export type Notice = (dropped: number, reason: string, sinceMs: number) => string;

/** write(2) as fs.writeSync does it: the bytes written, or a throw. */
export type WriteSync = (fd: number, data: string | Buffer) => number;

export interface SinkSettings {
  write?: WriteSync;
  queueLimit?: number;
  retryMs?: number;
  now?: () => number;
  /** Registers what must run at the exit (process.on('exit') by default). */
  atExit?: (flush: () => void) => void;
}

const isBusy = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
};
const byteLength = (data: string | Buffer) => (typeof data === 'string' ? Buffer.byteLength(data) : data.length);
/** Lines in a piece of text; a piece without a newline (the tail of a cut write) still counts as one. */
const linesIn = (data: string | Buffer) => {
  let count = 0;
  for (let at = data.indexOf('\n'); at >= 0; at = data.indexOf('\n', at + 1)) count++;
  return Math.max(1, count);
};

export class LogSink {
  private readonly queue: Array<string | Buffer> = [];
  private queued = 0;
  /** Lines lost in the current run; 0: writing works. */
  private dropped = 0;
  private reason = '';
  private since = 0;
  /** The last write stopped inside a line: a notice must start on a line of its own. */
  private midLine = false;
  private timer: NodeJS.Timeout | undefined;
  /** Set at the exit: from then on a busy destination is waited for, a little. */
  private exitDeadline: number | undefined;
  private readonly writeSync: WriteSync;
  private readonly queueLimit: number;
  private readonly retryMs: number;
  private readonly now: () => number;

  constructor(
    private fd: number,
    private readonly notice: Notice,
    private readonly reports: SinkReports,
    settings: SinkSettings = {},
  ) {
    this.writeSync = settings.write ?? ((fd, data) => (typeof data === 'string' ? writeSync(fd, data, null, 'utf8') : writeSync(fd, data)));
    this.queueLimit = settings.queueLimit ?? QUEUE_LIMIT;
    this.retryMs = settings.retryMs ?? RETRY_MS;
    this.now = settings.now ?? Date.now;
    (settings.atExit ?? ((flush) => process.on('exit', flush)))(() => this.flushAtExit());
  }

  /** Writes whole lines (ending with a newline); never throws, never blocks (but at the exit: flushAtExit). */
  write(text: string): void {
    if (this.queue.length > 0 || this.dropped > 0) this.catchUp();
    if (this.dropped > 0) this.drop(text);
    else if (this.queue.length > 0) this.enqueue(text);
    else this.attempt(text);
    if (this.exitDeadline !== undefined) this.waitOut();
    else this.schedule();
  }

  /** The current run of drops, if writing fails now. */
  trouble(): { dropped: number; reason: string } | undefined {
    return this.dropped > 0 ? { dropped: this.dropped, reason: this.reason } : undefined;
  }

  /** Writes to `fd` from now on (a reopened file), what waits included; returns the descriptor it replaces. */
  replaceFd(fd: number): number {
    const old = this.fd;
    this.fd = fd;
    this.midLine = false;
    return old;
  }

  /** Writes what waits, giving a busy destination EXIT_WAIT_MS at most; later writes do the same. */
  flushAtExit(): void {
    this.exitDeadline ??= this.now() + EXIT_WAIT_MS;
    clearTimeout(this.timer);
    this.waitOut();
  }

  /** Writes `data` now; what the destination cannot take now waits, what it refuses is dropped. */
  private attempt(data: string | Buffer): void {
    try {
      this.wrote(data, this.writeSync(this.fd, data));
    } catch (error) {
      if (isBusy(error)) this.enqueue(data);
      else this.fail(error, [data]);
    }
  }

  /** After a write of `data` took `written` bytes: keep what it did not take, in front of the queue. */
  private wrote(data: string | Buffer, written: number): boolean {
    if (written >= byteLength(data)) {
      this.midLine = false;
      return true;
    }
    this.midLine = true;
    const rest = (typeof data === 'string' ? Buffer.from(data) : data).subarray(written);
    this.queue.unshift(rest);
    this.queued += rest.length;
    return false;
  }

  /**
   * The queue, then (after a run of drops) the notice. 'done' when all is
   * out, 'busy' when the destination cannot take more now, 'refused' when
   * it fails (what was queued is dropped).
   */
  private catchUp(): 'done' | 'busy' | 'refused' {
    while (this.queue.length > 0) {
      const head = this.queue.shift()!;
      this.queued -= byteLength(head);
      try {
        if (!this.wrote(head, this.writeSync(this.fd, head))) return 'busy';
      } catch (error) {
        if (isBusy(error)) {
          this.queue.unshift(head);
          this.queued += byteLength(head);
          return 'busy';
        }
        const lost = [head, ...this.queue.splice(0)];
        this.queued = 0;
        this.fail(error, lost);
      }
    }
    if (this.dropped === 0) return 'done';
    const notice = `${this.midLine ? '\n' : ''}${this.notice(this.dropped, this.reason, this.since)}`;
    try {
      this.wrote(notice, this.writeSync(this.fd, notice));
    } catch (error) {
      if (isBusy(error)) return 'busy';
      this.reason = describeError(error);
      return 'refused';
    }
    const { dropped, reason } = this;
    this.dropped = 0;
    this.reason = '';
    this.reports.recovered(dropped, reason);
    return this.queue.length === 0 ? 'done' : 'busy';
  }

  private enqueue(data: string | Buffer): void {
    const bytes = byteLength(data);
    if (this.queued + bytes > this.queueLimit) {
      if (this.dropped === 0) this.reason = `its reader does not keep up (${this.queueLimit} bytes waiting)`;
      this.drop(data);
      return;
    }
    this.queue.push(data);
    this.queued += bytes;
  }

  private fail(error: unknown, lost: Array<string | Buffer>): void {
    this.reason = describeError(error);
    for (const data of lost) this.drop(data);
  }

  private drop(data: string | Buffer): void {
    const first = this.dropped === 0;
    if (first) this.since = this.now();
    this.dropped += linesIn(data);
    if (first) this.reports.failing(this.reason);
  }

  private schedule(): void {
    if (this.timer !== undefined || (this.queue.length === 0 && this.dropped === 0)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.catchUp();
      this.schedule();
    }, this.retryMs).unref();
  }

  /** At the exit: what is queued, waiting for a busy destination until the deadline (a refusing one is not waited for). */
  private waitOut(): void {
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (this.catchUp() === 'busy' && this.now() < this.exitDeadline!) Atomics.wait(pause, 0, 0, 5);
  }
}
