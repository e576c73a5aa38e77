// A restart no client notices, seen by real clients under a real systemd:
// Debian's Chromium, driven by playwright-core, keeps the example pages open
// across `systemctl restart` (WebSocket and EventSource), and a Node `ws`
// client holds a WebSocket through one. The service is the shipped
// chaussette@.service; the socket unit gets a TCP port by drop-in, as
// chaussette@.socket's own comment says to.
//
// The guest has a private network: its 127.0.0.1 is not the host's. So the
// browser runs on the host but inside the guest's network namespace only
// (nsenter --net), and playwright drives it over the pipe it launched it
// with, which nsenter's exec keeps. The Node client stays in this process
// and reaches the instance's unix socket through the guest's root,
// /proc/<guest PID 1>/root/run/chaussette/NAME.sock: connect(2) on that path
// lands on the very socket systemd holds.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import t from 'tap';
import { WebSocket } from 'ws';
import { onEvent, ROOT, waitUntil } from '../helpers.js';
import { bootMachine, type Machine } from './machine.js';

const LIB = '/usr/lib/chaussette';
// Debian's package (test/ensure-system-deps.sh installs it); playwright-core never downloads a browser.
const CHROMIUM = '/usr/bin/chromium';

// Measured: 12-15 s in all, 22 s with stress-ng busy on one of the two cores.
// A WebSocket restart is answered by the new process about 1 s after
// `systemctl restart` begins, the EventSource one about 4.2 s (Chromium's
// default retry is 3 s). The limit leaves room for a loaded machine.
t.setTimeout(90_000);

let machine: Machine;
let browser: Browser | undefined;
let scratch: string | undefined;

const sh = (command: string, timeoutMs?: number) => machine.sh(command, timeoutMs);

/** The service's main PID now; systemctl restart returns once the new one has said READY=1. */
const mainPid = async (instance: string) => (await sh(`systemctl show -p MainPID --value chaussette@${instance}.service`)).trim();

/** Polls `probe` every 50 ms (a page's text, a client's log) until it gives a value. */
const waitFor = <T>(what: string | (() => string), probe: () => T | Promise<T>, options: { wake?: ReturnType<typeof onEvent> } = {}) =>
  waitUntil(probe, 20_000, what, { everyMs: 50, ...options });

/** The lines the example page has logged so far. */
const pageLines = async (page: Page) => ((await page.locator('#log').textContent()) ?? '').split('\n').filter(Boolean);

/** Until `test` finds what it wants in the page's lines; a timeout shows the page as it was last read. */
function waitForPage<T>(page: Page, what: string, test: (lines: string[]) => T) {
  let seen: string[] = [];
  return waitFor(
    () => `${what}; the page shows ${JSON.stringify(seen)}`,
    async () => test((seen = await pageLines(page))),
  );
}

t.before(async () => {
  // A missing browser fails the run: ensure-system-deps installs it, so its absence is a broken setup, never a skip.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run test/ensure-system-deps.sh (Debian package chromium)`);
  machine = await bootMachine({ binds: [{ host: ROOT, guest: LIB, readOnly: true }] });
  await sh(`ln -s ${LIB}/dist/bin.cjs /usr/bin/chaussette`);
  for (const unit of ['chaussette@.socket', 'chaussette@.service']) {
    await machine.writeFile(`/etc/systemd/system/${unit}`, readFileSync(join(ROOT, 'systemd', unit), 'utf8'));
  }
  // Each instance keeps its unix socket and gains a TCP port for the browser.
  for (const [instance, app, port] of [['ws', 'websocket.mjs', 8080], ['sse', 'sse.mjs', 8081]] as const) {
    await machine.writeFile(`/etc/chaussette/${instance}.env`, `CHAUSSETTE_APP=${LIB}/examples/${app}\n`);
    await machine.writeFile(`/etc/systemd/system/chaussette@${instance}.socket.d/tcp.conf`, `[Socket]\nListenStream=127.0.0.1:${port}\n`);
  }
  await sh('systemctl daemon-reload && systemctl start chaussette@ws.socket chaussette@sse.socket');

  scratch = mkdtempSync(join(tmpdir(), 'chaussette-browser-'));
  const wrapper = join(scratch, 'chromium-in-guest');
  writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --target ${machine.leaderPid} --net -- ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  // As root Chromium refuses to start with its sandbox; playwright then adds
  // --no-sandbox. Its --headless is the new headless mode in Chromium >= 132.
  browser = await chromium.launch({ executablePath: wrapper, chromiumSandbox: false, headless: true, timeout: 30_000 });
});

t.teardown(async () => {
  // The browser first: it lives in the guest's network namespace.
  await browser?.close().catch(() => {});
  await machine?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

t.test('Chromium keeps the WebSocket page across systemctl restart: 1001, then the new process answers', async (t) => {
  const page = await browser!.newPage();
  t.teardown(() => page.close());
  // The first request starts the service (socket activation).
  await page.goto('http://127.0.0.1:8080/');
  const greeted = await waitForPage(page, 'the page to connect and get its hello echoed', (lines) => {
    const pid = /^connected to (\d+)$/.exec(lines[0] ?? '')?.[1];
    return pid && lines.includes(`echo hello from ${pid}`) ? pid : undefined;
  });
  const before = await mainPid('ws');
  t.equal(greeted, before, `connected to ${before}, the service's main PID`);

  const restarting = Date.now();
  await sh('systemctl restart chaussette@ws.service');
  const after = await mainPid('ws');
  t.not(after, before, `a new main PID after the restart (${before} -> ${after})`);

  const [closed, ...reconnected] = await waitForPage(page, `the page to reconnect to ${after}`, (lines) => {
    const close = lines.findIndex((line) => line.startsWith('closed '));
    return close >= 0 && lines.includes(`echo hello from ${after}`) ? lines.slice(close) : undefined;
  });
  t.comment(`the page was talking to the new process ${Date.now() - restarting} ms after systemctl restart began`);
  t.equal(closed, 'closed 1001; reconnecting', 'the old process said Going Away (1001)');
  t.equal(reconnected[0], `connected to ${after}`, 'the very next connection reached the new main PID, not the old process');

  // Something the user types now goes to the new process, on the socket the page holds now.
  await page.locator('input[name=text]').fill('typed after the restart');
  await page.locator('button').click();
  await waitForPage(page, `the typed message echoed by ${after}`, (lines) => lines.includes(`echo typed after the restart from ${after}`));
  const lines = await pageLines(page);
  t.same(
    lines.slice(lines.indexOf(closed!)),
    [closed, `connected to ${after}`, `echo hello from ${after}`, `echo typed after the restart from ${after}`],
    'after the close, only the new process spoke; nothing was lost or doubled',
  );
});

t.test('Chromium keeps the EventSource page across systemctl restart: a last event, then events from the new process', async (t) => {
  const page = await browser!.newPage();
  t.teardown(() => page.close());
  await page.goto('http://127.0.0.1:8081/');
  const streaming = await waitForPage(page, 'the first event', (lines) => /^\S+ from (\d+)$/.exec(lines[0] ?? '')?.[1]);
  const before = await mainPid('sse');
  t.equal(streaming, before, `events from ${before}, the service's main PID`);

  const restarting = Date.now();
  await sh('systemctl restart chaussette@sse.service');
  const after = await mainPid('sse');
  t.not(after, before, `a new main PID after the restart (${before} -> ${after})`);

  // EventSource reconnects by itself when the stream ends (Chromium waits its default retry, 3 s).
  const lines = await waitForPage(page, `an event from ${after}`, (lines) => (lines.some((line) => line.endsWith(` from ${after}`)) ? lines : undefined));
  t.comment(`the page had an event from the new process ${Date.now() - restarting} ms after systemctl restart began`);
  t.ok(lines.includes(`${before} is stopping (SIGTERM); reconnecting elsewhere`), 'the old process sent its last event at the stop');
  const senders = [...new Set(lines.map((line) => / from (\d+)$/.exec(line)?.[1]).filter(Boolean))];
  t.same(senders, [before, after], 'events came from the old process, then from the new main PID only');
});

t.test('a Node ws client: close code 1001 at systemctl restart, and its reconnection reaches the new main PID', async (t) => {
  const url = `ws+unix:///proc/${machine.leaderPid}/root/run/chaussette/ws.sock:/`;
  const changes = new EventEmitter();
  const log: string[] = [];
  const note = (line: string) => {
    log.push(line);
    changes.emit('change');
  };
  const wake = onEvent(changes, 'change');
  const sockets: WebSocket[] = [];
  const connect = () => {
    const socket = new WebSocket(url);
    sockets.push(socket);
    socket.on('message', (data) => note(String(data)));
    socket.on('error', (error) => note(`error ${error.message}`));
    socket.on('close', (code, reason) => {
      note(`closed ${code} ${String(reason)}`);
      // Reconnect at once, as a client would, while the restart is still under way:
      // the connection waits in the socket systemd holds until the new process accepts it.
      if (sockets.length === 1) connect();
    });
    return socket;
  };
  t.teardown(() => sockets.forEach((socket) => socket.terminate()));

  const first = connect();
  const before = await mainPid('ws');
  await waitFor(() => `connected to ${before}; got ${JSON.stringify(log)}`, () => log.includes(`connected to ${before}`), { wake });
  first.send('ping before');
  await waitFor(() => `the echo from ${before}; got ${JSON.stringify(log)}`, () => log.includes(`echo ping before from ${before}`), { wake });

  await sh('systemctl restart chaussette@ws.service');
  const after = await mainPid('ws');
  t.not(after, before, `a new main PID after the restart (${before} -> ${after})`);
  await waitFor(() => `connected to ${after}; got ${JSON.stringify(log)}`, () => log.includes(`connected to ${after}`), { wake });
  sockets[1]!.send('ping after');
  await waitFor(() => `the echo from ${after}; got ${JSON.stringify(log)}`, () => log.includes(`echo ping after from ${after}`), { wake });
  t.same(
    log,
    [`connected to ${before}`, `echo ping before from ${before}`, 'closed 1001 restarting', `connected to ${after}`, `echo ping after from ${after}`],
    'Going Away (1001) from the old process, then the new main PID answers on the reconnection',
  );
});
