// Every failure a user can cause, in one catalogue. Each has a stable code,
// a one-line message that says what is wrong, a hint that says what to do,
// and a sysexits(3) exit code, so that a manager (systemd, Circus,
// Supervisor) and the person reading its log both learn what happened.

export const ExitCode = {
  ok: 0,
  /** EX_USAGE: the command line is wrong. */
  usage: 64,
  /** EX_UNAVAILABLE: a resource is taken (the port is in use). */
  unavailable: 69,
  /** EX_SOFTWARE: the app, a hook or a preload threw while starting. */
  software: 70,
  /** EX_NOPERM: the operating system refused (privileged port, socket path). */
  noPermission: 77,
  /** EX_CONFIG: what we were handed is unusable (fd, environment, app spec). */
  config: 78,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** What a worker sends its primary when it cannot start: the error, without its stack. */
export interface WireError {
  code: string;
  message: string;
  hint: string | undefined;
  exitCode: number;
  errno: string | undefined;
}

export class ChaussetteError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | undefined,
    readonly exitCode: ExitCodeValue,
    /** The errno name (EADDRINUSE) that best says it, for systemd's ERRNO=; undefined where none fits. */
    readonly errno?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChaussetteError';
  }

  /** The one line printed on stderr before exiting. */
  oneLine(): string {
    const hint = this.hint ? ` (hint: ${this.hint})` : '';
    return `chaussette: ${this.code}: ${this.message}${hint}`;
  }

  /** "message (CODE)": what STATUS= and a log line show. */
  summary(): string {
    return `${this.message} (${this.code})`;
  }

  /** Its number in this system's table (os.constants.errno), for ERRNO=. */
  errnoNumber(table: Readonly<Record<string, number>>): number | undefined {
    return this.errno === undefined ? undefined : table[this.errno];
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, hint: this.hint, exitCode: this.exitCode, errno: this.errno };
  }

  static fromWire(wire: WireError): ChaussetteError {
    return new ChaussetteError(wire.code, wire.message, wire.hint, wire.exitCode as ExitCodeValue, wire.errno);
  }
}

/** Anything thrown, as a catalogued error: unknown ones are ours to fix (ERR_INTERNAL, exit 70), and keep the original as cause. */
export function asChaussetteError(error: unknown): ChaussetteError {
  if (error instanceof ChaussetteError) return error;
  return new ChaussetteError('ERR_INTERNAL', describeError(error), undefined, ExitCode.software, undefined, { cause: error });
}

/** "message (CODE)" for a catalogued error, the first line of anything else: what STATUS= and a log line show. */
export function summary(error: unknown): string {
  return error instanceof ChaussetteError ? error.summary() : describeError(error);
}

interface Entry {
  code: string;
  exitCode: ExitCodeValue;
  /** For systemd's ERRNO=, when one errno names the failure. */
  errno?: string;
}

/**
 * A catalogue entry: builds its error from the arguments. An argument that
 * is an Error (a reason) becomes the error's cause, so that its stack can
 * still be logged (at debug) behind the one line.
 */
const make =
  <A extends unknown[]>({ code, exitCode, errno }: Entry, build: (...args: A) => [string, string?]) =>
  (...args: A) => {
    const [message, hint] = build(...args);
    const cause = args.find((arg) => arg instanceof Error);
    return new ChaussetteError(code, message, hint, exitCode, errno, cause === undefined ? undefined : { cause });
  };

const WRAPPER_HINT = 'start chaussette with exec, not through npx, npm or a shell that forks';

export const errors = {
  usage: make({ code: 'ERR_USAGE', exitCode: ExitCode.usage }, (message: string) => [message, 'see chaussette --help']),
  /** `closest`: the flag most likely meant; `app`: the app it followed, when it did (then it may be the app's own). */
  unknownOption: make({ code: 'ERR_USAGE', exitCode: ExitCode.usage }, (flag: string, closest: string | undefined, app: string | undefined) => [
    app === undefined ? `unknown option '${flag}'` : `unknown option '${flag}' after the app ${JSON.stringify(app)}`,
    [
      closest && `did you mean ${closest}?`,
      app === undefined
        ? 'see chaussette --help'
        : `an option of the app goes after --, as in: chaussette ${app} -- ${flag}; chaussette's own options may come before or after the app`,
    ]
      .filter(Boolean)
      .join(' '),
  ]),
  fdAndAddress: make({ code: 'ERR_USAGE_FD_AND_ADDRESS', exitCode: ExitCode.usage }, (source: string) => [
    `--fd and --host/--port were both given (${source}); a socket comes from one or the other`,
    'drop --host/--port to serve inherited sockets, or drop --fd to bind one',
  ]),
  badOptionValue: make({ code: 'ERR_USAGE_VALUE', exitCode: ExitCode.usage }, (option: string, value: string, expected: string) => [
    `${option} ${JSON.stringify(value)} is not ${expected}`,
    'see chaussette --help',
  ]),

  configNotFound: make({ code: 'ERR_CONFIG_NOT_FOUND', exitCode: ExitCode.config, errno: 'ENOENT' }, (path: string) => [
    `configuration file ${path} does not exist`,
    `create it, or name it -${path} to start without it when it is missing`,
  ]),
  configNotFile: make({ code: 'ERR_CONFIG_NOT_FILE', exitCode: ExitCode.config }, (path: string, kind: string) => [
    `configuration file ${path} is ${kind}, not a regular file`,
    'give the path of a file of key = value lines',
  ]),
  configUnreadable: make({ code: 'ERR_CONFIG_READ', exitCode: ExitCode.config }, (path: string, reason: unknown) => [
    `cannot read configuration file ${path}: ${describeError(reason)}`,
    'the user chaussette runs as must be able to read it',
  ]),
  /** Anything wrong inside the file: where, and which key. */
  configLine: make({ code: 'ERR_CONFIG', exitCode: ExitCode.config }, (file: string, line: number, message: string, hint?: string) => [
    `${file} line ${line}: ${message}`,
    hint,
  ]),

  listenFdsNotNumber: make({ code: 'ERR_LISTEN_FDS', exitCode: ExitCode.config }, (value: string) => [
    `LISTEN_FDS=${JSON.stringify(value)} is not a number of file descriptors`,
    'the service manager sets LISTEN_FDS; unset it if you set it by hand',
  ]),
  listenFdsOverLimit: make({ code: 'ERR_LISTEN_FDS_LIMIT', exitCode: ExitCode.config }, (value: string, limit: number) => [
    `LISTEN_FDS=${shorten(value.trim())} cannot be right: passed fds start at 3 and must stay below this process's limit of ${limit} open files (RLIMIT_NOFILE)`,
    'the service manager sets LISTEN_FDS; unset it if you set it by hand, or raise LimitNOFILE= if the sockets are real',
  ]),
  listenPidNotNumber: make({ code: 'ERR_LISTEN_PID', exitCode: ExitCode.config }, (value: string) => [
    `LISTEN_PID=${JSON.stringify(value)} is not a process id`,
    'the service manager sets LISTEN_PID; unset it if you set it by hand',
  ]),
  listenFdNamesCount: make({ code: 'ERR_LISTEN_FDNAMES', exitCode: ExitCode.config }, (names: number, fds: number) => [
    `LISTEN_FDNAMES has ${names} name(s) but LISTEN_FDS=${fds}`,
    'each passed socket needs exactly one name; check FileDescriptorName= in the socket unit',
  ]),
  fdNameWithoutSystemd: make({ code: 'ERR_FD_NAME_NO_SYSTEMD', exitCode: ExitCode.config }, (name: string, why: string) => [
    `--fd ${name}: no named sockets to choose from (${why})`,
    `names come from systemd (LISTEN_FDNAMES); give a number such as --fd 3, or ${WRAPPER_HINT}`,
  ]),
  fdNameUnknown: make({ code: 'ERR_FD_NAME_UNKNOWN', exitCode: ExitCode.config }, (name: string, known: string[]) => [
    `--fd ${name}: no socket of that name; systemd passed ${known.map((n) => JSON.stringify(n)).join(', ')}`,
    'set FileDescriptorName= in the socket unit, or use one of the names above',
  ]),

  fdNotOpen: make({ code: 'ERR_FD_NOT_OPEN', exitCode: ExitCode.config, errno: 'EBADF' }, (fd: number) => [
    `fd ${fd} is not open in this process`,
    fd >= 3 ? `the parent must pass fd ${fd} without close-on-exec; a wrapper that closes fds (or forks) loses it: ${WRAPPER_HINT}` : 'the parent must hand over a listening socket at that number',
  ]),
  fdNotSocket: make({ code: 'ERR_FD_NOT_SOCKET', exitCode: ExitCode.config, errno: 'ENOTSOCK' }, (fd: number, what: string) => [
    `fd ${fd} is ${what}, not a socket`,
    fd === 0
      ? 'only a manager such as Supervisor (fcgi-program) puts a socket on fd 0'
      : what.includes('anon_inode:')
        ? `nothing was passed at fd ${fd}: Node.js opened this one for its own event loop; under Circus use --fd $(circus.sockets.NAME), never a typed number`
        : 'pass the number of a listening socket the manager opened (Node.js opens its own fds on free low numbers); under Circus use --fd $(circus.sockets.NAME)',
  ]),
  fdDatagram: make({ code: 'ERR_FD_DATAGRAM', exitCode: ExitCode.config, errno: 'EPROTOTYPE' }, (fd: number, what: string) => [
    `fd ${fd} is a ${what} socket; HTTP needs a stream socket`,
    'use ListenStream= (systemd) or a tcp:// / unix:// socket in the manager',
  ]),
  fdNotListening: make({ code: 'ERR_FD_NOT_LISTENING', exitCode: ExitCode.config, errno: 'EINVAL' }, (fd: number, what: string) => [
    `fd ${fd} is ${what}, not a listening socket`,
    'pass a socket the manager bound and put in listening state (Accept=no)',
  ]),
  /** `landed`: where listening on it put it; unset, nothing listened yet (--workers: getsockname says port 0). */
  fdNotBound: make({ code: 'ERR_FD_NOT_BOUND', exitCode: ExitCode.config, errno: 'EDESTADDRREQ' }, (fd: number, landed?: string) => [
    `fd ${fd} is a socket that was never bound; listening on it ${landed ? `picked the random address ${landed}` : 'would pick a random port'}`,
    'the manager must bind the socket to its address before passing it',
  ]),

  addressInUse: make({ code: 'ERR_ADDRESS_IN_USE', exitCode: ExitCode.unavailable, errno: 'EADDRINUSE' }, (where: string) => [
    `${where} is already in use`,
    'stop whatever listens there, choose another --port, or let systemd own the socket',
  ]),
  permissionDenied: make({ code: 'ERR_PERMISSION', exitCode: ExitCode.noPermission, errno: 'EACCES' }, (where: string, isPrivilegedPort: boolean) => [
    `permission denied binding ${where}`,
    isPrivilegedPort
      ? 'ports below 1024 need privileges; let systemd socket activation (or Circus/Supervisor) bind it and pass the fd, so chaussette runs unprivileged'
      : 'check the directory permissions, or let the manager create the socket',
  ]),
  unixSocketLive: make({ code: 'ERR_UNIX_SOCKET_LIVE', exitCode: ExitCode.unavailable, errno: 'EADDRINUSE' }, (path: string) => [
    `unix:${path} is served by another process`,
    'stop that process, or choose another path',
  ]),
  unixPathNotSocket: make({ code: 'ERR_UNIX_PATH_NOT_SOCKET', exitCode: ExitCode.config, errno: 'EEXIST' }, (path: string) => [
    `unix:${path} exists and is not a socket; refusing to replace it`,
    'choose a path that is free or holds a stale socket',
  ]),
  unixPathTooLong: make({ code: 'ERR_UNIX_PATH_TOO_LONG', exitCode: ExitCode.usage, errno: 'ENAMETOOLONG' }, (path: string, bytes: number, max: number, size: number) => [
    `unix:${path} is ${bytes} bytes long; a unix socket path has at most ${max} (sun_path holds ${size} bytes with the closing NUL)`,
    'choose a shorter path, such as /run/NAME/app.sock',
  ]),
  unixDirectoryMissing: make({ code: 'ERR_UNIX_DIR_MISSING', exitCode: ExitCode.config, errno: 'ENOENT' }, (path: string, directory: string) => [
    `cannot bind unix:${path}: the directory ${directory} does not exist`,
    'create it first (systemd: RuntimeDirectory=), or choose a path in a directory that exists',
  ]),
  unixHostWithPort: make({ code: 'ERR_USAGE_UNIX_PORT', exitCode: ExitCode.usage }, (host: string, port: string) => [
    `${port} was given, but ${host} is a unix socket, which has no port`,
    'drop the port, or bind a TCP host such as 127.0.0.1',
  ]),
  cannotListen: make({ code: 'ERR_LISTEN', exitCode: ExitCode.config }, (where: string, reason: unknown) => [
    `cannot listen on ${where}: ${describeError(reason)}`,
    undefined,
  ]),

  appNotFound: make({ code: 'ERR_APP_NOT_FOUND', exitCode: ExitCode.config, errno: 'ENOENT' }, (spec: string, resolved: string) => [
    `app ${JSON.stringify(spec)}: cannot find module ${resolved}`,
    'give a path (./server.js), a package name, optionally with :export',
  ]),
  appNotFile: make({ code: 'ERR_APP_NOT_FILE', exitCode: ExitCode.config }, (spec: string, file: string, kind: string) => [
    `app ${JSON.stringify(spec)}: ${file} is ${kind}, not a regular file`,
    'give the path of a JavaScript module, a package name, optionally with :export',
  ]),
  appImportFailed: make({ code: 'ERR_APP_IMPORT', exitCode: ExitCode.software }, (spec: string, reason: unknown) => [
    `app ${JSON.stringify(spec)} threw while loading: ${describeError(reason)}`,
    'run it with node directly to see the full error',
  ]),
  appExportMissing: make({ code: 'ERR_APP_EXPORT', exitCode: ExitCode.config }, (spec: string, name: string, available: string[]) => [
    `app ${JSON.stringify(spec)} has no export ${JSON.stringify(name)}; it exports ${available.length ? available.join(', ') : 'nothing'}`,
    'name an existing export after the colon, e.g. ./app.js:handler',
  ]),
  appShape: make({ code: 'ERR_APP_SHAPE', exitCode: ExitCode.config }, (spec: string, found: string) => [
    `app ${JSON.stringify(spec)} is ${found}, which chaussette cannot serve`,
    'export a (req, res) listener (Express, Connect), a Koa app, a Fastify instance, an object with fetch(request) (Hono), or a factory returning one',
  ]),
  appFactoryFailed: make({ code: 'ERR_APP_FACTORY', exitCode: ExitCode.software }, (spec: string, reason: unknown) => [
    `app ${JSON.stringify(spec)}: its factory failed: ${describeError(reason)}`,
    undefined,
  ]),
  /** Node's event loop emptied while the start awaited a promise: it can never settle now. */
  startNeverSettled: make({ code: 'ERR_START_NEVER_SETTLED', exitCode: ExitCode.software }, () => [
    'the start never finished: a promise it awaits (the app\'s factory, a top-level await in the app or a hook) never settled, and nothing is left that could settle it',
    'make the factory resolve or reject; an await on something that never happens ends here, not in a silent exit 0',
  ]),
  appNotReady: make({ code: 'ERR_APP_NOT_READY', exitCode: ExitCode.software }, (spec: string, reason: unknown) => [
    `app ${JSON.stringify(spec)} failed to get ready: ${describeError(reason)}`,
    undefined,
  ]),
  moduleNotFound: make({ code: 'ERR_MODULE_NOT_FOUND', exitCode: ExitCode.config, errno: 'ENOENT' }, (what: string, spec: string) => [
    `${what} ${JSON.stringify(spec)}: cannot find module`,
    'give a path (./hook.js) or an installed package name',
  ]),
  moduleNotFile: make({ code: 'ERR_MODULE_NOT_FILE', exitCode: ExitCode.config }, (what: string, spec: string, file: string, kind: string) => [
    `${what} ${JSON.stringify(spec)}: ${file} is ${kind}, not a regular file`,
    'give the path of a JavaScript module, or an installed package name',
  ]),
  moduleFailed: make({ code: 'ERR_MODULE_FAILED', exitCode: ExitCode.software }, (what: string, spec: string, reason: unknown) => [
    `${what} ${JSON.stringify(spec)} failed: ${describeError(reason)}`,
    undefined,
  ]),
  unknownBackend: make({ code: 'ERR_BACKEND', exitCode: ExitCode.usage }, (name: string, known: string[]) => [
    `backend ${JSON.stringify(name)} is not known; available: ${known.join(', ')}`,
    undefined,
  ]),
  tlsOptions: make({ code: 'ERR_USAGE_TLS', exitCode: ExitCode.usage }, (message: string, hint: string) => [message, hint]),
  tlsFile: make({ code: 'ERR_TLS_FILE', exitCode: ExitCode.config }, (flag: string, path: string, reason: unknown) => [
    `${flag} ${path} cannot be read: ${describeError(reason)}`,
    'give the path of a PEM file this user may read (systemd: LoadCredential= hands root-only files to a DynamicUser service)',
  ]),
  tlsMaterial: make({ code: 'ERR_TLS', exitCode: ExitCode.config }, (certfile: string, keyfile: string, reason: string, _cause?: unknown) => [
    `the certificate ${certfile} and key ${keyfile} cannot be used: ${reason}`,
    'check them with: openssl x509 -noout -subject -in CERTFILE; openssl pkey -noout -in KEYFILE',
  ]),
  logOutput: make({ code: 'ERR_LOG_OUTPUT', exitCode: ExitCode.config, errno: 'EIO' }, (path: string, reason: unknown, what = 'the log') => [
    `cannot write ${what} to ${path}: ${describeError(reason)}`,
    'give a writable file, or - for standard output',
  ]),
  /** Said on stderr, never fatal: lines are dropped, and counted, until the output takes them again. */
  logWrite: make({ code: 'ERR_LOG_WRITE', exitCode: ExitCode.unavailable }, (what: string, where: string, reason: string) => [
    `cannot write the ${what} to ${where}: ${reason}; serving goes on, and its lines are dropped until it can be written again`,
    'free space on its disk, or make its reader read; the count of lines lost is logged when writing works again',
  ]),
  /** Logged, never fatal: the process goes on writing to the file it has open. */
  logReopen: make({ code: 'ERR_LOG_REOPEN', exitCode: ExitCode.config }, (path: string, reason: unknown) => [
    `cannot reopen the log file ${path}: ${describeError(reason)}; logging goes on to the file already open`,
    'make its directory exist and be writable, then send SIGUSR1 again',
  ]),
  workersNeedListeners: make({ code: 'ERR_WORKERS_ACCEPT', exitCode: ExitCode.config }, (fd: number) => [
    `--workers needs listening sockets, but fd ${fd} is one accepted connection (Accept=yes)`,
    'drop --workers, or use Accept=no in the socket unit so that one service shares the listening socket',
  ]),
  workerExited: make({ code: 'ERR_WORKER_EXIT', exitCode: ExitCode.software }, (how: string) => [
    `a worker exited before serving (${how})`,
    'run without --workers to see the error in this process',
  ]),
  notifyRefused: make(
    { code: 'ERR_NOTIFY', exitCode: ExitCode.config },
    (unit: string, access: string, abi: string, addonProblem: string, packageRoot: string) => [
      `NOTIFY_SOCKET is set but the sd-notify addon did not load (${addonProblem}), and ${access}: ` +
        'systemd would drop the messages of systemd-notify (a child process) without a word, READY=1 would never arrive and the start would time out',
      `build the addon for this Node.js (ABI ${abi}): cd ${packageRoot} && npm rebuild sd-notify (needs libsystemd-dev, g++ and make); ` +
        `or run chaussette with the Node.js it was installed with; or allow systemd-notify: systemctl edit ${unit}, ` +
        'NotifyAccess=all and Environment=CHAUSSETTE_NOTIFY_ACCESS=all',
    ],
  ),
  watchdogProbeUnreachable: make({ code: 'ERR_WATCHDOG_PROBE', exitCode: ExitCode.config }, (path: string, why: string) => [
    `--watchdog-probe ${path} cannot ask the app: ${why}`,
    'the probe needs a TCP or named unix socket visible in this network namespace, without client certificates',
  ]),
};

/** A value as a message quotes it: at most 24 characters. */
function shorten(value: string): string {
  return value.length > 24 ? `${value.slice(0, 24)}…` : value;
}

/** A one-line description of any thrown value, for messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const first = error.message.split('\n')[0] ?? '';
    return code && !first.includes(code) ? `${code}: ${first}` : first;
  }
  return String(error);
}
