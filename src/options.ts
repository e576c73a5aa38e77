// The command line and its environment twin, turned into one Options object.
//
// Every option is declared once in OPTION_TABLE: its flag, its CHAUSSETTE_*
// variable, its key in a --config file, its default and its parser. Help
// text, environment and file handling and the documentation checks all read
// the same table. Parsing is pure: argv, an environment and a way to read the
// configuration file in, Options and warnings out (or a ChaussetteError:
// exit 64 for the command line and the environment, 78 for the file).

import { availableParallelism } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { closestKey, type ConfigEntry, type ConfigKey, parseConfig, type RelativeTo, resolveFromConfig } from './config/parse.js';
import type { ConfigReader } from './config/read.js';
import { ChaussetteError, errors } from './errors.js';
import { SIGNAL_HELP } from './signals.js';
import { isUnixHost, parseHost } from './sockets/address.js';
import { WORKER_VARIABLE } from './workers/protocol.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const ACCESS_LOG_FORMATS = ['off', 'common', 'combined', 'json'] as const;
export type AccessLogFormat = (typeof ACCESS_LOG_FORMATS)[number];

export interface Options {
  /** Module spec of the app (`./app.js`, `pkg:export`); undefined serves the hello app. */
  app: string | undefined;
  /** Extra positional arguments, handed to an app factory. */
  args: string[];
  /** The configuration file as named (`-` first: optional); undefined: none. */
  config: string | undefined;
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
  /** At stop, how long a keep-alive connection with nothing in flight stays open for its client's next request (seconds). */
  drainLinger: number;
  preHook: string | undefined;
  postHook: string | undefined;
  require: string[];
  logLevel: LogLevel;
  logOutput: string;
  /** One line per request to the log output, in this format; off by default. */
  accessLog: AccessLogFormat;
  /** Where those lines go, when not where the log goes: `-` (standard output) or a file. */
  accessLogOutput: string | undefined;
  /** Path the watchdog asks through our own socket before each ping; undefined: ping unconditionally. */
  watchdogProbe: string | undefined;
  /** Worker processes sharing the sockets; 0 serves in this process. */
  workers: number;
  /** With several workers: every connection from one client address to the same worker (socket.io long-polling). */
  sticky: boolean;
  /** Development: replace the workers when the app's files change. */
  reload: boolean;
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  maxHeaderSize: number;
  /** Largest request body accepted, in bytes (answered 413 above); 0: no limit. */
  maxBodySize: number;
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
  /** A path that, written relatively in a --config file, is relative to the file's directory. */
  relativeTo?: RelativeTo;
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

/**
 * The longest duration an option takes, in seconds (about 23 days). Node's
 * timers hold at most 2^31-1 ms (24.8 days) and fire after 1 ms beyond that,
 * which would turn a long --graceful-timeout into an instant stop; the
 * margin leaves room for the few seconds some deadlines add to an option.
 */
export const MAX_SECONDS = 2_000_000;

const seconds: Parse = (value, flag) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_SECONDS) {
    throw errors.badOptionValue(flag, value, `a number of seconds from 0 to ${MAX_SECONDS} (about 23 days, as long as Node.js timers go)`);
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

/**
 * `--fd 3 --fd web`, `--fd 3,4` and CHAUSSETTE_FD="3,web" all give a list.
 * A value that lists nothing (`--fd ''`, `,`) is an error: an empty --fd
 * would serve no socket at all, which reads as a finished connection.
 */
const list =
  (expected: string): Parse =>
  (value, flag) => {
    const items = value
      .split(/[,\s]+/)
      .map((item) => item.trim())
      .filter((item) => item !== '');
    if (items.length === 0) throw errors.badOptionValue(flag, value, expected);
    return items;
  };

export const OPTION_TABLE: readonly OptionSpec[] = [
  {
    key: 'config',
    flags: '--config <file>',
    description:
      'read the app and options from a file of key = value lines; -file: only if it exists. The command line and CHAUSSETTE_* win over it',
    default: undefined,
    parse: (value, flag) => {
      if (value.replace(/^-/, '') === '') throw errors.badOptionValue(flag, value, 'a file path, or -path for an optional file');
      return value;
    },
  },
  {
    key: 'host',
    flags: '--host <host>',
    description: 'address to bind (0.0.0.0 or :: for every interface; empty: not set), or unix:/path for a unix socket',
    default: 'localhost',
    defaultText: 'localhost',
    parse: parseHost,
  },
  {
    key: 'port',
    flags: '--port <port>',
    description: 'TCP port to bind (0: any free port); if not set, PORT is, except with --fd, LISTEN_FDS or unix:',
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
    parse: list('an fd number or name, or a comma-separated list of them'),
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
    relativeTo: 'file',
  },
  {
    key: 'keyfile',
    flags: '--keyfile <file>',
    description: 'TLS private key, PEM; re-read on SIGHUP',
    default: undefined,
    parse: text,
    relativeTo: 'file',
  },
  {
    key: 'caCerts',
    flags: '--ca-certs <file>',
    description: 'CA certificates, PEM: clients must present a certificate they signed (mutual TLS)',
    default: undefined,
    parse: text,
    relativeTo: 'file',
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
    key: 'drainLinger',
    flags: '--drain-linger <seconds>',
    description: "on stop, how long a quiet keep-alive connection stays open for its client's next request, answered with Connection: close",
    default: 0.25,
    defaultText: '0.25',
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
    key: 'maxBodySize',
    flags: '--max-body-size <bytes>',
    description: 'largest request body accepted (answered 413 above); 0: no limit, the app\'s own applies',
    default: 0,
    defaultText: '0',
    parse: integer(0, Number.MAX_SAFE_INTEGER, 'a size in bytes (0: no limit)'),
  },
  {
    key: 'preHook',
    flags: '--pre-hook <module[:export]>',
    description: 'function called with the options before serving',
    default: undefined,
    parse: text,
    relativeTo: 'module',
  },
  {
    key: 'postHook',
    flags: '--post-hook <module[:export]>',
    description: 'function called with the options after stopping',
    default: undefined,
    parse: text,
    relativeTo: 'module',
  },
  {
    key: 'require',
    flags: '--require <module>',
    description: 'module imported before the app (instrumentation, dotenv); repeatable, or comma-separated',
    default: [],
    parse: list('a module, or a comma-separated list of modules'),
    repeatable: true,
    relativeTo: 'module',
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
    relativeTo: 'file',
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
    key: 'accessLogOutput',
    flags: '--access-log-output <file>',
    description: "where --access-log writes: - for standard output, or a file path (SIGUSR1 reopens it); unset: the log's output",
    default: undefined,
    parse: (value, flag) => {
      if (value === '') throw errors.badOptionValue(flag, value, '- or a file path');
      return value;
    },
    relativeTo: 'file',
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
    key: 'sticky',
    flags: '--sticky',
    description:
      'with --workers: every connection from one client address goes to the same worker, so socket.io long-polling works; unix-socket clients all go to one',
    default: false,
    parse: yesNo,
    boolean: true,
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

/** `--graceful-timeout <seconds>` -> `graceful-timeout`, its key in a --config file. */
export function configKey(flags: string): string {
  return flagName(flags).replace(/^--/, '');
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
/** ...and from the configuration file. */
export const APP_KEY = 'app';
export const ARGS_KEY = 'args';

/**
 * The keys a configuration file may hold: every option of the table, so that
 * a new option works in the file the day it is added, and the app with its
 * args. `config` is known only to be refused with its own message.
 */
export const CONFIG_KEYS: ReadonlyMap<string, ConfigKey> = new Map([
  ...OPTION_TABLE.map((spec): [string, ConfigKey] => [configKey(spec.flags), { repeatable: spec.repeatable === true }]),
  [APP_KEY, { repeatable: false }],
  [ARGS_KEY, { repeatable: false }],
]);

/** The default reader knows no file: tests and callers that never read one stay pure. */
const NO_FILES: ConfigReader = (path, optional) => {
  if (optional) return undefined;
  throw errors.configNotFound(path);
};

interface LoadedConfig {
  path: string;
  entries: Map<string, ConfigEntry[]>;
}

/** `warnings`: one line each, for the log once it is open (an unknown CHAUSSETTE_* variable). */
export type ParseResult = { kind: 'run'; options: Options; warnings: string[] } | { kind: 'exit'; output: string };

const ADDRESS_KEYS = new Set<keyof Options>(['host', 'port']);

function buildCommand(version: string): Command {
  const program = new Command('chaussette')
    .usage('[options] [app] [args...]')
    .description(
      'Serve a Node.js HTTP app on sockets that systemd, Circus or Supervisor opened, or on one it binds.\n' +
        'app: ./server.js, ./app.mjs:export or a package; a (req, res) listener, Koa, Fastify, NestJS, { fetch }, an http.Server or a factory.\n' +
        'With no app, serves a hello app. With no socket option and no LISTEN_FDS, binds localhost:8080.\n' +
        'Several processes: --workers N hands connections evenly to N workers (--sticky: by client address), replaced one at a time on SIGHUP (systemctl reload). ' +
        "A manager's numprocs (Circus, Supervisor) runs N chaussettes on its socket and lets the kernel choose: faster for short connections, uneven with keep-alive.\n" +
        'Options may come before or after the app; arguments for the app that start with - go after --: chaussette app.js --fd 3 -- --verbose.',
    )
    .argument('[app]', `app module, optionally with :export (env: ${APP_ENV})`)
    .argument('[args...]', `arguments for an app factory; those starting with - after -- (env: ${ARGS_ENV})`)
    .version(version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    // Options anywhere, as argparse, gunicorn and uvicorn take them: Circus users
    // write `chaussette app.js --fd $(circus.sockets.web)`. Words after the app
    // are its arguments; `--` ends chaussette's options for those that look like one.
    .allowExcessArguments(true)
    // closestKey() suggests instead, as it does for the file's keys and the variables.
    .showSuggestionAfterError(false)
    .exitOverride()
    .addHelpText('after', signalsHelp());
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
  return buildCommand(version).helpInformation() + signalsHelp();
}

/** The signal table, after the options (from signals.ts, where the table lives). */
export function signalsHelp(): string {
  const rows = SIGNAL_HELP.flatMap(({ signal, single, primary }) => [`  ${signal.padEnd(9)} ${single}`, `  ${''.padEnd(9)} with --workers: ${primary}`]);
  return `\nSignals:\n${rows.join('\n')}\n  A worker of --workers acts on none of them: its primary tells it what to do.\n`;
}

/**
 * argv (without node and script), an environment and a reader for the
 * configuration file in; Options out. Precedence, option by option: command
 * line, then CHAUSSETTE_* variables, then the file (--config or
 * CHAUSSETTE_CONFIG), then (the port only) PORT, then defaults.
 */
export function parseCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  version: string,
  readConfig: ConfigReader = NO_FILES,
): ParseResult {
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
      if (error.code === 'commander.unknownOption') throw unknownOption(argv, version);
      const message = (commanderError || error.message).trim().replace(/^error: /, '').split('\n')[0]!;
      throw errors.usage(message);
    }
    throw error;
  }

  const cli = program.opts<Record<string, string[] | true | undefined>>();
  const fromCommandLine = (spec: OptionSpec): unknown => {
    const raw = cli[commanderKey(spec.flags)];
    return raw === true || raw === undefined ? raw : parseValues(spec, raw, flagName(spec.flags));
  };
  const fromEnvironment = (spec: OptionSpec): unknown => {
    const value = env[envName(spec.flags)];
    return value === undefined || value === '' ? undefined : parseValues(spec, [value], envName(spec.flags));
  };

  // The file is the third layer; which file is itself decided by the first two.
  const configSpec = OPTION_TABLE.find((spec) => spec.key === 'config')!;
  const config = (fromCommandLine(configSpec) ?? fromEnvironment(configSpec)) as string | undefined;
  const file = config === undefined ? undefined : loadConfig(config, readConfig);

  const values: Record<string, unknown> = {};
  const fromCli = new Set<keyof Options>();
  const fromEnv = new Set<keyof Options>();
  const fromFile = new Map<keyof Options, number>();
  for (const spec of OPTION_TABLE) {
    const cliValue = fromCommandLine(spec);
    const envValue = cliValue === undefined ? fromEnvironment(spec) : undefined;
    // Every value of the file is checked, even one a higher layer overrides:
    // a bad file fails today, not the day someone drops an override.
    const entries = file?.entries.get(configKey(spec.flags));
    if (entries) fromFile.set(spec.key, entries[0]!.line);
    const fileValue = file && entries ? parseEntries(spec, entries, file.path) : undefined;
    if (cliValue !== undefined) {
      values[spec.key] = cliValue;
      fromCli.add(spec.key);
    } else if (envValue !== undefined) {
      values[spec.key] = envValue;
      fromEnv.add(spec.key);
    } else if (entries) {
      values[spec.key] = fileValue;
    } else {
      values[spec.key] = spec.default;
    }
  }

  checkUnixPort(values, fromCli, fromEnv, file);
  const choice = socketChoice(fromCli, fromEnv, file && { path: file.path, lines: fromFile });
  const portSet = fromCli.has('port') || fromEnv.has('port') || fromFile.has('port');
  const platformPort = portSet ? undefined : portFromPlatform(env, choice, values.host as string);
  if (platformPort !== undefined) values.port = platformPort;

  const [appArg, extra] = program.processedArgs as [string | undefined, string[]];
  const appEntry = file?.entries.get(APP_KEY)?.[0];
  const argsEntry = file?.entries.get(ARGS_KEY)?.[0];
  const app = appArg ?? (env[APP_ENV] || (file && appEntry ? resolveFromConfig(appEntry.value, 'module', file.path) : undefined));
  const words = (text: string | undefined) => (text ?? '').split(/\s+/).filter(Boolean);
  // Arguments typed after the app belong to it; otherwise they are a setting like any other.
  const args = appArg !== undefined ? extra : env[ARGS_ENV] ? words(env[ARGS_ENV]) : words(argsEntry?.value);

  return {
    kind: 'run',
    options: { ...(values as Omit<Options, 'app' | 'args' | 'socketChoice'>), app, args, socketChoice: choice } as Options,
    warnings: unknownVariables(env),
  };
}

/**
 * The first option commander does not know, with what was most likely meant:
 * a flag a typo away, or, after the app, `--` before an option of the app's.
 */
function unknownOption(argv: readonly string[], version: string): ChaussetteError {
  // commander's own split: the operands met before the first unknown option, and that option.
  const { operands, unknown } = buildCommand(version)
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .parseOptions([...argv]);
  const flag = unknown[0] ?? '';
  const closest = flag.startsWith('--') ? closestKey(flag.slice(2).replace(/=.*$/s, ''), OPTION_TABLE.map((spec) => configKey(spec.flags))) : undefined;
  return errors.unknownOption(flag, closest === undefined ? undefined : `--${closest}`, operands[0]);
}

/** The platforms' variable (Heroku, Cloud Run, Render...), which most Node servers read. */
export const PLATFORM_PORT_ENV = 'PORT';

/**
 * PORT, below every layer that names the port and above the default. It
 * never moves a socket someone else chose: with --fd, LISTEN_FDS (when no
 * layer named an address, the fds are served) or a unix socket, it is
 * ignored, and not even checked.
 */
function portFromPlatform(env: NodeJS.ProcessEnv, choice: Options['socketChoice'], host: string): number | undefined {
  const value = env[PLATFORM_PORT_ENV];
  if (value === undefined || value === '') return undefined;
  if (choice === 'fd' || (choice === 'none' && env.LISTEN_FDS) || isUnixHost(host)) return undefined;
  return OPTION_TABLE.find((spec) => spec.key === 'port')!.parse(value, PLATFORM_PORT_ENV) as number;
}

/**
 * The CHAUSSETTE_* variables chaussette sets for itself: a worker's slot
 * (workers/protocol.ts), and the build's request to write the code cache
 * (bin.cts, set by scripts/bundle.mjs).
 */
const INTERNAL_VARIABLES = [WORKER_VARIABLE, 'CHAUSSETTE_WRITE_CODE_CACHE'];

/**
 * A CHAUSSETTE_* variable that names nothing is a typo the file would have
 * refused (CHAUSSETTE_PROT=9000): one warning line each, with the variable
 * it most likely meant, found as for an unknown key of the file.
 */
function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const keys = [...CONFIG_KEYS.keys()];
  const variable = (key: string) => envName(`--${key}`);
  const known = new Set([...keys.map(variable), ...INTERNAL_VARIABLES]);
  return Object.keys(env)
    .filter((name) => /^chaussette_/i.test(name) && !known.has(name))
    .sort()
    .map((name) => {
      const closest = closestKey(name, keys);
      const hint = closest ? `did you mean ${variable(closest)}?` : `the variables are ${APP_ENV}, ${ARGS_ENV} and the long options, as listed by chaussette --help`;
      return `unknown variable ${name} ignored: ${hint}`;
    });
}

function parseValues(spec: OptionSpec, raw: string[], flag: string): unknown {
  if (spec.repeatable) return raw.flatMap((value) => spec.parse(value, flag) as string[]);
  return spec.parse(raw[raw.length - 1]!, flag);
}

/** `-/etc/chaussette/app.conf` is optional: a missing file is no layer at all. */
function loadConfig(named: string, readConfig: ConfigReader): LoadedConfig | undefined {
  const optional = named.startsWith('-');
  const path = optional ? named.slice(1) : named;
  const text = readConfig(path, optional);
  if (text === undefined) return undefined;
  const entries = parseConfig(text, path, CONFIG_KEYS);
  const nested = entries.get(configKey(OPTION_TABLE.find((spec) => spec.key === 'config')!.flags));
  if (nested) {
    throw errors.configLine(path, nested[0]!.line, 'config cannot be set inside a configuration file', 'give the one file with --config or CHAUSSETTE_CONFIG');
  }
  return { path, entries };
}

/**
 * A file's values go through the option's own parser, as command-line and
 * environment values do; a bad one is reported at its line, by its key.
 */
function parseEntries(spec: OptionSpec, entries: ConfigEntry[], path: string): unknown {
  const parseOne = (entry: ConfigEntry): unknown => {
    let value: unknown;
    try {
      value = spec.parse(entry.value, entry.key);
    } catch (error) {
      if (error instanceof ChaussetteError) throw errors.configLine(path, entry.line, error.message, error.hint);
      throw error;
    }
    if (!spec.relativeTo) return value;
    const relativeTo = spec.relativeTo;
    const resolve = (item: string) => resolveFromConfig(item, relativeTo, path);
    return Array.isArray(value) ? (value as string[]).map(resolve) : resolve(value as string);
  };
  return spec.repeatable ? entries.flatMap((entry) => parseOne(entry) as string[]) : parseOne(entries[0]!);
}

/**
 * The socket is one setting with two forms. The highest layer that names
 * either form decides; naming both in one layer is an error. So an
 * EnvironmentFile= with CHAUSSETTE_PORT can still be overridden by --fd, and
 * CHAUSSETTE_FD overrides port = in the configuration file.
 */
function socketChoice(
  fromCli: Set<keyof Options>,
  fromEnv: Set<keyof Options>,
  fromFile: { path: string; lines: Map<keyof Options, number> } | undefined,
): Options['socketChoice'] {
  // One file naming both is a contradiction in the file, whatever overrides it.
  const fileChoice = fromFile && chooseInFile(fromFile.path, fromFile.lines);
  for (const [layer, name] of [
    [fromCli, 'on the command line'],
    [fromEnv, 'in CHAUSSETTE_* variables'],
  ] as const) {
    const choice = choose(layer.has('fds'), [...ADDRESS_KEYS].some((key) => layer.has(key)));
    if (choice === 'both') throw errors.fdAndAddress(name);
    if (choice) return choice;
  }
  return fileChoice ?? 'none';
}

function chooseInFile(path: string, lines: Map<keyof Options, number>): 'fd' | 'address' | undefined {
  const addressLine = [...ADDRESS_KEYS].map((key) => lines.get(key)).find((line) => line !== undefined);
  const choice = choose(lines.has('fds'), addressLine !== undefined);
  if (choice !== 'both') return choice;
  const fdLine = lines.get('fds')!;
  throw errors.configLine(
    path,
    Math.max(fdLine, addressLine!),
    `fd (line ${fdLine}) and host/port (line ${addressLine}) are both set; a socket comes from one or the other`,
    'keep fd to serve inherited sockets, or host/port to bind one',
  );
}

/**
 * A unix socket has no port. A port given beside a unix: host, or on a
 * higher layer than it, would be ignored without a word: refused. A port on
 * a lower layer is overridden with the rest of that layer's address.
 */
function checkUnixPort(values: Record<string, unknown>, fromCli: Set<keyof Options>, fromEnv: Set<keyof Options>, file: LoadedConfig | undefined): void {
  const hostSpec = OPTION_TABLE.find((spec) => spec.key === 'host')!;
  const portSpec = OPTION_TABLE.find((spec) => spec.key === 'port')!;
  const inFile = (spec: OptionSpec) => file?.entries.get(configKey(spec.flags))?.[0];
  // One file naming both is a contradiction in the file, whatever overrides it.
  const fileHost = inFile(hostSpec);
  const filePort = inFile(portSpec);
  if (file && fileHost && filePort && isUnixHost(fileHost.value)) {
    throw errors.configLine(
      file.path,
      Math.max(fileHost.line, filePort.line),
      `host ${fileHost.value} (line ${fileHost.line}) is a unix socket, which has no port, but port is set (line ${filePort.line})`,
      'drop port, or give a TCP host such as 127.0.0.1',
    );
  }
  if (!isUnixHost(values.host as string)) return;
  const layer = (spec: OptionSpec) => (fromCli.has(spec.key) ? 3 : fromEnv.has(spec.key) ? 2 : inFile(spec) ? 1 : 0);
  if (layer(portSpec) === 0 || layer(portSpec) < layer(hostSpec)) return;
  const named = (spec: OptionSpec) => {
    const value = String(values[spec.key]);
    const where = layer(spec);
    if (where === 3) return `${flagName(spec.flags)} ${value}`;
    if (where === 2) return `${envName(spec.flags)}=${value}`;
    return `${configKey(spec.flags)} = ${value} (${file!.path} line ${inFile(spec)!.line})`;
  };
  throw errors.unixHostWithPort(named(hostSpec), named(portSpec));
}

function choose(fd: boolean, address: boolean): 'fd' | 'address' | 'both' | undefined {
  if (fd && address) return 'both';
  return fd ? 'fd' : address ? 'address' : undefined;
}

export { ChaussetteError };
