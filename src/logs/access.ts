// --access-log: one line per request, to the log output (or the access
// log's own, --access-log-output), in the format chosen. The request
// listener is wrapped once, where it is built, so a single process, every
// worker and every backend get it alike; it reads the public
// request/response API only (node:http's and the http2 compatibility
// layer's are the same there), and records each request when its response
// ends ('finish') or its connection closes first ('close', logged as
// aborted; as cut when the stop's deadline closed it). Each server is
// watched too, for the requests Node's parser rejects before any listener
// sees them (rejected.ts). Lines are batched (batch.ts): a write per
// request would cost more than the rest of the access log.

import type { IncomingMessage, RequestListener } from 'node:http';
import type { Server, Socket } from 'node:net';
import { closedByForce } from '../drain.js';
import type { Logger } from '../log.js';
import type { AccessLogFormat } from '../options.js';
import { type AccessRecord, combinedLine, commonLine, jsonLine, marked, recordContext } from './access-format.js';
import { LineBatch } from './batch.js';
import { journalLine } from './journal.js';
import { countBodyBytes, responseInProgress } from '../node-internals.js';
import { currentAccessOutput } from './output.js';
import { answerAsNode, isRejectedRequest, requestLineOf } from './rejected.js';

/** Status logged when the client closed the connection before any status was sent (nginx's convention). */
export const CLOSED_BEFORE_STATUS = 499;

export interface AccessLog {
  /** The request listener, logging each request it serves. */
  wrap(listener: RequestListener): RequestListener;
  /** Logs what Node's parser rejects on this server, and learns when the deadline cuts its connections. */
  watch(server: Server): void;
}

type ClientError = NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number };

/** undefined when there is nothing to log (off, or no output: a library caller's own logger). */
export function createAccessLog(format: AccessLogFormat, log: Logger): AccessLog | undefined {
  const output = currentAccessOutput();
  if (format === 'off' || output === undefined) return undefined;
  const batch = new LineBatch((text) => output.write(text));
  const record = recorder(format, output.kind === 'journal', batch, log);
  const servers: Server[] = [];
  const cutByDeadline = () => servers.some(closedByForce);
  // Only json and combined print these: reading req.headers makes node:http build the object.
  const wantsHeaders = format !== 'common';
  const wantsDuration = format === 'json';
  return {
    wrap: (listener) => (req, res) => {
      const startedAt = Date.now();
      const started = wantsDuration ? performance.now() : 0;
      // Read now: once the connection is gone, the socket no longer knows its peer.
      const remoteAddress = req.socket?.remoteAddress;
      const body = countBodyBytes(res);
      // 'close' comes after 'finish' for a completed response, and alone for one cut short.
      res.once('close', () => {
        const aborted = !res.writableFinished;
        const cut = aborted && cutByDeadline();
        record({
          remoteAddress,
          startedAt,
          method: req.method ?? '-',
          url: req.url ?? '-',
          httpVersion: req.httpVersion,
          status: res.headersSent ? res.statusCode : cut ? undefined : CLOSED_BEFORE_STATUS,
          bytes: req.method === 'HEAD' ? 0 : body.bytes,
          durationMs: wantsDuration ? performance.now() - started : 0,
          referer: wantsHeaders ? header(req, 'referer') : undefined,
          userAgent: wantsHeaders ? header(req, 'user-agent') : undefined,
          aborted,
          cut,
        });
      });
      listener(req, res);
    },
    watch: (server) => {
      servers.push(server);
      server.on('clientError', (error: ClientError, socket: Socket) => {
        // A request the app has is logged when its response closes; this one never reached it.
        const reachedTheApp = Boolean(responseInProgress(socket));
        const remoteAddress = socket.remoteAddress;
        const status = answerAsNode(error, socket);
        if (status === undefined || reachedTheApp || !isRejectedRequest(error.code)) return;
        const line = requestLineOf(error.rawPacket, error.bytesParsed);
        record({
          remoteAddress,
          startedAt: Date.now(),
          method: line?.method,
          url: line?.url,
          httpVersion: line?.httpVersion,
          status,
          bytes: 0,
          durationMs: 0,
          referer: undefined,
          userAgent: undefined,
          aborted: false,
          cut: false,
          rejected: error.code,
        });
      });
    },
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
  const line = marked(format === 'combined' ? combinedLine : commonLine);
  const prefix = journal ? '<6>' : '';
  return (record) => batch.push(`${prefix}${line(record)}\n`);
}
