// Reading /proc: the pure parsers on kernel text, and inspectFd on real fds.
import t from 'tap';
import { openSync, closeSync } from 'node:fs';
import { decodeInetAddress, findInetEntry, findUnixEntry, inspectFd } from '../src/sockets/inspect.js';
import { checkInheritedFd } from '../src/sockets/open.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F40 0100007F:D7D0 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1`;
const UNIX = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 3333 /run/app.sock
0000000000000000: 00000002 00000000 00000000 0002 01 4444 /run/systemd/notify
0000000000000000: 00000003 00000000 00000000 0001 03 5555`;

t.test('kernel addresses decode as people write them', async (t) => {
  t.equal(decodeInetAddress('0100007F:1F90'), '127.0.0.1:8080');
  t.equal(decodeInetAddress('00000000000000000000000001000000:0050'), '[::1]:80');
  t.equal(decodeInetAddress('0000000000000000FFFF00000100007F:0050'), '127.0.0.1:80');
});

t.test('TCP entries: listening versus connected', async (t) => {
  t.match(findInetEntry('tcp', TCP, 1111), { type: 'stream', listening: true, local: '127.0.0.1:8000' });
  t.match(findInetEntry('tcp', TCP, 2222), { listening: false, state: 'connected to 127.0.0.1:55248' });
  t.equal(findInetEntry('tcp', TCP, 9999), undefined);
  t.match(findInetEntry('udp', TCP.replace(' 0A ', ' 07 '), 1111), { type: 'dgram' });
});

t.test('unix entries: the accept flag, the type, the path', async (t) => {
  t.match(findUnixEntry(UNIX, 3333), { type: 'stream', listening: true, local: 'unix:/run/app.sock' });
  t.match(findUnixEntry(UNIX, 4444), { type: 'dgram', listening: false });
  t.match(findUnixEntry(UNIX, 5555), { type: 'stream', listening: false, state: 'connected' });
});

t.test('inspectFd on real fds: closed, a file, /dev/null', async (t) => {
  t.same(inspectFd(987), { kind: 'closed' });
  const file = openSync(new URL(import.meta.url).pathname, 'r');
  t.match(inspectFd(file), { kind: 'not-socket', what: /^the regular file .*inspect\.test\.ts$/ });
  closeSync(file);
  const devnull = openSync('/dev/null', 'r');
  t.match(inspectFd(devnull), { kind: 'not-socket', what: 'the character device /dev/null' });
  t.throws(() => checkInheritedFd(devnull, inspectFd(devnull)), { code: 'ERR_FD_NOT_SOCKET' });
  closeSync(devnull);
});

t.test('inspectFd on real listening sockets of this process: TCP and unix', async (t) => {
  const { createServer } = await import('node:net');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const tcp = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => tcp.once('listening', resolve));
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-'));
  const unix = createServer().listen(join(dir, 's.sock'));
  await new Promise((resolve) => unix.once('listening', resolve));
  t.teardown(() => {
    tcp.close();
    unix.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const fdOf = (server: unknown) => (server as { _handle: { fd: number } })._handle.fd;
  const port = (tcp.address() as { port: number }).port;
  t.match(inspectFd(fdOf(tcp)), { kind: 'socket', entry: { table: 'tcp', listening: true, local: `127.0.0.1:${port}` } });
  t.match(inspectFd(fdOf(unix)), { kind: 'socket', entry: { table: 'unix', type: 'stream', listening: true, local: `unix:${join(dir, 's.sock')}` } });
});
