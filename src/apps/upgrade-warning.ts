// An upgrade request (a WebSocket handshake) that reaches an app with no
// upgrade handling is served by node:http as a plain request: the app
// answers it 404 or 200 and the client sees a failed handshake, with
// nothing in chaussette's log to say why. The usual cause is a WebSocket
// library attached to a server chaussette never sees (`expressWs(app)`
// without a server, `serve()` from @hono/node-server, `app.listen()`), so
// the first one a process sees is logged, once, with where to read how.

import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Listener } from './guard.js';

/** README's section on upgrades (test/docs.test.ts holds README to this title). */
export const UPGRADES_SECTION = 'WebSockets and other upgrades';

/**
 * The Upgrade header's value, read from rawHeaders: req.headers is built on
 * first use, and this runs on every request until the first upgrade (6 ns
 * for six headers, measured on this 2-core machine). h2c
 * does not count: curl --http2 asks for it on every cleartext request, and
 * answering over HTTP/1.1 is what RFC 9110 lets a server do.
 */
export function upgradeAsked(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 7 && name.toLowerCase() === 'upgrade') {
      const protocol = raw[i + 1]!;
      return /^\s*h2c\s*$/i.test(protocol) ? undefined : protocol;
    }
  }
  return undefined;
}

/** The listener, which logs the first upgrade request it serves (as a plain request) and then only serves. */
export function warnOnUnservedUpgrade(listener: Listener, log: Pick<Logger, 'warn'>): Listener {
  let warned = false;
  return (req, res) => {
    if (!warned) {
      const protocol = upgradeAsked(req);
      if (protocol !== undefined) {
        warned = true;
        // The path alone: a WebSocket's query often carries a token.
        const path = (req.url ?? '/').split('?')[0];
        log.warn(
          `An upgrade request (Upgrade: ${protocol}) for ${path} reached an app that handles no upgrades, and was served as a plain request: ` +
            `attach the WebSocket server (ws, express-ws, @hono/node-ws, socket.io) to the http.Server the module exports ` +
            `(see "${UPGRADES_SECTION}" in chaussette's README). Said once per process.`,
        );
      }
    }
    return listener(req, res);
  };
}
