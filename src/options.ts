// The command line and its environment twin, turned into one Options object.
//
// Every option is declared once in OPTION_TABLE: its flag, its CHAUSSETTE_*
// variable, its default and its parser. Help text, environment handling and
// the documentation checks all read the same table. Parsing is pure: argv and
// an environment in, Options out (or a ChaussetteError with exit code 64).

import { availableParallelism } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { ChaussetteError, errors } from './errors.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const ACCESS_LOG_FORMATS = ['off', 'common', 'combined', 'json'] as const;
export type AccessLogFormat = (typeof ACCESS_LOG_FORMATS)[number];

export interface Options {
  /** Module spec of the app (`./app.js`, `pkg:export`); undefined serves the hello app. */
  app: string | undefined;
  /** Extra positional arguments, handed to an app factory. */
  args: string[];
  host: string;
  port: number;
  /** `--fd` values as given: numbers or systemd names. */
  fds: string[];
  /** Which way of getting a socket the user chose; `none` lets LISTEN_FDS or the default address decide. */
  socketChoice: 'fd' | 'address' | 'none';
  /** undefined: the system's maximum (net.core.somaxconn). */
  backlog: number | undefined;
  backend: string;
  /** TLS (https, http2): certificate chain and private key, PEM files. */
  certfile: string | undefined;
  keyfile: string | undefined;
  /** CA bundle that client certificates must chain to (mutual TLS). */
  caCerts: string | undefined;
  keyfilePassword: string | undefined;
  gracefulTimeout: number;
  preHook: string | undefined;
  postHook: string | undefined;
  require: string[];
  logLevel: LogLevel;
  logOutput: string;
  /** One line per request to the log output, in this format; off by default. */
  accessLog: AccessLogFormat;
  /** Path the watchdog asks through our own socket before each ping; undefined: ping unconditionally. */
  watchdogProbe: string | undefined;
  /** Worker processes sharing the sockets; 0 serves in this process. */
  workers: number;
  /** Development: replace the workers when the app's files change. */
  reload: boolean;
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  maxHeaderSize: number;
}

type Parse = (value: string, flag: string) => unknown;

interface OptionSpec {
  key: keyof Options;
  flags: string;
  description: string;
  /** Shown in help and docs; undefined means "not set". */
  defaultText?: string;
  default: unknown;
  parse: Parse;
  repeatable?: boolean;
  /** A flag without a value (`--reload`); its variable takes 1/0, true/false, yes/no. */
  boolean?: boolean;
}

const integer =
  (min: number, max: number, expected: string): Parse =>
  (value, flag) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw errors.badOptionValue(flag, value, expected);
    }
    return n;
  };

const seconds: Parse = (value, flag) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw errors.badOptionValue(flag, value, 'a number of seconds >= 0');
  }
  return n;
};

const text: Parse = (value) => value;

const TRUE_WORDS = ['1', 'true', 'yes', 'on'];
const FALSE_WORDS = ['0', 'false', 'no', 'off', ''];
const yesNo: Parse = (value, flag) => {
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw errors.badOptionValue(flag, value, `one of ${[...TRUE_WORDS, ...FALSE_WORDS.filter(Boolean)].join(', ')}`);
};

/** A count of workers, or `auto`: one per CPU the process may use. */
const workerCount: Parse = (value, flag) =>
  value.trim() === 'auto' ? availableParallelism() : integer(0, 1024, 'a number of workers (0-1024) or auto')(value, flag);

const oneOf =
  (choices: readonly string[]): Parse =>
  (value, flag) => {
    if (!choices.includes(value)) throw errors.badOptionValue(flag, value, `one of ${choices.join(', ')}`);
    return value;
  };

/** `--fd 3 --fd web`, `--fd 3,4` and CHAUSSETTE_FD="3,web" all give a list. */
const list: Parse = (value) =>
  value
    .split(/[,\s]+/)
    .map((item) => item.trim())
    .filter((item) => item !== '');

export const OPTION_TABLE: readonly OptionSpec[] = [
  {
    key: 'host',
    flags: '--host <host>',
    description: 'address to bind, or unix:/path for a unix socket',
    default: 'localhost',
    defaultText: 'localhost',
    parse: text,
  },
  {
    key: 'port',
    flags: '--port <port>',
    description: 'TCP port to bind (0: any free port)',
    default: 8080,
    defaultText: '8080',
    parse: integer(0, 65535, 'a port number (0-65535)'),
  },
  {
    key: 'fds',
    flags: '--fd <fd>',
    description:
      'serve an inherited socket: a number (Circus, Supervisor: 0) or a systemd FileDescriptorName; repeatable, or comma-separated',
    default: [],
    parse: list,
    repeatable: true,
  },
  {
    key: 'backlog',
    flags: '--backlog <n>',
    description: 'listen backlog; never lower than what the manager set',
    default: undefined,
    defaultText: 'net.core.somaxconn',
    parse: integer(1, 2 ** 31 - 1, 'a positive number'),
  },
  {
    key: 'backend',
    flags: '--backend <name>',
    description: 'server backend: http; https (TLS); http2 (h2 and HTTP/1.1 over TLS with certificates, cleartext h2c without)',
    default: 'http',
    defaultText: 'http',
    parse: text,
  },
  {
    key: 'certfile',
    flags: '--certfile <file>',
    description: 'TLS certificate chain, PEM (https, http2); re-read on SIGHUP',
    default: undefined,
    parse: text,
  },
  {
    key: 'keyfile',
    flags: '--keyfile <file>',
    description: 'TLS private key, PEM; re-read on SIGHUP',
    default: undefined,
    parse: text,
  },
  {
    key: 'caCerts',
    flags: '--ca-certs <file>',
    description: 'CA certificates, PEM: clients must present a certificate they signed (mutual TLS)',
    default: undefined,
    parse: text,
  },
  {
    key: 'keyfilePassword',
    flags: '--keyfile-password <password>',
    description: 'passphrase of an encrypted --keyfile; prefer the variable, which ps does not show',
    default: undefined,
    parse: text,
  },
  {
    key: 'gracefulTimeout',
    flags: '--graceful-timeout <seconds>',
    description: 'on SIGTERM/SIGINT, time in-flight requests get to finish',
    default: 30,
    defaultText: '30',
    parse: seconds,
  },
  {
    key: 'keepAliveTimeout',
    flags: '--keep-alive-timeout <seconds>',
    description: 'idle time before a keep-alive connection is closed (above a proxy\'s 60 s)',
    default: 65,
    defaultText: '65',
    parse: seconds,
  },
  {
    key: 'headersTimeout',
    flags: '--headers-timeout <seconds>',
    description: 'time a client gets to send the request headers (slowloris guard)',
    default: 30,
    defaultText: '30',
    parse: seconds,
  },
  {
    key: 'requestTimeout',
    flags: '--request-timeout <seconds>',
    description: 'time a client gets to send the whole request; 0 disables',
    default: 300,
    defaultText: '300',
    parse: seconds,
  },
  {
    key: 'maxHeaderSize',
    flags: '--max-header-size <bytes>',
    description: 'largest request head accepted (answered 431 above)',
    default: 16384,
    defaultText: '16384',
    parse: integer(1024, 2 ** 24, 'a size in bytes (1024-16777216)'),
  },
  {
    key: 'preHook',
    flags: '--pre-hook <module[:export]>',
    description: 'function called with the options before serving',
    default: undefined,
    parse: text,
  },
  {
    key: 'postHook',
    flags: '--post-hook <module[:export]>',
    description: 'function called with the options after stopping',
    default: undefined,
    parse: text,
  },
  {
    key: 'require',
    flags: '--require <module>',
    description: 'module imported before the app (instrumentation, dotenv); repeatable, or comma-separated',
    default: [],
    parse: list,
    repeatable: true,
  },
  {
    key: 'logLevel',
    flags: '--log-level <level>',
    description: `one of ${LOG_LEVELS.join(', ')}`,
    default: 'info',
    defaultText: 'info',
    parse: oneOf(LOG_LEVELS),
  },
  {
    key: 'logOutput',
    flags: '--log-output <file>',
    description: 'log destination: - for standard output, or a file path (SIGUSR1 reopens it)',
    default: '-',
    defaultText: '-',
    parse: text,
  },
  {
    key: 'accessLog',
    flags: '--access-log <format>',
    description: 'a line per request in the log: off, common (Common Log Format), combined (with referer and user agent) or json',
    default: 'off',
    defaultText: 'off',
    parse: oneOf(ACCESS_LOG_FORMATS),
  },
  {
    key: 'watchdogProbe',
    flags: '--watchdog-probe <path>',
    description: 'with WatchdogSec=, ping systemd only while the app answers GET <path> with 2xx/3xx on its own socket',
    default: undefined,
    parse: (value, flag) => {
      if (!value.startsWith('/')) throw errors.badOptionValue(flag, value, 'a path starting with /');
      return value;
    },
  },
  {
    key: 'workers',
    flags: '--workers <n>',
    description: 'run n worker processes that share the sockets (auto: one per CPU); 0 serves in this process',
    default: 0,
    defaultText: '0',
    parse: workerCount,
  },
  {
    key: 'reload',
    flags: '--reload',
    description: 'development: restart the app when its files change, keeping the sockets open',
    default: false,
    parse: yesNo,
    boolean: true,
  },
];

/** `--graceful-timeout <seconds>` -> `--graceful-timeout`. */
export function flagName(flags: string): string {
  return flags.split(' ')[0]!;
}

/** `--graceful-timeout <seconds>` -> `CHAUSSETTE_GRACEFUL_TIMEOUT`. */
export function envName(flags: string): string {
  return `CHAUSSETTE_${flagName(flags).replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

/** `--graceful-timeout <seconds>` -> `gracefulTimeout`, the key commander stores it under. */
function commanderKey(flags: string): string {
  return flagName(flags)
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** The positional app and its args can come from the environment too (systemd EnvironmentFile=). */
export const APP_ENV = 'CHAUSSETTE_APP';
export const ARGS_ENV = 'CHAUSSETTE_ARGS';

export type ParseResult = { kind: 'run'; options: Options } | { kind: 'exit'; output: string };

const ADDRESS_KEYS = new Set<keyof Options>(['host', 'port']);

function buildCommand(version: string): Command {
  const program = new Command('chaussette')
    .usage('[options] [app] [args...]')
    .description(
      'Serve a Node.js HTTP app on sockets that systemd, Circus or Supervisor opened, or on one it binds.\n' +
        'app: ./server.js, ./app.mjs:export or a package; a (req, res) listener, Koa, Fastify, { fetch } or a factory.\n' +
        'With no app, serves a hello app. With no socket option and no LISTEN_FDS, binds localhost:8080.\n' +
        'Several processes: --workers N hands connections evenly to N workers, replaced one at a time on SIGHUP (systemctl reload). ' +
        "A manager's numprocs (Circus, Supervisor) runs N chaussettes on its socket and lets the kernel choose: faster for short connections, uneven with keep-alive.",
    )
    .argument('[app]', `app module, optionally with :export (env: ${APP_ENV})`)
    .argument('[args...]', `arguments for an app factory (env: ${ARGS_ENV})`)
    .version(version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .passThroughOptions()
    .allowExcessArguments(true)
    .exitOverride();
  for (const spec of OPTION_TABLE) {
    const details = [spec.defaultText !== undefined ? `default: ${spec.defaultText}` : '', `env: ${envName(spec.flags)}`]
      .filter(Boolean)
      .join(', ');
    const option = new Option(spec.flags, `${spec.description} (${details})`);
    // Collect raw strings; our own parsers run afterwards so that CLI and
    // environment values are validated by the same code. A flag is just true.
    if (!spec.boolean) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    program.addOption(option);
  }
  return program;
}

export function helpText(version: string): string {
  return buildCommand(version).helpInformation();
}

/**
 * argv (without node and script) and an environment in; Options out.
 * Precedence: command line, then CHAUSSETTE_* variables, then defaults.
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv, version: string): ParseResult {
  const program = buildCommand(version);
  let output = '';
  let commanderError = '';
  program.configureOutput({
    writeOut: (s) => (output += s),
    writeErr: (s) => (commanderError += s),
  });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return { kind: 'exit', output };
      const message = (commanderError || error.message).trim().replace(/^error: /, '').split('\n')[0]!;
      throw errors.usage(message);
    }
    throw error;
  }

  const cli = program.opts<Record<string, string[] | true | undefined>>();
  const values: Record<string, unknown> = {};
  const fromCli = new Set<keyof Options>();
  const fromEnv = new Set<keyof Options>();
  for (const spec of OPTION_TABLE) {
    const flag = flagName(spec.flags);
    const raw = cli[commanderKey(spec.flags)];
    const envValue = env[envName(spec.flags)];
    if (raw === true) {
      values[spec.key] = true;
      fromCli.add(spec.key);
    } else if (raw !== undefined) {
      values[spec.key] = parseValues(spec, raw, flag);
      fromCli.add(spec.key);
    } else if (envValue !== undefined && envValue !== '') {
      values[spec.key] = parseValues(spec, [envValue], envName(spec.flags));
      fromEnv.add(spec.key);
    } else {
      values[spec.key] = spec.default;
    }
  }

  const [appArg, extra] = program.processedArgs as [string | undefined, string[]];
  const app = appArg ?? (env[APP_ENV] || undefined);
  const args = appArg !== undefined ? extra : (env[ARGS_ENV] ?? '').split(/\s+/).filter(Boolean);

  return {
    kind: 'run',
    options: {
      ...(values as Omit<Options, 'app' | 'args' | 'socketChoice'>),
      app,
      args,
      socketChoice: socketChoice(fromCli, fromEnv),
    } as Options,
  };
}

function parseValues(spec: OptionSpec, raw: string[], flag: string): unknown {
  if (spec.repeatable) return raw.flatMap((value) => spec.parse(value, flag) as string[]);
  return spec.parse(raw[raw.length - 1]!, flag);
}

/**
 * The socket is one setting with two forms. The highest layer that names
 * either form decides; naming both in one layer is a usage error. So an
 * EnvironmentFile= with CHAUSSETTE_PORT can still be overridden by --fd.
 */
function socketChoice(fromCli: Set<keyof Options>, fromEnv: Set<keyof Options>): Options['socketChoice'] {
  for (const [layer, name] of [
    [fromCli, 'on the command line'],
    [fromEnv, 'in CHAUSSETTE_* variables'],
  ] as const) {
    const fd = layer.has('fds');
    const address = [...ADDRESS_KEYS].some((key) => layer.has(key));
    if (fd && address) throw errors.fdAndAddress(name);
    if (fd) return 'fd';
    if (address) return 'address';
  }
  return 'none';
}

export { ChaussetteError };
