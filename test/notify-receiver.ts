// systemd's end of NOTIFY_SOCKET, played by test/fixtures/notify-receiver.py
// (Node cannot receive unix datagrams): every message chaussette sends, with
// the sender's pid and when it arrived.

import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, onEvent, waitUntil, type Wake } from './helpers.js';

export interface Notification {
  /** When the kernel queued it on the socket, in wall-clock milliseconds: for gaps between messages. */
  at: number;
  pid: number | null;
  message: string;
  fields: Record<string, string>;
}

export interface Receiver {
  /** What goes in NOTIFY_SOCKET. */
  address: string;
  messages: Notification[];
  /** The first message (from `from` on) with this field, optionally with this value. */
  waitFor(field: string, value?: RegExp | string, timeoutMs?: number, from?: number): Promise<Notification>;
  /** Wakes a waitUntil() on every message. */
  onMessage: Wake;
  close(): void;
}

/** abstract: bind in the abstract namespace (@name), as some systemd versions' NOTIFY_SOCKET is. */
export async function startReceiver(options: { abstract?: boolean } = {}): Promise<Receiver> {
  const address = options.abstract
    ? `@chaussette-test-${process.pid}-${Math.random().toString(36).slice(2)}`
    : join(mkdtempSync(join(tmpdir(), 'notify-')), 'notify.sock');
  const child = spawn('python3', [join(FIXTURES, 'notify-receiver.py'), address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: Notification[] = [];
  const arrivals = new EventEmitter();
  let listening = false;
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline; (newline = buffered.indexOf('\n')) >= 0; ) {
      const line = JSON.parse(buffered.slice(0, newline)) as { listening?: string; at: number; pid: number | null; message: string };
      buffered = buffered.slice(newline + 1);
      if (line.listening) {
        listening = true;
      } else {
        const fields = Object.fromEntries(
          line.message.split('\n').map((assignment) => [assignment.slice(0, assignment.indexOf('=')), assignment.slice(assignment.indexOf('=') + 1)]),
        );
        messages.push({ ...line, fields });
      }
      arrivals.emit('line');
    }
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
    arrivals.emit('line');
  });
  // A python3 start: past 5 s on a loaded machine (seen). It says when it listens, so the bound only catches a hang.
  await waitUntil(
    () => {
      if (exited && !listening) throw new Error('notify-receiver.py exited before it listened');
      return listening;
    },
    30_000,
    'notify-receiver.py to listen',
    { wake: onEvent(arrivals, 'line') },
  );
  const onMessage = onEvent(arrivals, 'line');
  return {
    address,
    messages,
    onMessage,
    async waitFor(field, value, timeoutMs = 5000, from = 0) {
      const matches = (n: Notification) =>
        field in n.fields && (value === undefined || (typeof value === 'string' ? n.fields[field] === value : value.test(n.fields[field]!)));
      return waitUntil(
        () => messages.slice(from).find(matches),
        timeoutMs,
        () => `${field}${value ? `=${value}` : ''}; got ${JSON.stringify(messages.map((m) => m.message))}`,
        { wake: onMessage },
      );
    },
    close: () => child.kill(),
  };
}
