// A worker: one of the processes a primary (--workers) runs. It loads the
// app and serves the connections the primary accepts and sends it; it never
// listens and never talks to systemd. It stops when the primary says so (or
// goes away), draining like a single process does. Signals from a terminal
// (Ctrl-C reaches the whole process group) are left to the primary, which
// stops its workers in order.

import type { Server } from 'node:net';
import { ChaussetteError, describeError, ExitCode } from '../errors.js';
import type { Logger } from '../log.js';
import { reopenLog } from '../logs/reopen.js';
import type { Options } from '../options.js';
import { prepareApp } from '../serving.js';
import { drain, openConnections, requestsInFlight } from '../shutdown.js';
import { asSocket } from './handover.js';
import { type FromWorker, isToWorker } from './protocol.js';

export async function runWorker(options: Options, log: Logger, slot: number): Promise<never> {
  const send = (message: FromWorker, then?: () => void) => process.send?.(message, undefined, {}, () => then?.());
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => log.debug(`Worker ${slot}: ${signal} ignored; the primary stops its workers`));
  }

  let serving;
  try {
    serving = await prepareApp(options, log, process.cwd());
  } catch (error) {
    const known = error instanceof ChaussetteError;
    const failure = known
      ? { code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode }
      : { code: 'ERR_INTERNAL', message: describeError(error), hint: undefined, exitCode: ExitCode.software };
    if (!known) log.fatal({ err: error }, 'unexpected failure');
    // Exit once the primary has the reason, or after a moment if it is gone.
    setTimeout(() => process.exit(failure.exitCode), 1000).unref();
    send({ kind: 'failed', failure }, () => process.exit(failure.exitCode));
    return new Promise<never>(() => {});
  }

  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'the app threw outside any request; exiting');
    process.exit(ExitCode.software);
  });

  // One server per socket of the primary, made when its first connection comes.
  const servers: Server[] = [];
  let requests = 0;
  const serverFor = (listener: number) => {
    let server = servers[listener];
    if (!server) {
      server = serving.createServer();
      server.on('request', () => void requests++);
      // node:http starts its connection bookkeeping on 'listening' (see sockets/open.ts).
      server.emit('listening');
      servers[listener] = server;
    }
    return server;
  };
  const present = () => servers.filter((server): server is Server => server !== undefined);

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    const live = present();
    log.info(`Worker ${slot}: ${why}; draining ${openConnections(live)} connection(s) for up to ${options.gracefulTimeout} s`);
    const result = await drain(live, options.gracefulTimeout * 1000);
    if (result.forced > 0) log.warn(`Worker ${slot}: graceful timeout reached: closed ${result.forced} connection(s) by force`);
    await serving.app.close?.().catch((error: unknown) => log.error({ err: error }, 'the app failed to close'));
    log.info(`Worker ${slot}: stopped after ${result.elapsedMs} ms of drain`);
    process.exit(ExitCode.ok);
  };

  // Registered only now: Node holds IPC messages until a 'message' listener exists, so a stop sent
  // while the app was loading (a reload or a stop overtaking a slow start) is read here, not lost.
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isToWorker(message)) return;
    switch (message.kind) {
      case 'connection':
        if (handle) {
          const server = serverFor(message.listener);
          server.emit('connection', asSocket(handle, server));
        }
        break;
      case 'ping': {
        const live = present();
        send({ kind: 'pong', requests, connections: openConnections(live), inFlight: requestsInFlight(live) });
        break;
      }
      case 'stop':
        void stop('asked to stop');
        break;
      case 'reopen':
        reopenLog(log);
        break;
    }
  });
  // The primary is gone (killed, crashed): nobody will send more; finish what is here.
  process.on('disconnect', () => void stop('the primary went away'));

  send({ kind: 'ready' });
  return new Promise<never>(() => {});
}
