// --access-log: one line per request, to the log output (or the access
// log's own, --access-log-output), in the format chosen. The request listener is wrapped once, where it is built, so a
// single process, every worker and every backend get it alike; it reads the
// public request/response API only (node:http's and the http2
// compatibility layer's are the same there), and records each request when
// its response ends ('finish') or its connection closes first ('close',
// logged as aborted). Lines are batched (batch.ts): a write per request
// would cost more than the rest of the access log.

import type { IncomingMessage, RequestListener } from 'node:http';
import type { Logger } from '../log.js';
import type { AccessLogFormat } from '../options.js';
import { type AccessRecord, combinedLine, commonLine, jsonLine, recordContext } from './access-format.js';
import { LineBatch } from './batch.js';
import { journalLine } from './journal.js';
import { countBodyBytes } from '../node-internals.js';
import { currentAccessOutput } from './output.js';

/** Status logged when the connection closed before any status was sent (nginx's convention). */
export const CLOSED_BEFORE_STATUS = 499;

export function withAccessLog(listener: RequestListener, format: AccessLogFormat, log: Logger): RequestListener {
  const output = currentAccessOutput();
  if (format === 'off' || output === undefined) return listener;
  const batch = new LineBatch((text) => output.write(text));
  const record = recorder(format, output.kind === 'journal', batch, log);
  // Only json and combined print these: reading req.headers makes node:http build the object.
  const wantsHeaders = format !== 'common';
  const wantsDuration = format === 'json';
  return (req, res) => {
    const startedAt = Date.now();
    const started = wantsDuration ? performance.now() : 0;
    // Read now: once the connection is gone, the socket no longer knows its peer.
    const remoteAddress = req.socket?.remoteAddress;
    const body = countBodyBytes(res);
    // 'close' comes after 'finish' for a completed response, and alone for one cut short.
    res.once('close', () =>
      record({
        remoteAddress,
        startedAt,
        method: req.method ?? '-',
        url: req.url ?? '-',
        httpVersion: req.httpVersion,
        status: res.headersSent ? res.statusCode : CLOSED_BEFORE_STATUS,
        bytes: req.method === 'HEAD' ? 0 : body.bytes,
        durationMs: wantsDuration ? performance.now() - started : 0,
        referer: wantsHeaders ? header(req, 'referer') : undefined,
        userAgent: wantsHeaders ? header(req, 'user-agent') : undefined,
        aborted: !res.writableFinished,
      }),
    );
    listener(req, res);
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Turns a finished request into a line in the batch. */
function recorder(format: Exclude<AccessLogFormat, 'off'>, journal: boolean, batch: LineBatch, log: Logger): (record: AccessRecord) => void {
  if (format === 'json') {
    // Shaped like every other record of ours, with this process's bindings (worker=N); access
    // lines are wanted whatever --log-level says, so the level is fixed at info.
    const { name: _name, pid: _pid, ...bindings } = log.bindings();
    const context = recordContext(bindings);
    return (record) => {
      const json = jsonLine(record, Date.now(), context);
      batch.push(journal ? journalLine(json) : json);
    };
  }
  const line = format === 'combined' ? combinedLine : commonLine;
  const prefix = journal ? '<6>' : '';
  return (record) => batch.push(`${prefix}${line(record)}\n`);
}
