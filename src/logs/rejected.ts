// Requests Node's HTTP/1 parser rejects (a malformed head: 400; a head over
// --max-header-size: 431; one not sent within --headers-timeout or
// --request-timeout: 408) never reach the app, and Node answers them itself
// unless the server has a 'clientError' listener. To log them, as nginx and
// gunicorn do, the access log listens, and so must answer exactly as Node
// would (lib/_http_server.js, socketOnError): the same canned response,
// only while nothing of a response went out on the connection, then the
// connection destroyed. (An HTTP/2 session's errors come through the same
// event on an https http2 server: those are only destroyed, as Node does.)

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { responseInProgress } from '../node-internals.js';

/** The status Node answers a client error with (Node 20's table). */
export function clientErrorStatus(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

/** A request the parser gave up on, rather than a client gone (ECONNRESET, EPIPE): worth a line. */
export const isRejectedRequest = (code: string | undefined) => code !== undefined && (code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT');

export interface RequestLine {
  method: string;
  url: string;
  httpVersion: string;
}

/**
 * The request line of the rejected request, when the bytes the parser was
 * reading hold it: the last line shaped like one that starts before where
 * the parser stopped (earlier requests pipelined in the same bytes come
 * first). Undefined when it came in earlier bytes, or was itself the fault.
 */
export function requestLineOf(rawPacket: Buffer | undefined, bytesParsed: number | undefined): RequestLine | undefined {
  if (!rawPacket) return undefined;
  const text = rawPacket.subarray(0, Math.min(rawPacket.length, (bytesParsed ?? rawPacket.length) + 1)).toString('latin1');
  let found: RequestLine | undefined;
  for (const match of text.matchAll(/(?:^|\n)([A-Z]+) (\S+) HTTP\/(\d\.\d)\r?(?:\n|$)/g)) {
    found = { method: match[1]!, url: match[2]!, httpVersion: match[3]! };
  }
  return found;
}

/**
 * Answers as Node does without a listener; the status written, or undefined
 * when nothing was. Any other error is a socket's (ECONNRESET: Node finds it
 * destroyed already, and writes nothing) or an HTTP/2 session's (the http2
 * server emits those as 'clientError' too, and only destroys the socket).
 */
export function answerAsNode(error: NodeJS.ErrnoException, socket: Socket): number | undefined {
  let status: number | undefined;
  const res = responseInProgress(socket);
  if (isRejectedRequest(error.code) && socket.writable && (!res || !res.headersSent)) {
    status = clientErrorStatus(error.code);
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
  }
  socket.destroy(error);
  return status;
}
