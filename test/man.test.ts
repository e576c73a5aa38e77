// man/chaussette.1 says what --help, the option table, README and the exit
// codes say, and is clean roff: mandoc and groff find nothing to warn about,
// and it renders in 80 columns.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import compileCache from '../src/compile-cache.cjs';
import { ExitCode } from '../src/errors.js';
import { APP_ENV, ARGS_ENV, envName, helpText, OPTION_TABLE, PLATFORM_PORT_ENV } from '../src/options.js';
import { ACTIVATION_VARIABLES } from '../src/systemd/activation.js';
import { exitCodeOf, SIGNAL_HELP } from '../src/signals.js';
import { WATCHDOG_VARIABLES } from '../src/systemd/watchdog-env.js';
import { ROOT } from './helpers.js';

const PAGE = join(ROOT, 'man', 'chaussette.1');
const page = readFileSync(PAGE, 'utf8');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; man?: string[]; files?: string[] };
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const help = helpText(manifest.version);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a real program to its end; a non-zero exit is a result, not a throw. */
function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error); // Not found, not runnable.
      resolve({ code: error ? (error.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

/** A roff line as the reader sees its words: fonts, \- and \& resolved. */
function plain(roff: string): string {
  return roff
    .replace(/\\f(?:\[[^\]]*\]|\(..|.)/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\\(dq/g, '"')
    .replace(/\\&|\\c/g, '')
    .trim();
}

/** The lines of each .SH section, by title. */
function sections(roff: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of roff.split('\n')) {
    const heading = /^\.SH\s+(.*)$/.exec(line);
    if (heading) found.set(heading[1]!.replace(/^"|"$/g, ''), (current = []));
    else current?.push(line);
  }
  return found;
}

/** `.TP` entries: the tag line after each `.TP`, and the lines up to the next `.TP`. */
function entries(lines: string[]): Array<{ tag: string; body: string[] }> {
  const list: Array<{ tag: string; body: string[] }> = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\.TP\b/.test(lines[i]!)) continue;
    const body: string[] = [];
    for (let j = i + 2; j < lines.length && !/^\.(TP|SH|SS)\b/.test(lines[j]!); j++) body.push(lines[j]!);
    list.push({ tag: lines[i + 1] ?? '', body });
  }
  return list;
}

const section = (title: string) => {
  const lines = sections(page).get(title);
  if (!lines) throw new Error(`man/chaussette.1 has no .SH ${title}`);
  return lines;
};

/** `--host <host>` as the page shows it: `--host host`. */
const shown = (flags: string) => flags.replace(/[<>]/g, '');
/** `-V, --version` and `--host`, as --help lists them. */
const helpFlags = new Set([...help.matchAll(/^\s+((?:-\w, )?--[\w-]+)/gm)].map((m) => m[1]!));
const flagOf = (tag: string) => /^((?:-\w, )?--[\w-]+)/.exec(plain(tag))?.[1];
/** What roff needs to print a default as it is: `-` is `\-`. */
const roffText = (text: string) => text.replace(/-/g, '\\-');

t.test('mandoc -Tlint and groff -ww find nothing to say', async (t) => {
  const lint = await run('mandoc', ['-Tlint', '-W', 'warning', PAGE]);
  t.same(lint, { code: 0, stdout: '', stderr: '' }, 'mandoc -Tlint -W warning man/chaussette.1');
  const groff = await run('groff', ['-ww', '-z', '-man', PAGE]);
  t.same(groff, { code: 0, stdout: '', stderr: '' }, 'groff -ww -z -man man/chaussette.1');
});

t.test('OPTIONS has exactly the options of --help', async (t) => {
  const tags = entries(section('OPTIONS')).map((entry) => entry.tag);
  for (const tag of tags) t.ok(flagOf(tag), `the .TP tag ${JSON.stringify(tag)} names an option`);
  const inPage = tags.map(flagOf).filter((flag): flag is string => flag !== undefined);
  t.same(inPage.filter((flag, i) => inPage.indexOf(flag) !== i), [], 'no option twice');
  t.ok(helpFlags.has('-V, --version') && helpFlags.has('-h, --help'), '--help lists -V and -h with their short forms');
  t.same([...new Set(inPage)].sort(), [...helpFlags].sort(), 'the same options, short forms included');
});

t.test("each option's entry names its argument, variable and default as the option table has them", async (t) => {
  const list = entries(section('OPTIONS'));
  for (const spec of OPTION_TABLE) {
    const flag = spec.flags.split(' ')[0]!;
    const entry = list.find((e) => flagOf(e.tag) === flag);
    if (!entry) {
      t.fail(`${flag} has an entry`);
      continue;
    }
    t.equal(plain(entry.tag), shown(spec.flags), `${flag}: the tag shows ${spec.flags}`);
    const environment = entry.body.filter((line) => line.startsWith('Environment:'));
    t.same(environment, [`Environment: \\fB${envName(spec.flags)}\\fR.`], `${flag}: its variable`);
    const defaults = entry.body.filter((line) => line.startsWith('Default:'));
    const expected = spec.defaultText === undefined ? [] : [`Default: \\fB${roffText(spec.defaultText)}\\fR.`];
    t.same(defaults, expected, `${flag}: its default${spec.defaultText === undefined ? ' (none)' : ''}`);
  }
});

t.test('ENVIRONMENT names every variable chaussette reads', async (t) => {
  const text = plain(section('ENVIRONMENT').join('\n'));
  const variables = [
    APP_ENV,
    ARGS_ENV,
    ...OPTION_TABLE.map((spec) => envName(spec.flags)),
    PLATFORM_PORT_ENV,
    ...ACTIVATION_VARIABLES,
    ...WATCHDOG_VARIABLES,
    ...compileCache.COMPILE_CACHE_VARIABLES,
    'NOTIFY_SOCKET',
  ];
  for (const name of variables) t.match(text, new RegExp(`\\b${name}\\b`), name);
});

t.test('the .TH version is package.json\'s, and npm installs the page', async (t) => {
  const th = /^\.TH (\S+) (\S+) (\S+) "([^"]*)" "([^"]*)"$/m.exec(page);
  t.ok(th, '.TH CHAUSSETTE 1 <date> "chaussette <version>" "User Commands"');
  t.same(th?.slice(1), ['CHAUSSETTE', '1', th?.[3], `chaussette ${manifest.version}`, 'User Commands'], `chaussette ${manifest.version}`);
  t.match(th?.[3] ?? '', /^\d{4}-\d{2}-\d{2}$/, 'an ISO date');
  t.same(manifest.man, ['./man/chaussette.1'], 'package.json "man"');
  t.ok(manifest.files?.includes('man'), 'package.json "files" ships man/');
});

t.test('EXIT STATUS has the codes of README and of src/errors.ts', async (t) => {
  const inPage = entries(section('EXIT STATUS')).flatMap((entry) => [...plain(entry.tag).matchAll(/\d+/g)].map(Number));
  const exitCodes = /^## Exit codes\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  const inReadme = [...exitCodes.matchAll(/^\| (\d+(?:, \d+)*) \|/gm)].flatMap((row) => row[1]!.split(', ').map(Number));
  // A stop at once (a second SIGINT, SIGQUIT) exits 128 + the signal number (src/signals.ts).
  const inSource = [...Object.values(ExitCode), exitCodeOf('SIGINT'), exitCodeOf('SIGQUIT')];
  const sorted = (codes: number[]) => [...new Set(codes)].sort((a, b) => a - b);
  t.ok(inReadme.length > 0, 'README has an exit code table');
  t.same(sorted(inPage), sorted(inReadme), 'the same codes as README');
  t.same(sorted(inPage), sorted(inSource), 'the codes of ExitCode, and 130 and 131');
  t.equal(inPage.length, sorted(inPage).length, 'each code once');
});

t.test('SIGNALS has a paragraph for each signal of the table --help and README print', async (t) => {
  const tags = entries(section('SIGNALS')).flatMap((entry) => [...entry.tag.matchAll(/SIG[A-Z0-9]+/g)].map((match) => match[0]));
  t.same([...tags].sort(), SIGNAL_HELP.map((row) => row.signal).sort());
});

t.test('the page renders in 80 columns, with its name and synopsis', async (t) => {
  const synopsis = /^Usage: (.*)$/m.exec(help)?.[1];
  t.equal(synopsis, 'chaussette [options] [app] [args...]', 'the usage line of --help');
  const renderers: Array<[string, string[]]> = [
    ['mandoc', ['-Tutf8', '-Owidth=80', PAGE]],
    ['groff', ['-man', '-Tutf8', '-rLL=80n', PAGE]],
  ];
  for (const [command, args] of renderers) {
    const rendered = await run(command, args);
    t.same({ code: rendered.code, stderr: rendered.stderr }, { code: 0, stderr: '' }, `${command} renders it`);
    // Bold and underline come as overstrikes (or SGR escapes): keep the letters.
    const text = rendered.stdout.replace(/.\x08/g, '').replace(/\x1b\[[0-9;]*m/g, '');
    t.match(text, /^NAME$/m, `${command}: a NAME section`);
    t.match(text, /^\s+chaussette - serve a Node\.js HTTP app/m, `${command}: the name line`);
    t.ok(text.split('\n').some((line) => line.trim() === synopsis), `${command}: the synopsis line as --help has it`);
    const wide = text.split('\n').filter((line) => [...line].length > 80);
    t.same(wide, [], `${command}: no line wider than 80 columns`);
    t.notMatch(text, /\u2010/, `${command}: no word hyphenated across lines`);
  }
});
