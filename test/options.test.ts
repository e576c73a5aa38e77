// Options: command line over CHAUSSETTE_* over defaults, and usage errors.
import t from 'tap';
import { OPTION_TABLE, envName, parseCommandLine } from '../src/options.js';
import { parse, thrown } from './helpers.js';

const usageError = (argv: string[], env: NodeJS.ProcessEnv = {}) => thrown(() => parse(argv, env));

t.test('defaults', async (t) => {
  const options = parse([]);
  t.match(options, { app: undefined, args: [], host: 'localhost', port: 8080, fds: [], socketChoice: 'none', backlog: undefined, backend: 'http', gracefulTimeout: 30, logLevel: 'info', logOutput: '-' });
});

t.test('app, export and factory args; options before or after the app are chaussette\'s, those after -- the app\'s', async (t) => {
  t.match(parse(['--port', '9000', './app.mjs:create', 'one', 'two']), { app: './app.mjs:create', args: ['one', 'two'], port: 9000 });
  // Circus users write the app first: `chaussette app.js --fd $(circus.sockets.web)`.
  t.match(parse(['./app.mjs', '--fd', '9']), { app: './app.mjs', args: [], fds: ['9'], socketChoice: 'fd' });
  t.match(parse(['--fd', '3', './app.mjs:create', 'one', '--fd', '4', 'two', '--graceful-timeout', '5']), {
    app: './app.mjs:create',
    args: ['one', 'two'],
    fds: ['3', '4'],
    gracefulTimeout: 5,
  });
  t.match(parse(['./app.mjs:create', '--port', '9000', '--', 'one', '--two', '--port', '1']), { args: ['one', '--two', '--port', '1'], port: 9000 });
  t.match(parse(['--', './app.mjs:create', '--two']), { app: './app.mjs:create', args: ['--two'], port: 8080 });
  t.same(parse(['./app.mjs:create', '-5', '-0.5']).args, ['-5', '-0.5'], 'a negative number is an argument, not an option');
});

t.test('an unknown option is a usage error; after the app, the hint says --', async (t) => {
  const before = usageError(['--prot', '80', './app.mjs']);
  t.equal(before.exitCode, 64);
  t.equal(before.oneLine(), "chaussette: ERR_USAGE: unknown option '--prot' (hint: did you mean --port? see chaussette --help)");
  const after = usageError(['./app.mjs:create', 'one', '--verbose']);
  t.equal(after.exitCode, 64);
  t.equal(
    after.oneLine(),
    'chaussette: ERR_USAGE: unknown option \'--verbose\' after the app "./app.mjs:create" (hint: an option of the app goes after --, as in: chaussette ./app.mjs:create -- --verbose; chaussette\'s own options may come before or after the app)',
  );
  t.match(usageError(['./app.mjs', '--prot=80']).oneLine(), /unknown option '--prot=80' after the app "\.\/app\.mjs" \(hint: did you mean --port\? an option of the app goes after --/);
  t.match(usageError(['-x', './app.mjs']).oneLine(), /^chaussette: ERR_USAGE: unknown option '-x' \(hint: see chaussette --help\)$/);
});

t.test('every option has a CHAUSSETTE_* twin; the command line wins', async (t) => {
  t.equal(envName('--graceful-timeout <seconds>'), 'CHAUSSETTE_GRACEFUL_TIMEOUT');
  const env = { CHAUSSETTE_PORT: '9001', CHAUSSETTE_GRACEFUL_TIMEOUT: '5', CHAUSSETTE_LOG_LEVEL: 'debug', CHAUSSETTE_APP: './x.js', CHAUSSETTE_ARGS: 'a b' };
  t.match(parse([], env), { port: 9001, gracefulTimeout: 5, logLevel: 'debug', app: './x.js', args: ['a', 'b'], socketChoice: 'address' });
  t.match(parse(['--port', '9002', './y.js'], env), { port: 9002, app: './y.js', args: [] });
  for (const spec of OPTION_TABLE) t.match(envName(spec.flags), /^CHAUSSETTE_[A-Z_]+$/);
});

t.test('--fd repeats, splits on commas, and comes from CHAUSSETTE_FD', async (t) => {
  t.same(parse(['--fd', '3', '--fd', 'web,admin']).fds, ['3', 'web', 'admin']);
  t.same(parse([], { CHAUSSETTE_FD: '0' }).fds, ['0']);
  t.equal(parse([], { CHAUSSETTE_FD: '0' }).socketChoice, 'fd');
});

t.test('an --fd or --require value that lists nothing is a usage error naming where it came from', async (t) => {
  for (const [argv, env, pattern] of [
    [['--fd', ''], {}, /^chaussette: ERR_USAGE_VALUE: --fd "" is not an fd number or name/],
    [['--fd', ',,'], {}, /^chaussette: ERR_USAGE_VALUE: --fd ",," is not an fd number or name/],
    [['--fd', '3', '--fd', ' '], {}, /^chaussette: ERR_USAGE_VALUE: --fd " " is not/],
    [[], { CHAUSSETTE_FD: ',' }, /^chaussette: ERR_USAGE_VALUE: CHAUSSETTE_FD "," is not an fd number or name/],
    [['--require', ''], {}, /^chaussette: ERR_USAGE_VALUE: --require "" is not a module/],
    [[], { CHAUSSETTE_REQUIRE: ' , ' }, /^chaussette: ERR_USAGE_VALUE: CHAUSSETTE_REQUIRE " , " is not a module/],
  ] as const) {
    const error = usageError([...argv], env);
    t.equal(error.exitCode, 64, `${JSON.stringify(argv)} ${JSON.stringify(env)} exits 64`);
    t.match(error.oneLine(), pattern);
  }
  const inFile = thrown(() => parse(['--config', '/a.conf'], {}, { '/a.conf': 'port = 9000\nfd = ,\n' }));
  t.equal(inFile.exitCode, 78, 'in the file: a configuration error, as any bad value there');
  t.match(inFile.oneLine(), /^chaussette: ERR_CONFIG: \/a\.conf line 2: fd "," is not an fd number or name/);
  t.same(parse(['--fd', '3,,4', '--require', 'a,']).fds, ['3', '4'], 'empty items between others are dropped');
});

t.test('PORT: below --port, CHAUSSETTE_PORT and the file, above the default; never over a socket someone else chose', async (t) => {
  t.match(parse([], { PORT: '3000' }), { port: 3000, socketChoice: 'none' });
  t.match(parse([], { PORT: '' }), { port: 8080 }, 'empty: not set');
  t.match(parse(['--port', '9000'], { PORT: '3000' }), { port: 9000 });
  t.match(parse([], { PORT: '3000', CHAUSSETTE_PORT: '9001' }), { port: 9001 });
  t.match(parse(['--config', '/a.conf'], { PORT: '3000' }, { '/a.conf': 'port = 9002\n' }), { port: 9002 });
  t.match(parse([], { PORT: '3000', CHAUSSETTE_HOST: '0.0.0.0' }), { host: '0.0.0.0', port: 3000, socketChoice: 'address' });
  // Ignored, and not even checked, when the sockets come from elsewhere.
  t.match(parse(['--fd', '3'], { PORT: 'x' }), { port: 8080, socketChoice: 'fd' });
  t.match(parse(['--config', '/a.conf'], { PORT: 'x' }, { '/a.conf': 'fd = web\n' }), { port: 8080, socketChoice: 'fd' });
  t.match(parse([], { PORT: 'x', LISTEN_FDS: '1', LISTEN_PID: '1' }), { port: 8080, socketChoice: 'none' });
  t.match(parse(['--host', 'unix:/run/app.sock'], { PORT: 'x' }), { port: 8080 });
  // An address named on a higher layer wins over LISTEN_FDS, and PORT goes with it.
  t.match(parse(['--host', '0.0.0.0'], { PORT: '3000', LISTEN_FDS: '1' }), { port: 3000, socketChoice: 'address' });
  const bad = usageError([], { PORT: 'http' });
  t.equal(bad.exitCode, 64);
  t.match(bad.oneLine(), /^chaussette: ERR_USAGE_VALUE: PORT "http" is not a port number/);
});

t.test('an unknown CHAUSSETTE_* variable is one warning line, with the variable it most likely meant', async (t) => {
  const warnings = (env: NodeJS.ProcessEnv) => {
    const result = parseCommandLine([], env, '0.0.0');
    return result.kind === 'run' ? result.warnings : [];
  };
  t.same(warnings({ CHAUSSETTE_PROT: '9000' }), ['unknown variable CHAUSSETTE_PROT ignored: did you mean CHAUSSETTE_PORT?']);
  t.same(warnings({ CHAUSSETTE_GRACEFUL_TIMOUT: '5', chaussette_port: '1' }), [
    'unknown variable CHAUSSETTE_GRACEFUL_TIMOUT ignored: did you mean CHAUSSETTE_GRACEFUL_TIMEOUT?',
    'unknown variable chaussette_port ignored: did you mean CHAUSSETTE_PORT?',
  ]);
  t.match(warnings({ CHAUSSETTE_XYZZY: '1' }), [/^unknown variable CHAUSSETTE_XYZZY ignored: the variables are CHAUSSETTE_APP, CHAUSSETTE_ARGS and the long options/]);
  t.same(warnings({ CHAUSSETTE_APP: './a.js', CHAUSSETTE_ARGS: 'x', CHAUSSETTE_CONFIG: '-/none', PATH: '/bin', PORT: '1' }), [], 'known variables, and others, are not reported');
  // Set by chaussette itself: a worker's slot, and the build's code-cache run.
  t.same(warnings({ CHAUSSETTE_WORKER_SLOT: '1', CHAUSSETTE_WRITE_CODE_CACHE: '1' }), []);
  t.same(warnings(Object.fromEntries(OPTION_TABLE.map((spec) => [envName(spec.flags), '']))), [], 'every option\'s variable is known');
});

t.test('--fd with --host/--port in one layer is a usage error; across layers the command line wins', async (t) => {
  const error = usageError(['--fd', '3', '--port', '80']);
  t.equal(error.code, 'ERR_USAGE_FD_AND_ADDRESS');
  t.equal(error.exitCode, 64);
  t.equal(usageError([], { CHAUSSETTE_FD: '3', CHAUSSETTE_HOST: '0.0.0.0' }).code, 'ERR_USAGE_FD_AND_ADDRESS');
  t.equal(parse(['--fd', '3'], { CHAUSSETTE_PORT: '80' }).socketChoice, 'fd');
  t.equal(parse(['--port', '81'], { CHAUSSETTE_FD: '3' }).socketChoice, 'address');
});

t.test('bad values are usage errors naming the option', async (t) => {
  for (const [argv, env, pattern] of [
    [['--port', '70000'], {}, /--port "70000" is not a port number/],
    [['--port', 'http'], {}, /--port "http"/],
    [['--graceful-timeout', '-1'], {}, /--graceful-timeout "-1" is not a number of seconds/],
    // Node's timers overflow past 2^31-1 ms and fire after 1 ms: a stop would cut every request.
    [['--graceful-timeout', '3000000'], {}, /--graceful-timeout "3000000" is not a number of seconds from 0 to 2000000 \(about 23 days/],
    [['--graceful-timeout', '1e12'], {}, /--graceful-timeout "1e12" is not a number of seconds from 0 to 2000000/],
    [['--keep-alive-timeout', '3000000'], {}, /--keep-alive-timeout "3000000"/],
    [['--drain-linger', 'Infinity'], {}, /--drain-linger "Infinity"/],
    [[], { CHAUSSETTE_HEADERS_TIMEOUT: '2000001' }, /CHAUSSETTE_HEADERS_TIMEOUT "2000001"/],
    [['--request-timeout', '9e9'], {}, /--request-timeout "9e9"/],
    [['--log-level', 'loud'], {}, /--log-level "loud" is not one of fatal, error/],
    [['--backlog', '0'], {}, /--backlog "0"/],
    [[], { CHAUSSETTE_PORT: 'x' }, /CHAUSSETTE_PORT "x"/],
    [['--nope'], {}, /unknown option '--nope'/],
    [['--port'], {}, /option '--port <port>' argument missing/],
  ] as const) {
    const error = usageError([...argv], env);
    t.equal(error.exitCode, 64, `${argv.join(' ')} exits 64`);
    t.match(error.oneLine(), pattern);
  }
});

t.test('the longest duration is taken as it is, and it fits in a Node.js timer', async (t) => {
  t.equal(parse(['--graceful-timeout', '2000000']).gracefulTimeout, 2_000_000);
  t.ok(2_000_000 * 1000 + 60_000 < 2 ** 31 - 1, 'with a minute to spare for the deadlines built on it');
});

t.test('--help and --version exit 0 with their text', async (t) => {
  const help = parseCommandLine(['--help'], {}, '1.2.3');
  t.equal(help.kind, 'exit');
  t.match(help.kind === 'exit' && help.output, /Usage: chaussette \[options\] \[app\] \[args\.\.\.\]/);
  const version = parseCommandLine(['--version'], {}, '1.2.3');
  t.equal(version.kind === 'exit' && version.output.trim(), '1.2.3');
});
