// HTTP/2 on node:http2, through its compatibility API, so that every app
// shape written for (req, res) runs unchanged. With certificates it is TLS
// with ALPN offering h2 and http/1.1: browsers and curl get HTTP/2, and a
// client that only speaks HTTP/1.1 still gets the same app. Without
// certificates it is cleartext h2c with prior knowledge, the form a proxy
// in front speaks (nginx grpc_pass, Envoy, HAProxy's proto h2); Node has no
// HTTP/1.1 Upgrade to h2c, so HTTP/1.1 clients must go to another backend.
//
// node:http keeps the list the drain reads for HTTP/1.1 connections (the
// fallback side has it); HTTP/2 sessions are tracked here, since a session
// carries many requests at once and must be closed with GOAWAY, not cut.

import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { addConnectionBook, type ConnectionBook } from '../drain.js';
import { http2StreamCount } from '../node-internals.js';
import { httpServerOptions } from './http.js';
import type { Backend, ServerSettings } from './backend.js';
import { tlsServerOptions } from './tls.js';

export const http2Backend: Backend = {
  name: 'http2',
  tls: 'optional',
  cleartext: 'h2c',
  createServer(listener, settings) {
    // --max-header-size, told to the client as SETTINGS_MAX_HEADER_LIST_SIZE and enforced on its headers.
    const h2 = { settings: { maxHeaderListSize: settings.maxHeaderSize } };
    // The compatibility API's request and response stand in for node:http's; apps/adapt.ts bridges where an app assumes more.
    // HTTP/2 has :authority where HTTP/1.1 has Host; apps and frameworks read Host (Express's req.hostname, Koa's ctx.host).
    const handle = (req: Http2ServerRequest, res: Http2ServerResponse) => {
      if (req.headers.host === undefined && req.authority) req.headers.host = req.authority;
      listener(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    };
    const server: Http2Server | Http2SecureServer = settings.tls
      ? createSecureServer({ ...httpServerOptions(settings), ...h2, ...tlsServerOptions(settings.tls), allowHTTP1: true }, handle)
      : createServer(h2, handle);
    if (settings.tls) {
      // The HTTP/1.1 side reads these from the server itself; Node 20 takes only some of them from the options.
      Object.assign(server, {
        keepAliveTimeout: settings.keepAliveTimeoutMs,
        headersTimeout: Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs || Infinity),
        requestTimeout: settings.requestTimeoutMs,
      });
    }
    trackSessions(server, settings);
    return server as unknown as Server;
  },
};

/** How often idle sessions are looked for: the keep-alive timeout is honoured to within this. */
const IDLE_SWEEP_MS = 1000;

/**
 * Keeps the open sessions, for the drain and for `systemctl status`, and
 * closes a session idle for the keep-alive timeout, as node:http does an
 * idle HTTP/1.1 connection. Nothing is done per stream or per write (a
 * session timer, refreshed by Node on every write, and a listener per
 * stream cost 7 to 17% of HTTP/2 throughput in bench/): streams in flight
 * are read from the list Node keeps for each session, and idleness from a
 * sweep once a second that sees no stream and no new stream id.
 */
function trackSessions(server: Http2Server | Http2SecureServer, settings: ServerSettings): void {
  const sessions = new Map<Http2Session, { lastStreamId: number; idleSince: number }>();
  let draining = false;
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = () => {
    const now = Date.now();
    for (const [session, entry] of sessions) {
      const lastStreamId = session.state.lastProcStreamID ?? 0;
      if (http2StreamCount(session) > 0 || lastStreamId !== entry.lastStreamId) {
        entry.lastStreamId = lastStreamId;
        entry.idleSince = now;
      } else if (now - entry.idleSince >= settings.keepAliveTimeoutMs) {
        session.close();
      }
    }
    if (sessions.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  server.on('session', (session) => {
    sessions.set(session, { lastStreamId: 0, idleSince: Date.now() });
    session.once('close', () => sessions.delete(session));
    if (draining) session.close();
    else if (settings.keepAliveTimeoutMs > 0 && !sweeper) sweeper = setInterval(sweep, IDLE_SWEEP_MS).unref();
  });
  const book: ConnectionBook = {
    connections: () => sessions.size,
    inFlight: () => [...sessions.keys()].reduce((sum, session) => sum + http2StreamCount(session), 0),
    // GOAWAY: the client opens no new stream here, those in flight finish, then the session ends.
    beginDrain: () => {
      draining = true;
      for (const session of sessions.keys()) session.close();
    },
    closeIdle: () => {
      for (const session of sessions.keys()) if (http2StreamCount(session) === 0) session.close();
    },
    closeAll: () => {
      for (const session of sessions.keys()) session.destroy();
    },
  };
  addConnectionBook(server as unknown as Server, book);
}
