// Access lines are written in batches, not one write(2) per request: a
// batch goes out when it would pass PIPE_BUF, or FLUSH_AFTER_MS after its
// first line, and whatever is left goes out when the process exits (after a
// drain, a worker's stop, an uncaught exception: every way out calls
// process.exit). PIPE_BUF because standard output is often a pipe or the
// journal's socket shared with the other processes of a --workers pool: a
// write of at most that size is never interleaved with theirs.

/** POSIX's atomic pipe write size on Linux. */
export const PIPE_BUF = 4096;
export const FLUSH_AFTER_MS = 100;

export class LineBatch {
  private pending = '';
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushNow = () => this.flush();

  constructor(
    private readonly write: (text: string) => void,
    private readonly maxBytes = PIPE_BUF,
    private readonly delayMs = FLUSH_AFTER_MS,
  ) {
    process.on('exit', this.flushNow);
  }

  /** Adds whole lines (ending with a newline). */
  push(lines: string): void {
    const bytes = Buffer.byteLength(lines);
    if (this.pendingBytes > 0 && this.pendingBytes + bytes > this.maxBytes) this.flush();
    this.pending += lines;
    this.pendingBytes += bytes;
    if (this.pendingBytes >= this.maxBytes) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(this.flushNow, this.delayMs).unref();
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingBytes === 0) return;
    const text = this.pending;
    this.pending = '';
    this.pendingBytes = 0;
    this.write(text);
  }
}
