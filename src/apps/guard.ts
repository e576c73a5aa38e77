// One request's failure stays one request's failure: a listener that throws
// or rejects gets its request answered 500 (or its connection reset when the
// response had already started), the error is logged with its stack, and the
// server keeps serving.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** What every app shape becomes (apps/adapt.ts): node:http's request listener, whatever it returns. */
export type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

export const REQUEST_FAILED = 'request failed: the app threw';

/** The answer to a request whose handler failed, the same for every app shape; it leaks nothing of the error. */
export const INTERNAL_ERROR = {
  status: 500,
  headers: { 'content-type': 'text/plain; charset=utf-8', connection: 'close' },
  body: 'Internal Server Error\n',
} as const;

export function guardListener(listener: Listener, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const fail = (error: unknown, req: IncomingMessage, res: ServerResponse): void => {
    log.error({ err: error, method: req.method, url: req.url }, REQUEST_FAILED);
    if (!res.headersSent) {
      res.writeHead(INTERNAL_ERROR.status, INTERNAL_ERROR.headers);
      res.end(INTERNAL_ERROR.body);
    } else if (!res.writableEnded) {
      // The status line is gone; a truncated body must not look complete.
      res.destroy();
    }
  };
  return (req, res) => {
    try {
      const result = listener(req, res) as PromiseLike<unknown> | undefined;
      if (result && typeof result.then === 'function') result.then(undefined, (error: unknown) => fail(error, req, res));
    } catch (error) {
      fail(error, req, res);
    }
  };
}
