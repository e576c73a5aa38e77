// The app served when none is named: enough to check that sockets, manager
// and proxy are wired up before the real app goes in.

import type { IncomingMessage, ServerResponse } from 'node:http';

const BODY = 'Hello from chaussette\n';
const LENGTH = String(Buffer.byteLength(BODY));

export function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': LENGTH });
  res.end(BODY);
}
