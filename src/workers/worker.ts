// A worker: one of the processes a primary (--workers) runs. It loads the
// app, then accepts on the sockets the primary sends it (accepting.ts), or,
// with --sticky, serves the connections the primary accepts and sends it. It
// never talks to systemd. It stops when the primary says so, or
// by itself when the primary goes away (at any stage: while the app loads it
// exits at once), draining like a single process does. It acts on no
// signal (signals.ts): one sent to the process group is for its primary.

import type { Server } from 'node:net';
import { drainAndClose } from '../in-process.js';
import { asChaussetteError, errors, ExitCode, summary } from '../errors.js';
import type { Logger } from '../log.js';
import { logTrouble } from '../logs/output.js';
import { reopenLog } from '../logs/reopen.js';
import { adoptHandle, descriptorOf, type SocketHandle, startConnectionTracking } from '../node-internals.js';
import { systemMaxBacklog } from '../sockets/open.js';
import type { Options } from '../options.js';
import { type PreparedApp, prepareApp } from '../prepare.js';
import { watchDescriptors } from '../sockets/fd-shortage.js';
import { crashGraceS } from '../lifecycle.js';
import type { SignalTable } from '../signals.js';
import { announceStopping } from '../stopping.js';
import { openConnections, requestsInFlight } from '../drain.js';
import { Accepting } from './accepting.js';
import { type FromWorker, isToWorker } from './protocol.js';

export async function runWorker(options: Options, log: Logger, slot: number, signals: SignalTable): Promise<never> {
  const send = (message: FromWorker, then?: () => void) => process.send?.(message, undefined, {}, () => then?.());

  const fail = (error: unknown) => {
    const failure = asChaussetteError(error);
    if (failure.code === 'ERR_INTERNAL') log.fatal({ err: error }, 'unexpected failure');
    // Exit once the primary has the reason, or after a moment if it is gone.
    setTimeout(() => process.exit(failure.exitCode), 1000).unref();
    send({ kind: 'failed', failure: failure.toWire() }, () => process.exit(failure.exitCode));
    return new Promise<never>(() => {});
  };
  // While the app loads, the channel to the primary alone must not keep this process alive: when
  // nothing else is left that could settle the load (a factory whose promise never settles), the
  // event loop empties and signals.ts calls startStalled, as it does for a single process.
  process.channel?.unref();
  signals.bind({ startStalled: () => void fail(errors.startNeverSettled()) });
  let prepared: PreparedApp;
  try {
    prepared = await prepareApp(options, log, process.cwd());
  } catch (error) {
    return fail(error);
  }
  process.channel?.ref();

  // One server per socket of the primary, made when its first connection comes.
  const servers: Server[] = [];
  let requests = 0;
  let accepting: Accepting | undefined;
  const serverFor = (listener: number) => {
    let server = servers[listener];
    if (!server) {
      server = prepared.createServer();
      server.on('request', (_req: unknown, res: unknown) => {
        requests++;
        accepting?.request(res);
      });
      startConnectionTracking(server);
      servers[listener] = server;
    }
    return server;
  };
  const present = () => servers.filter((server): server is Server => server !== undefined);

  // Its own descriptors: it logs a shortage, and its pongs tell the primary (STATUS=).
  const descriptors = watchDescriptors({ log, who: `Worker ${slot}: ` });
  const makeAccepting = () =>
    new Accepting({
      serverFor,
      servers: present,
      backlog: options.backlog ?? systemMaxBacklog(),
      send,
      accepted: (socket) => descriptors.accepted(descriptorOf(socket)),
      failed: (error) => {
        if (!descriptors.failed(error)) log.error(`Worker ${slot}: a connection could not be accepted: ${summary(error)}`);
      },
    });

  let stopping = false;
  const stop = async (why: string, graceS = options.gracefulTimeout, exitCode: number = ExitCode.ok) => {
    if (stopping) return;
    stopping = true;
    // First: what arrives from now on goes to the other workers, never into this drain.
    accepting?.stop();
    descriptors.stop();
    announceStopping(why);
    const live = present();
    log.info(`Worker ${slot}: ${why}; draining ${openConnections(live)} connection(s) for up to ${graceS} s`);
    const result = await drainAndClose(live, prepared.app, { graceMs: graceS * 1000, lingerMs: options.drainLinger * 1000 }, log, `Worker ${slot}: `);
    log.info(`Worker ${slot}: stopped after ${result.elapsedMs} ms of drain`);
    // The last count, so the primary's "N requests served" includes what came after the last ping.
    if (!process.connected) process.exit(exitCode);
    send({ kind: 'pong', requests, connections: 0, inFlight: 0 }, () => process.exit(exitCode));
  };
  let crashed = false;
  signals.bind({
    // The primary is gone (killed, crashed): nobody will send more; finish what is here.
    primaryGone: () => void stop('the primary went away'),
    // The app's own bug: the primary replaces this worker now and sends it nothing more; the
    // requests it has get crashGraceS(); exit 70. A second one exits at once.
    fatal: (error) => {
      if (crashed) {
        log.fatal({ err: error }, `Worker ${slot}: the app threw outside any request again; exiting now`);
        process.exit(ExitCode.software);
      }
      crashed = true;
      log.fatal({ err: error }, `Worker ${slot}: the app threw outside any request; leaving`);
      send({ kind: 'leaving' });
      void stop('the app threw outside any request', crashGraceS(options.gracefulTimeout), ExitCode.software);
    },
  });

  // Registered only now: Node holds IPC messages until a 'message' listener exists, so a stop sent
  // while the app was loading (a reload or a stop overtaking a slow start) is read here, not lost.
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isToWorker(message)) return;
    switch (message.kind) {
      case 'connection':
        if (handle) {
          const server = serverFor(message.listener);
          const socket = adoptHandle(handle, server);
          descriptors.accepted(descriptorOf(socket));
          server.emit('connection', socket);
        }
        break;
      case 'listen':
        // None arrived with it: out of descriptors, the kernel dropped it. Asked for again later.
        if (!handle) {
          accepting?.lost();
          break;
        }
        if (stopping) {
          (handle as SocketHandle).close();
          break;
        }
        accepting ??= makeAccepting();
        try {
          accepting.listen(message.listener, message.of, handle as SocketHandle);
        } catch (error) {
          void fail(error);
        }
        break;
      case 'share':
        accepting?.share(message.most);
        break;
      case 'ping': {
        const live = present();
        const fdShortage = descriptors.code();
        send({ kind: 'pong', requests, connections: openConnections(live), inFlight: requestsInFlight(live), logTrouble: logTrouble(), ...(fdShortage ? { fdShortage } : {}) });
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

  signals.enter('serving');
  send({ kind: 'ready' });
  return new Promise<never>(() => {});
}
