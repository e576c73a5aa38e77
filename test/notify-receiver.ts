// systemd's end of NOTIFY_SOCKET, played by test/fixtures/notify-receiver.py
// (Node cannot receive unix datagrams): every message chaussette sends, with
// the sender's pid and when it arrived.

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, sleep } from './helpers.js';

export interface Notification {
  /** Monotonic milliseconds. */
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
  close(): void;
}

/** abstract: bind in the abstract namespace (@name), as some systemd versions' NOTIFY_SOCKET is. */
export async function startReceiver(options: { abstract?: boolean } = {}): Promise<Receiver> {
  const address = options.abstract
    ? `@chaussette-test-${process.pid}-${Math.random().toString(36).slice(2)}`
    : join(mkdtempSync(join(tmpdir(), 'notify-')), 'notify.sock');
  const child = spawn('python3', [join(FIXTURES, 'notify-receiver.py'), address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: Notification[] = [];
  let listening = false;
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline; (newline = buffered.indexOf('\n')) >= 0; ) {
      const line = JSON.parse(buffered.slice(0, newline)) as { listening?: string; at: number; pid: number | null; message: string };
      buffered = buffered.slice(newline + 1);
      if (line.listening) {
        listening = true;
        continue;
      }
      const fields = Object.fromEntries(
        line.message.split('\n').map((assignment) => [assignment.slice(0, assignment.indexOf('=')), assignment.slice(assignment.indexOf('=') + 1)]),
      );
      messages.push({ ...line, fields });
    }
  });
  for (const deadline = Date.now() + 5000; !listening; await sleep(10)) {
    if (Date.now() > deadline) throw new Error('notify-receiver.py did not start');
  }
  return {
    address,
    messages,
    async waitFor(field, value, timeoutMs = 5000, from = 0) {
      const matches = (n: Notification) =>
        field in n.fields && (value === undefined || (typeof value === 'string' ? n.fields[field] === value : value.test(n.fields[field]!)));
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(10)) {
        const found = messages.slice(from).find(matches);
        if (found) return found;
      }
      throw new Error(`no ${field}${value ? `=${value}` : ''} within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.message))}`);
    },
    close: () => child.kill(),
  };
}
