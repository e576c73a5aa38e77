// The pure parts of talking to systemd: message format, the watchdog's
// variables, the status wording, and which errno names a failure.
import { constants } from 'node:os';
import t from 'tap';
import { ChaussetteError, errors, ExitCode } from '../src/errors.js';
import { formatNotification } from '../src/systemd/notify.js';
import { drainingStatus, servingStatus } from '../src/systemd/status.js';
import { pingEveryMs, readWatchdog } from '../src/systemd/watchdog-env.js';

t.test('notification messages: one assignment per line, STATUS kept on one line', async (t) => {
  t.equal(formatNotification({ READY: 1, STATUS: 'Serving x' }), 'READY=1\nSTATUS=Serving x');
  t.equal(formatNotification({ STATUS: 'two\nlines\r\nhere' }), 'STATUS=two lines here', 'a newline would start a new assignment');
});

t.test('WATCHDOG_USEC and WATCHDOG_PID, as sd_watchdog_enabled(3) reads them', async (t) => {
  t.same(readWatchdog({}, 42), { kind: 'off' });
  t.same(readWatchdog({ WATCHDOG_USEC: '' }, 42), { kind: 'off' });
  t.same(readWatchdog({ WATCHDOG_USEC: '30000000' }, 42), { kind: 'on', intervalMs: 30000 }, 'no WATCHDOG_PID: ours');
  t.same(readWatchdog({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), { kind: 'on', intervalMs: 30000 });
  t.same(readWatchdog({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42), { kind: 'not-ours', watchdogPid: '7' });
  t.same(readWatchdog({ WATCHDOG_USEC: 'soon' }, 42), { kind: 'invalid', value: 'soon' });
  t.same(readWatchdog({ WATCHDOG_USEC: '0' }, 42), { kind: 'invalid', value: '0' });
  t.equal(pingEveryMs(30000), 15000, 'half the interval');
  t.equal(pingEveryMs(1), 1);
});

t.test('status wording', async (t) => {
  t.equal(servingStatus(['127.0.0.1:8000'], 'http', 0, 0, 0), 'Serving 127.0.0.1:8000 (http): no requests yet');
  t.equal(servingStatus(['a', 'b'], 'http', 1, 1, 0.5), 'Serving a, b (http): 1 request, 1 open connection, 0.5 req/s');
  t.equal(servingStatus(['a'], 'http', 150000, 40, 1234.6), 'Serving a (http): 150000 requests, 40 open connections, 1235 req/s');
  t.equal(drainingStatus(3, 5, 11200), 'Stopping: draining 3 requests on 5 connections, 12 s left');
  t.equal(drainingStatus(0, 1, 500), 'Stopping: draining 0 requests on 1 connection, 1 s left');
  t.equal(drainingStatus(0, 0, 9000), 'Stopping: all connections closed');
});

t.test('ERRNO= for the failures one fits', async (t) => {
  t.equal(errors.addressInUse('127.0.0.1:80').errnoNumber(constants.errno), constants.errno.EADDRINUSE);
  t.equal(errors.fdNotOpen(5).errnoNumber(constants.errno), constants.errno.EBADF);
  t.equal(errors.fdNotSocket(3, 'a pipe').errnoNumber(constants.errno), constants.errno.ENOTSOCK);
  t.equal(errors.appNotFound('./x.js', './x.js').errnoNumber(constants.errno), constants.errno.ENOENT);
  t.equal(errors.permissionDenied('0.0.0.0:80', true).errnoNumber(constants.errno), constants.errno.EACCES);
  t.equal(errors.usage('bad').errnoNumber(constants.errno), undefined, 'none for a usage error');
});

t.test('errors keep their cause, say one summary, and cross the worker IPC whole', async (t) => {
  const cause = Object.assign(new Error('EACCES: permission denied, open \'/etc/x.conf\''), { code: 'EACCES' });
  const error = errors.configUnreadable('/etc/x.conf', cause);
  t.equal(error.cause, cause, 'the original error, with its stack, is the cause');
  t.equal(error.message, "cannot read configuration file /etc/x.conf: EACCES: permission denied, open '/etc/x.conf'");
  t.equal(error.summary(), `${error.message} (ERR_CONFIG_READ)`);
  const wire = JSON.parse(JSON.stringify(errors.addressInUse('127.0.0.1:80').toWire())) as ReturnType<ChaussetteError['toWire']>;
  const back = ChaussetteError.fromWire(wire);
  t.ok(back instanceof ChaussetteError);
  t.same(
    { code: back.code, message: back.message, hint: back.hint, exitCode: back.exitCode, errno: back.errno, line: back.oneLine() },
    {
      code: 'ERR_ADDRESS_IN_USE',
      message: '127.0.0.1:80 is already in use',
      hint: 'stop whatever listens there, choose another --port, or let systemd own the socket',
      exitCode: ExitCode.unavailable,
      errno: 'EADDRINUSE',
      line: errors.addressInUse('127.0.0.1:80').oneLine(),
    },
  );
});
