// The configuration file (--config FILE): its format, its place below the
// command line and CHAUSSETTE_* and above the defaults, paths relative to it,
// and its errors, from the pure parser up to a real process serving what the
// file names.
import t, { type Test } from 'tap';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closestKey, parseConfig, resolveFromConfig } from '../src/config/parse.js';
import { readConfigFile } from '../src/config/read.js';
import { CONFIG_KEYS, OPTION_TABLE, configKey, parseCommandLine } from '../src/options.js';
import { cleanEnv, FIXTURES, freePort, listeningSocket, parse, request, runToExit, startChaussette, stdioWith, thrown } from './helpers.js';

const FILE = '/etc/chaussette/app.conf';

/** Options with FILE, holding `text`, named by --config (in a pretend file system: nothing else exists). */
const withFile = (text: string, argv: string[] = [], env: NodeJS.ProcessEnv = {}) => parse(['--config', FILE, ...argv], env, { [FILE]: text });

t.test('format: comments, blank lines, the [chaussette] section, spaces around =, quotes', async (t) => {
  const entries = parseConfig(
    '\uFEFF# a comment\n; another\n\n[chaussette]\r\n  port=9000  \nhost = "127.0.0.1"\nlog-output = \'/var/log/app log\'\napp = ./a=b.js\n',
    FILE,
    CONFIG_KEYS,
  );
  t.same(
    [...entries.values()].flat(),
    [
      { key: 'port', value: '9000', line: 5 },
      { key: 'host', value: '127.0.0.1', line: 6 },
      { key: 'log-output', value: '/var/log/app log', line: 7 },
      { key: 'app', value: './a=b.js', line: 8 },
    ],
    'a value may hold = itself; quotes of either kind go, CRLF and a BOM are fine',
  );
  t.same([...parseConfig('', FILE, CONFIG_KEYS)], [], 'an empty file sets nothing');
  t.same([...parseConfig('backlog =\n', FILE, CONFIG_KEYS)], [], 'an empty value counts as not set, as an empty variable does');
  t.same(withFile('port = "8000"\n').port, 8000, 'a quoted number is a number');
});

t.test('keys are the table\'s long options without --, plus app and args', async (t) => {
  const expected = [...OPTION_TABLE.map((spec) => spec.flags.split(' ')[0]!.slice(2)), 'app', 'args'];
  t.same([...CONFIG_KEYS.keys()].sort(), expected.sort());
  t.equal(configKey('--graceful-timeout <seconds>'), 'graceful-timeout');
  t.same(CONFIG_KEYS.get('fd'), { repeatable: true });
  t.same(CONFIG_KEYS.get('port'), { repeatable: false });
});

t.test('every option of the table is read from the file through its own parser', async (t) => {
  const options = withFile(
    [
      'host = 127.0.0.1',
      'port = 9001',
      'backlog = 128',
      'graceful-timeout = 2.5',
      'keep-alive-timeout = 70',
      'headers-timeout = 20',
      'request-timeout = 0',
      'max-header-size = 8192',
      'log-level = debug',
      'workers = 3',
      'reload = yes',
      'watchdog-probe = /health',
      'backend = http',
    ].join('\n'),
  );
  t.match(options, {
    config: FILE,
    host: '127.0.0.1',
    port: 9001,
    backlog: 128,
    gracefulTimeout: 2.5,
    keepAliveTimeout: 70,
    headersTimeout: 20,
    requestTimeout: 0,
    maxHeaderSize: 8192,
    logLevel: 'debug',
    workers: 3,
    reload: true,
    watchdogProbe: '/health',
    backend: 'http',
    socketChoice: 'address',
  });
  for (const word of ['no', 'false', '0', 'off']) t.equal(withFile(`reload = ${word}`).reload, false, `reload = ${word}`);
  for (const word of ['on', 'true', '1', 'YES']) t.equal(withFile(`reload = ${word}`).reload, true, `reload = ${word}`);
});

t.test('repeatable keys repeat or comma-separate; any other key given twice names both lines', async (t) => {
  t.same(withFile('fd = 3\nfd = web, admin\n').fds, ['3', 'web', 'admin']);
  t.same(withFile('require = pkg-a,pkg-b\nrequire = pkg-c\n').require, ['pkg-a', 'pkg-b', 'pkg-c']);
  const error = thrown(() => withFile('# top\nport = 80\nhost = ::1\nport = 81\n'));
  t.equal(error.oneLine(), `chaussette: ERR_CONFIG: ${FILE} line 4: port is already set on line 2 (hint: give port once)`);
  t.equal(error.exitCode, 78);
});

t.test('a bad file is one error naming the file, the line and the key', async (t) => {
  const cases: Array<[string, string]> = [
    ['\n\n\nprot = 80\n', `${FILE} line 4: unknown key "prot" (hint: did you mean "port"?`],
    ['CHAUSSETTE_GRACEFUL_TIMEOUT = 5\n', `${FILE} line 1: unknown key "CHAUSSETTE_GRACEFUL_TIMEOUT" (hint: did you mean "graceful-timeout"?`],
    ['frobnicate = 1\n', `${FILE} line 1: unknown key "frobnicate" (hint: keys are the long options without -- (chaussette --help), and app, args)`],
    ['# fine\n\n\n\n\n\ngraceful-timeout = soon\n', `${FILE} line 7: graceful-timeout "soon" is not a number of seconds from 0 to 2000000 (about 23 days, as long as Node.js timers go)`],
    ['port = 70000\n', `${FILE} line 1: port "70000" is not a port number (0-65535)`],
    ['reload = maybe\n', `${FILE} line 1: reload "maybe" is not one of 1, true, yes, on, 0, false, no, off`],
    ['log-level = loud\n', `${FILE} line 1: log-level "loud" is not one of fatal, error`],
    ['port 8080\n', `${FILE} line 1: "port 8080" is not a key = value line`],
    ['= 8080\n', `${FILE} line 1: a value without a key`],
    ['[server]\nport = 1\n', `${FILE} line 1: section [server] is not known (hint: the only section is [chaussette]`],
    ['port = 1\n[chaussette]\n', `${FILE} line 2: [chaussette] after a key (line 1)`],
    ['[chaussette]\n[chaussette]\n', `${FILE} line 2: [chaussette] again (first on line 1)`],
    ['app = ./a.js\napp = ./b.js\n', `${FILE} line 2: app is already set on line 1`],
    ['config = /etc/other.conf\n', `${FILE} line 1: config cannot be set inside a configuration file`],
    ['fd = 3\nhost = 0.0.0.0\n', `${FILE} line 2: fd (line 1) and host/port (line 2) are both set; a socket comes from one or the other`],
  ];
  for (const [text, expected] of cases) {
    const error = thrown(() => withFile(text));
    t.equal(error.exitCode, 78, `${JSON.stringify(text)}: exit 78`);
    t.equal(error.oneLine().slice(0, `chaussette: ERR_CONFIG: ${expected}`.length), `chaussette: ERR_CONFIG: ${expected}`);
    t.notMatch(error.oneLine(), /\n/, 'one line');
  }
});

t.test('the closest key, for a typo', async (t) => {
  const known = [...CONFIG_KEYS.keys()];
  t.equal(closestKey('prot', known), 'port');
  t.equal(closestKey('graceful_timeout', known), 'graceful-timeout');
  t.equal(closestKey('workrs', known), 'workers');
  t.equal(closestKey('x', known), undefined, 'no suggestion is better than a far-fetched one');
});

t.test('precedence, option by option: command line > CHAUSSETTE_* > file > default', async (t) => {
  const text = 'graceful-timeout = 7\nlog-level = warn\n';
  t.equal(parse([], {}).gracefulTimeout, 30, 'default');
  t.equal(withFile(text).gracefulTimeout, 7, 'file over default');
  t.equal(withFile(text, [], { CHAUSSETTE_GRACEFUL_TIMEOUT: '8' }).gracefulTimeout, 8, 'environment over file');
  t.equal(withFile(text, ['--graceful-timeout', '9'], { CHAUSSETTE_GRACEFUL_TIMEOUT: '8' }).gracefulTimeout, 9, 'command line over both');
  t.equal(withFile(text, [], { CHAUSSETTE_GRACEFUL_TIMEOUT: '' }).gracefulTimeout, 7, 'an empty variable does not hide the file');
  t.equal(withFile(text, ['--graceful-timeout', '9']).logLevel, 'warn', 'per option: the file still sets the others');
  t.same(withFile('fd = 3\n', ['--fd', '4']).fds, ['4'], 'a repeatable option is replaced by a higher layer, not merged');
  t.equal(withFile('reload = yes\n', [], { CHAUSSETTE_RELOAD: 'no' }).reload, false, 'a boolean: environment over file');
  const overridden = thrown(() => withFile('graceful-timeout = soon\n', ['--graceful-timeout', '1'], { CHAUSSETTE_GRACEFUL_TIMEOUT: '2' }));
  t.equal(overridden.code, 'ERR_CONFIG', 'a bad value is an error even where a higher layer overrides it: the file is checked whole');
});

t.test('the file is named by --config or CHAUSSETTE_CONFIG; the command line wins', async (t) => {
  t.equal(parse([], { CHAUSSETTE_CONFIG: FILE }, { [FILE]: 'port = 9100\n' }).port, 9100);
  const reads: string[] = [];
  const result = parseCommandLine(['--config', '/a.conf'], { CHAUSSETTE_CONFIG: '/b.conf' }, '0.0.0', (path) => (reads.push(path), 'port = 1\n'));
  t.same(reads, ['/a.conf'], 'only the command line\'s file is read');
  t.equal(result.kind === 'run' && result.options.config, '/a.conf');
  t.equal(parse([], {}).config, undefined);
  t.equal(thrown(() => parse(['--config', '-'], {})).code, 'ERR_USAGE_VALUE', 'a lone - names no file');
});

t.test('-FILE is optional: a missing file is no layer; a missing FILE is an error', async (t) => {
  t.match(parse(['--config', '-/nowhere.conf'], {}), { config: '-/nowhere.conf', port: 8080, app: undefined });
  t.equal(parse([], { CHAUSSETTE_CONFIG: `-${FILE}` }, { [FILE]: 'port = 9200\n' }).port, 9200, 'an optional file that exists is read');
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(readConfigFile(join(dir, 'missing.conf'), true), undefined);
  const missing = thrown(() => readConfigFile(join(dir, 'missing.conf'), false));
  t.equal(missing.code, 'ERR_CONFIG_NOT_FOUND');
  t.equal(missing.exitCode, 78);
  const directory = thrown(() => readConfigFile(dir, true));
  t.match(directory.oneLine(), /^chaussette: ERR_CONFIG_NOT_FILE: configuration file .* is a directory, not a regular file/, 'an optional file that cannot be read is still an error');
});

t.test('socket choice: the highest layer naming fd or host/port decides, the file being the third', async (t) => {
  t.equal(withFile('fd = 3\n').socketChoice, 'fd');
  t.equal(withFile('port = 81\n').socketChoice, 'address');
  t.equal(withFile('fd = 3\n', ['--port', '81']).socketChoice, 'address', 'command line over file');
  t.equal(withFile('port = 81\n', [], { CHAUSSETTE_FD: '3' }).socketChoice, 'fd', 'environment over file');
  t.equal(thrown(() => withFile('port = 81\nfd = 3\n', ['--port', '82'])).code, 'ERR_CONFIG', 'a file naming both is an error, whatever overrides it');
  t.equal(thrown(() => withFile('port = 81\n', ['--fd', '3', '--host', 'x'])).code, 'ERR_USAGE_FD_AND_ADDRESS', 'both on the command line is still a usage error');
});

t.test('app and args: positional > CHAUSSETTE_APP/ARGS > file', async (t) => {
  const text = 'app = my-package:create\nargs = "prod  eu-west"\n';
  t.match(withFile(text), { app: 'my-package:create', args: ['prod', 'eu-west'] }, 'a package name stays a package name');
  t.match(withFile(text, [], { CHAUSSETTE_APP: './env.js' }), { app: './env.js', args: ['prod', 'eu-west'] }, 'args are a setting of their own');
  t.match(withFile(text, [], { CHAUSSETTE_APP: './env.js', CHAUSSETTE_ARGS: 'x' }), { app: './env.js', args: ['x'] });
  t.match(withFile(text, ['./cli.js']), { app: './cli.js', args: [] }, 'an app on the command line brings its own (no) args');
  t.match(withFile(text, ['./cli.js', 'a']), { app: './cli.js', args: ['a'] });
});

t.test('relative paths in the file are relative to its directory', async (t) => {
  const options = withFile(
    'app = ./server.mjs:create\npre-hook = ../hooks/pre.mjs\npost-hook = hooks-package:post\nrequire = ./preload.cjs, dotenv/config\nlog-output = logs/app.log\naccess-log-output = logs/access.log\n',
  );
  t.match(options, {
    app: '/etc/chaussette/server.mjs:create',
    preHook: '/hooks/pre.mjs',
    postHook: 'hooks-package:post',
    require: ['/etc/chaussette/preload.cjs', 'dotenv/config'],
    logOutput: '/etc/chaussette/logs/app.log',
    accessLogOutput: '/etc/chaussette/logs/access.log',
  });
  t.equal(withFile('log-output = -\n').logOutput, '-', '- stays standard output');
  t.equal(withFile('access-log-output = -\n').accessLogOutput, '-');
  t.equal(withFile('app = /srv/app/server.js\n').app, '/srv/app/server.js');
  t.match(withFile('log-output = x.log\napp = ./s.js\n', ['--log-output', 'y.log'], { CHAUSSETTE_APP: './e.js' }), { logOutput: 'y.log', app: './e.js' }, 'command-line and environment paths stay relative to the working directory');
  t.equal(resolveFromConfig('./server.js', 'module', 'conf/app.conf'), './conf/server.js', 'a relatively named file gives a path the module resolver still sees as one');
  t.equal(resolveFromConfig('../server.js', 'module', 'app.conf'), '../server.js');
});

// Real processes from here on.

function instanceDir(t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

t.test('the app, its args, a preload and the address all from the file, served for real', async (t) => {
  const dir = instanceDir(t, {
    'app.conf': [
      '# served by test/config.test.ts',
      '[chaussette]',
      'app = ./server.mjs:create',
      "args = 'prod eu-west'",
      'require = ./preload.cjs',
      'host = 127.0.0.1',
      'port = 0',
      'graceful-timeout = 3',
      '',
    ].join('\n'),
  });
  copyFileSync(join(FIXTURES, 'apps', 'factory-args.mjs'), join(dir, 'server.mjs'));
  copyFileSync(join(FIXTURES, 'apps', 'preload.cjs'), join(dir, 'preload.cjs'));
  // The working directory is the repository: ./server.mjs can only be found next to the file.
  const running = await startChaussette(['--config', join(dir, 'app.conf')]);
  t.teardown(() => running.stop());
  t.match(running.lines.find((line) => line.msg.startsWith('Serving on'))?.msg, /^Serving on 127\.0\.0\.1:\d+$/);
  const res = await request({ port: running.port() });
  t.equal(res.status, 200);
  t.same(JSON.parse(res.body), { args: ['prod', 'eu-west'], preloaded: 'yes' });
  t.ok(running.lines.some((line) => line.msg === `Application is ${join(dir, 'server.mjs')}:create (a (req, res) listener from a factory)`), 'the app spec as resolved from the file');
  t.equal(await running.stop(), 0);
});

t.test('precedence for real: CHAUSSETTE_PORT over the file, --port over both', async (t) => {
  const [filePort, envPort] = [await freePort(), await freePort()];
  const dir = instanceDir(t, { 'app.conf': `host = 127.0.0.1\nport = ${filePort}\n` });
  const config = join(dir, 'app.conf');

  const fromFile = await startChaussette(['--config', config]);
  t.equal(fromFile.port(), filePort, 'the file over the default 8080');
  await fromFile.stop();

  const fromEnv = await startChaussette([], { env: cleanEnv({ CHAUSSETTE_CONFIG: config, CHAUSSETTE_PORT: String(envPort) }) });
  t.equal(fromEnv.port(), envPort, 'CHAUSSETTE_PORT over the file');
  await fromEnv.stop();

  const fromCli = await startChaussette(['--config', config, '--port', '0'], { env: cleanEnv({ CHAUSSETTE_PORT: String(envPort) }) });
  t.not(fromCli.port(), filePort);
  t.not(fromCli.port(), envPort);
  t.equal((await request({ port: fromCli.port() })).body, 'Hello from chaussette\n');
  await fromCli.stop();
});

t.test('socket choice for real: CHAUSSETTE_FD over port = in the file', async (t) => {
  const dir = instanceDir(t, { 'app.conf': 'host = 127.0.0.1\nport = 1\n' });
  const { server, port, passable } = await listeningSocket();
  const running = await startChaussette([], {
    env: cleanEnv({ CHAUSSETTE_CONFIG: join(dir, 'app.conf'), CHAUSSETTE_FD: '3' }),
    stdio: stdioWith(3, passable),
  }).finally(() => server.close());
  t.teardown(() => running.stop());
  t.ok(running.lines.some((line) => line.msg === `Serving on fd 3 -> 127.0.0.1:${port}`), 'serves the inherited fd, never binds port 1');
  t.equal((await request({ port })).status, 200);
  t.equal(await running.stop(), 0);
});

t.test('a bad file exits 78 with one line on stderr and no stack trace', async (t) => {
  const dir = instanceDir(t, { 'app.conf': '[chaussette]\napp = ./server.mjs\n\ngraceful-timeout = soon\n' });
  const file = join(dir, 'app.conf');
  for (const [how, args, env] of [
    ['--config', ['--config', file], cleanEnv()],
    ['CHAUSSETTE_CONFIG', [], cleanEnv({ CHAUSSETTE_CONFIG: file })],
    ['CHAUSSETTE_CONFIG=-FILE', [], cleanEnv({ CHAUSSETTE_CONFIG: `-${file}` })],
  ] as const) {
    const { code, stdout, stderr } = await runToExit([...args], { env });
    t.equal(code, 78, `${how}: exit 78`);
    t.equal(stderr, `chaussette: ERR_CONFIG: ${file} line 4: graceful-timeout "soon" is not a number of seconds from 0 to 2000000 (about 23 days, as long as Node.js timers go) (hint: see chaussette --help)\n`, `${how}: exactly that one line`);
    t.equal(stdout, '', `${how}: nothing served, nothing logged`);
  }
});

t.test('a missing file exits 78; the -FILE form starts without it', async (t) => {
  const dir = instanceDir(t, {});
  const missing = join(dir, 'none.conf');
  const { code, stderr } = await runToExit(['--config', missing]);
  t.equal(code, 78);
  t.equal(stderr, `chaussette: ERR_CONFIG_NOT_FOUND: configuration file ${missing} does not exist (hint: create it, or name it -${missing} to start without it when it is missing)\n`);

  const running = await startChaussette(['--host', '127.0.0.1', '--port', '0'], { env: cleanEnv({ CHAUSSETTE_CONFIG: `-${missing}` }) });
  t.teardown(() => running.stop());
  t.equal((await request({ port: running.port() })).body, 'Hello from chaussette\n');
  t.equal(running.stderr(), '');
  t.equal(await running.stop(), 0);
});
