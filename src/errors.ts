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

export class ChaussetteError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | undefined,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message);
    this.name = 'ChaussetteError';
  }

  /** The one line printed on stderr before exiting. */
  oneLine(): string {
    const hint = this.hint ? ` (hint: ${this.hint})` : '';
    return `chaussette: ${this.code}: ${this.message}${hint}`;
  }
}

const make =
  <A extends unknown[]>(code: string, exitCode: ExitCodeValue, build: (...args: A) => [string, string?]) =>
  (...args: A) => {
    const [message, hint] = build(...args);
    return new ChaussetteError(code, message, hint, exitCode);
  };

const WRAPPER_HINT = 'start chaussette with exec, not through npx, npm or a shell that forks';

export const errors = {
  usage: make('ERR_USAGE', ExitCode.usage, (message: string) => [message, 'see chaussette --help']),
  fdAndAddress: make('ERR_USAGE_FD_AND_ADDRESS', ExitCode.usage, (source: string) => [
    `--fd and --host/--port were both given (${source}); a socket comes from one or the other`,
    'drop --host/--port to serve inherited sockets, or drop --fd to bind one',
  ]),
  badOptionValue: make('ERR_USAGE_VALUE', ExitCode.usage, (option: string, value: string, expected: string) => [
    `${option} ${JSON.stringify(value)} is not ${expected}`,
    'see chaussette --help',
  ]),

  configNotFound: make('ERR_CONFIG_NOT_FOUND', ExitCode.config, (path: string) => [
    `configuration file ${path} does not exist`,
    `create it, or name it -${path} to start without it when it is missing`,
  ]),
  configUnreadable: make('ERR_CONFIG_READ', ExitCode.config, (path: string, reason: string) => [
    `cannot read configuration file ${path}: ${reason}`,
    'the user chaussette runs as must be able to read it',
  ]),
  /** Anything wrong inside the file: where, and which key. */
  configLine: make('ERR_CONFIG', ExitCode.config, (file: string, line: number, message: string, hint?: string) => [
    `${file} line ${line}: ${message}`,
    hint,
  ]),

  listenFdsNotNumber: make('ERR_LISTEN_FDS', ExitCode.config, (value: string) => [
    `LISTEN_FDS=${JSON.stringify(value)} is not a number of file descriptors`,
    'the service manager sets LISTEN_FDS; unset it if you set it by hand',
  ]),
  listenPidNotNumber: make('ERR_LISTEN_PID', ExitCode.config, (value: string) => [
    `LISTEN_PID=${JSON.stringify(value)} is not a process id`,
    'the service manager sets LISTEN_PID; unset it if you set it by hand',
  ]),
  listenFdNamesCount: make('ERR_LISTEN_FDNAMES', ExitCode.config, (names: number, fds: number) => [
    `LISTEN_FDNAMES has ${names} name(s) but LISTEN_FDS=${fds}`,
    'each passed socket needs exactly one name; check FileDescriptorName= in the socket unit',
  ]),
  fdNameWithoutSystemd: make('ERR_FD_NAME_NO_SYSTEMD', ExitCode.config, (name: string, why: string) => [
    `--fd ${name}: no named sockets to choose from (${why})`,
    `names come from systemd (LISTEN_FDNAMES); give a number such as --fd 3, or ${WRAPPER_HINT}`,
  ]),
  fdNameUnknown: make('ERR_FD_NAME_UNKNOWN', ExitCode.config, (name: string, known: string[]) => [
    `--fd ${name}: no socket of that name; systemd passed ${known.map((n) => JSON.stringify(n)).join(', ')}`,
    'set FileDescriptorName= in the socket unit, or use one of the names above',
  ]),

  fdNotOpen: make('ERR_FD_NOT_OPEN', ExitCode.config, (fd: number) => [
    `fd ${fd} is not open in this process`,
    fd >= 3 ? `the parent must pass fd ${fd} without close-on-exec; a wrapper that closes fds (or forks) loses it: ${WRAPPER_HINT}` : 'the parent must hand over a listening socket at that number',
  ]),
  fdNotSocket: make('ERR_FD_NOT_SOCKET', ExitCode.config, (fd: number, what: string) => [
    `fd ${fd} is ${what}, not a socket`,
    fd === 0
      ? 'only a manager such as Supervisor (fcgi-program) puts a socket on fd 0'
      : what.includes('anon_inode:')
        ? `nothing was passed at fd ${fd}: Node.js opened this one for its own event loop; under Circus use --fd $(circus.sockets.NAME), never a typed number`
        : 'pass the number of a listening socket the manager opened (Node.js opens its own fds on free low numbers); under Circus use --fd $(circus.sockets.NAME)',
  ]),
  fdDatagram: make('ERR_FD_DATAGRAM', ExitCode.config, (fd: number, what: string) => [
    `fd ${fd} is a ${what} socket; HTTP needs a stream socket`,
    'use ListenStream= (systemd) or a tcp:// / unix:// socket in the manager',
  ]),
  fdNotListening: make('ERR_FD_NOT_LISTENING', ExitCode.config, (fd: number, what: string) => [
    `fd ${fd} is ${what}, not a listening socket`,
    'pass a socket the manager bound and put in listening state (Accept=no)',
  ]),
  fdNotBound: make('ERR_FD_NOT_BOUND', ExitCode.config, (fd: number, landed: string) => [
    `fd ${fd} is a socket that was never bound; listening on it picked the random address ${landed}`,
    'the manager must bind the socket to its address before passing it',
  ]),

  addressInUse: make('ERR_ADDRESS_IN_USE', ExitCode.unavailable, (where: string) => [
    `${where} is already in use`,
    'stop whatever listens there, choose another --port, or let systemd own the socket',
  ]),
  permissionDenied: make('ERR_PERMISSION', ExitCode.noPermission, (where: string, isPrivilegedPort: boolean) => [
    `permission denied binding ${where}`,
    isPrivilegedPort
      ? 'ports below 1024 need privileges; let systemd socket activation (or Circus/Supervisor) bind it and pass the fd, so chaussette runs unprivileged'
      : 'check the directory permissions, or let the manager create the socket',
  ]),
  unixSocketLive: make('ERR_UNIX_SOCKET_LIVE', ExitCode.unavailable, (path: string) => [
    `unix:${path} is served by another process`,
    'stop that process, or choose another path',
  ]),
  unixPathNotSocket: make('ERR_UNIX_PATH_NOT_SOCKET', ExitCode.config, (path: string) => [
    `unix:${path} exists and is not a socket; refusing to replace it`,
    'choose a path that is free or holds a stale socket',
  ]),
  cannotListen: make('ERR_LISTEN', ExitCode.config, (where: string, reason: string) => [
    `cannot listen on ${where}: ${reason}`,
    undefined,
  ]),

  appNotFound: make('ERR_APP_NOT_FOUND', ExitCode.config, (spec: string, resolved: string) => [
    `app ${JSON.stringify(spec)}: cannot find module ${resolved}`,
    'give a path (./server.js), a package name, optionally with :export',
  ]),
  appImportFailed: make('ERR_APP_IMPORT', ExitCode.software, (spec: string, reason: string) => [
    `app ${JSON.stringify(spec)} threw while loading: ${reason}`,
    'run it with node directly to see the full error',
  ]),
  appExportMissing: make('ERR_APP_EXPORT', ExitCode.config, (spec: string, name: string, available: string[]) => [
    `app ${JSON.stringify(spec)} has no export ${JSON.stringify(name)}; it exports ${available.length ? available.join(', ') : 'nothing'}`,
    'name an existing export after the colon, e.g. ./app.js:handler',
  ]),
  appShape: make('ERR_APP_SHAPE', ExitCode.config, (spec: string, found: string) => [
    `app ${JSON.stringify(spec)} is ${found}, which chaussette cannot serve`,
    'export a (req, res) listener (Express, Connect), a Koa app, a Fastify instance, an object with fetch(request) (Hono), or a factory returning one',
  ]),
  appFactoryFailed: make('ERR_APP_FACTORY', ExitCode.software, (spec: string, reason: string) => [
    `app ${JSON.stringify(spec)}: its factory failed: ${reason}`,
    undefined,
  ]),
  appNotReady: make('ERR_APP_NOT_READY', ExitCode.software, (spec: string, reason: string) => [
    `app ${JSON.stringify(spec)} failed to get ready: ${reason}`,
    undefined,
  ]),
  moduleNotFound: make('ERR_MODULE_NOT_FOUND', ExitCode.config, (what: string, spec: string) => [
    `${what} ${JSON.stringify(spec)}: cannot find module`,
    'give a path (./hook.js) or an installed package name',
  ]),
  moduleFailed: make('ERR_MODULE_FAILED', ExitCode.software, (what: string, spec: string, reason: string) => [
    `${what} ${JSON.stringify(spec)} failed: ${reason}`,
    undefined,
  ]),
  unknownBackend: make('ERR_BACKEND', ExitCode.usage, (name: string, known: string[]) => [
    `backend ${JSON.stringify(name)} is not known; available: ${known.join(', ')}`,
    undefined,
  ]),
  tlsOptions: make('ERR_USAGE_TLS', ExitCode.usage, (message: string, hint: string) => [message, hint]),
  tlsFile: make('ERR_TLS_FILE', ExitCode.config, (flag: string, path: string, reason: string) => [
    `${flag} ${path} cannot be read: ${reason}`,
    'give the path of a PEM file this user may read (systemd: LoadCredential= hands root-only files to a DynamicUser service)',
  ]),
  tlsMaterial: make('ERR_TLS', ExitCode.config, (certfile: string, keyfile: string, reason: string) => [
    `the certificate ${certfile} and key ${keyfile} cannot be used: ${reason}`,
    'check them with: openssl x509 -noout -subject -in CERTFILE; openssl pkey -noout -in KEYFILE',
  ]),
  logOutput: make('ERR_LOG_OUTPUT', ExitCode.config, (path: string, reason: string) => [
    `cannot write the log to ${path}: ${reason}`,
    'give a writable file, or - for standard output',
  ]),
  /** Logged, never fatal: the process goes on writing to the file it has open. */
  logReopen: make('ERR_LOG_REOPEN', ExitCode.config, (path: string, reason: string) => [
    `cannot reopen the log file ${path}: ${reason}; logging goes on to the file already open`,
    'make its directory exist and be writable, then send SIGUSR1 again',
  ]),
  workersNeedListeners: make('ERR_WORKERS_ACCEPT', ExitCode.config, (fd: number) => [
    `--workers needs listening sockets, but fd ${fd} is one accepted connection (Accept=yes)`,
    'drop --workers, or use Accept=no in the socket unit so that one service shares the listening socket',
  ]),
  workerExited: make('ERR_WORKER_EXIT', ExitCode.software, (how: string) => [
    `a worker exited before serving (${how})`,
    'run without --workers to see the error in this process',
  ]),
  watchdogProbeUnreachable: make('ERR_WATCHDOG_PROBE', ExitCode.config, (path: string, why: string) => [
    `--watchdog-probe ${path} cannot ask the app: ${why}`,
    'the probe needs a TCP or named unix socket visible in this network namespace, without client certificates',
  ]),
};

/**
 * The errno that best names a failure, for systemd's ERRNO= (shown by
 * `systemctl status`); undefined where none fits.
 */
const ERRNO_NAMES: Readonly<Record<string, string>> = {
  ERR_FD_NOT_OPEN: 'EBADF',
  ERR_FD_NOT_SOCKET: 'ENOTSOCK',
  ERR_FD_DATAGRAM: 'EPROTOTYPE',
  ERR_FD_NOT_LISTENING: 'EINVAL',
  ERR_FD_NOT_BOUND: 'EDESTADDRREQ',
  ERR_ADDRESS_IN_USE: 'EADDRINUSE',
  ERR_UNIX_SOCKET_LIVE: 'EADDRINUSE',
  ERR_PERMISSION: 'EACCES',
  ERR_UNIX_PATH_NOT_SOCKET: 'EEXIST',
  ERR_APP_NOT_FOUND: 'ENOENT',
  ERR_MODULE_NOT_FOUND: 'ENOENT',
  ERR_LOG_OUTPUT: 'EIO',
  ERR_CONFIG_NOT_FOUND: 'ENOENT',
};

export function errnoOf(code: string, table: Readonly<Record<string, number>>): number | undefined {
  const name = ERRNO_NAMES[code];
  return name === undefined ? undefined : table[name];
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
