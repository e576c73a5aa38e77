// --max-body-size: a request whose body is larger is answered 413 (Content
// Too Large), the same for every app shape and backend, since it wraps the
// one request listener they all become. A Content-Length above the limit is
// refused before the app is called (and, with Expect: 100-continue, before
// the client sends the body). A body of unknown length (chunked, or an
// HTTP/2 stream without content-length) is counted as it arrives: past the
// limit, the rest is dropped and the app's request never ends; the 413 goes
// out if the app has not answered yet, and the connection (HTTP/2: the
// stream) is closed after it, since what is left of the body cannot be
// skipped safely. Off (0), the listener is returned as is: nothing per request.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { constants as http2, type Http2ServerRequest } from 'node:http2';
import type { Server } from 'node:net';
import { limitArrivingBody, lingerBeforeClose } from '../node-internals.js';

/** The answer to a body over the limit; nothing of the app's (headers it had set) goes with it. */
export const CONTENT_TOO_LARGE = {
  status: 413,
  /** RFC 9110's name; Node still says RFC 7231's "Payload Too Large". */
  reason: 'Content Too Large',
  headers: { 'content-type': 'text/plain; charset=utf-8' },
  body: 'Content Too Large\n',
} as const;

/**
 * How long a refused upload's connection is still read, and emptied, before
 * it is closed, so that the client reads the 413 rather than a reset; a
 * client that stops sending and closes (curl does, on the 413) ends it sooner.
 */
export const LINGER_MS = 2000;

/** The Content-Length the client declared; undefined when there is none (or none that is a length). */
function declaredLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * HTTP/1.1 connections closing after a 413: a request pipelined behind the
 * refused body is never served (RFC 9112 9.6: after "close", a server
 * SHOULD NOT process further requests on the connection); left unanswered,
 * it ends with the connection.
 */
const closing = new WeakSet<object>();

export function withBodyLimit(listener: RequestListener, maxBytes: number): RequestListener {
  if (maxBytes <= 0) return listener;
  return (req, res) => {
    if (closing.has(req.socket)) return;
    const declared = declaredLength(req);
    if (declared !== undefined && declared > maxBytes) return refuse(req, res);
    // A declared length is what the parser reads (nghttp2 checks it on HTTP/2): only a body without one can grow.
    if (declared === undefined) limitArrivingBody(req, maxBytes, () => overLimit(req, res));
    listener(req, res);
  };
}

/**
 * Expect: 100-continue asks before sending the body. Node answers 100 by
 * itself unless a 'checkContinue' listener decides: this one lets a body
 * within the limit come, and passes one over it straight to the request
 * listener (through the access log), which refuses it: the client never
 * sends it (RFC 9110 10.1.1). Nothing is added when there is no limit.
 */
export function answerExpectContinue(server: Server, maxBytes: number): void {
  if (maxBytes <= 0) return;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if ((declaredLength(req) ?? 0) <= maxBytes) res.writeContinue();
    server.emit('request', req, res);
  });
}

function refuse(req: IncomingMessage, res: ServerResponse): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const isHttp2 = req.httpVersionMajor === 2;
  // HTTP/2 has no Connection header (Node refuses one) nor reason phrase: the stream is what closes.
  if (isHttp2) res.writeHead(CONTENT_TOO_LARGE.status, CONTENT_TOO_LARGE.headers);
  else res.writeHead(CONTENT_TOO_LARGE.status, CONTENT_TOO_LARGE.reason, { ...CONTENT_TOO_LARGE.headers, connection: 'close' });
  if (!isHttp2) {
    closing.add(req.socket);
    lingerBeforeClose(req.socket, LINGER_MS);
  }
  res.end(CONTENT_TOO_LARGE.body);
  if (isHttp2) stopReading(req, res);
}

/** A body without Content-Length went over the limit while the app had it. */
function overLimit(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) return refuse(req, res);
  // Cut: a response cut short must not look complete.
  if (!res.writableEnded) return void res.destroy();
  // The app answered without reading it all (Express on HTTP/2 reads no body without a length): stop receiving it.
  stopReading(req, res);
}

/** Once the answer is out, stops what is left of the body: HTTP/2 resets the stream, HTTP/1.1 closes the connection. */
function stopReading(req: IncomingMessage, res: ServerResponse): void {
  if (req.httpVersionMajor === 2) {
    // RST_STREAM with NO_ERROR asks the client to stop sending, the answer being complete (RFC 9113 8.1); Node
    // sends it once the answer is written. (Not on the response's 'finish': HTTP/2's comes when the stream closes.)
    (req as unknown as Http2ServerRequest).stream.close(http2.NGHTTP2_NO_ERROR);
    return;
  }
  closing.add(req.socket);
  const close = () => {
    lingerBeforeClose(req.socket, LINGER_MS);
    req.socket.destroySoon();
  };
  if (res.writableFinished) close();
  else res.once('finish', close);
}
