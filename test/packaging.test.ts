// The deb and the rpm, built by the README's one command (npm run package:
// packaging/build.sh), linted, compared with each other, and the .deb
// installed with apt into a real systemd (PID 1 in a throw-away container):
// `man chaussette`, `systemctl start chaussette@app.socket`, an upgrade in
// place, then `apt-get purge`, after which nothing of it runs or remains.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t from 'tap';
import { request, ROOT, startChaussette } from './helpers.js';
import { bootMachine, type Machine } from './systemd/machine.js';

// Building (about 25 s, linters included) and the apt round trip.
t.setTimeout(300_000);

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'chaussette-packaging-'));
const out = join(work, 'packages');
const repo = join(work, 'repo');
const others = join(work, 'others');
t.teardown(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(command, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

let build: { code: number | null; stdout: string; stderr: string };
let deb = '';
let rpm = '';

t.before(async () => {
  build = await run('npm', ['run', '--silent', 'package', '--', out], { cwd: ROOT, timeoutMs: 240_000 });
  if (build.code !== 0) throw new Error(`npm run package failed (${build.code}):\n${build.stderr.slice(-4000)}`);
  const files = readdirSync(out);
  deb = join(out, files.find((f) => f.endsWith('.deb')) ?? 'missing.deb');
  rpm = join(out, files.find((f) => f.endsWith('.rpm')) ?? 'missing.rpm');
});

t.test('npm run package builds both packages, named after package.json', async (t) => {
  const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim();
  t.equal(deb, join(out, `chaussette_${version}-1_${arch}.deb`));
  t.match(rpm, new RegExp(`/chaussette-${version.replace(/\./g, '\\.')}-1\\.x86_64\\.rpm$`));
  t.comment(`sizes: ${(statSync(deb).size / 1024).toFixed(0)} KiB deb, ${(statSync(rpm).size / 1024).toFixed(0)} KiB rpm`);
  // The script's last lines name each package with its size.
  t.match(build.stdout, new RegExp(`${deb.replace(/[.]/g, '\\.')} \\d+`));
});

t.test('lintian and rpmlint find nothing, not even pedantic or info tags', async (t) => {
  const lintian = readFileSync(join(out, 'lintian.txt'), 'utf8');
  const tags = lintian.split('\n').filter((line) => /^[EWIPX]: /.test(line));
  t.same(tags, [], `lintian:\n${lintian}`);
  const rpmlint = readFileSync(join(out, 'rpmlint.txt'), 'utf8');
  t.match(rpmlint, /1 packages and 0 specfiles checked; 0 errors, 0 warnings/, rpmlint);
  // Every override has a reason; what they silence is shown once here.
  const overridden = (await run('lintian', ['--pedantic', '--display-info', '--show-overrides', deb])).stdout
    .split('\n')
    .filter((line) => line.startsWith('O: '))
    .map((line) => line.split(' ')[2]);
  t.comment(`lintian overrides in use: ${[...new Set(overridden)].map((tag) => `${tag} (${overridden.filter((o) => o === tag).length})`).join(', ')}`);
});

/** Mode and path of every file and link in the package (directories left out), on the installed system. */
async function debFiles(): Promise<Map<string, string>> {
  const listing = (await run('dpkg-deb', ['--contents', deb])).stdout.trim().split('\n');
  return new Map(
    listing
      .filter((line) => !line.startsWith('d'))
      .map((line) => {
        const [mode, , , , , ...rest] = line.split(/\s+/);
        return [rest.join(' ').replace(/^\./, '').replace(/ -> .*$/, ''), mode!];
      }),
  );
}

async function rpmFiles(): Promise<Map<string, string>> {
  const listing = (await run('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILENAMES}\n]', rpm])).stdout.trim().split('\n');
  return new Map(
    listing.filter((line) => !line.startsWith('d')).map((line) => [line.slice(line.indexOf(' ') + 1), line.slice(0, line.indexOf(' '))]),
  );
}

t.test('the rpm and the deb carry the same files with the same modes', async (t) => {
  // What differs, by each system's conventions: Debian 12's unit directory
  // (/lib/systemd/system, the same directory once /usr is merged), dh_compress
  // gzipping larger docs, debian/copyright and changelog.Debian against the
  // rpm's %license; the reasons for lintian's overrides.
  const normal = (path: string) =>
    path.replace(/^\/lib\/systemd\//, '/usr/lib/systemd/').replace(/^(\/usr\/share\/doc\/.*)\.gz$/, '$1');
  const debOnly = ['/usr/share/doc/chaussette/changelog.Debian', '/usr/share/doc/chaussette/copyright', '/usr/share/lintian/overrides/chaussette'];
  const rpmOnly = ['/usr/share/licenses/chaussette/LICENSE'];
  const fromDeb = new Map([...(await debFiles())].map(([path, mode]) => [normal(path), mode]));
  const fromRpm = await rpmFiles();
  t.same([...fromDeb.keys()].filter((p) => !fromRpm.has(p)).sort(), debOnly, 'only in the deb');
  t.same([...fromRpm.keys()].filter((p) => !fromDeb.has(p)).sort(), rpmOnly, 'only in the rpm');
  const modes = [...fromDeb].filter(([path, mode]) => fromRpm.has(path) && fromRpm.get(path) !== mode);
  t.same(modes, [], 'same modes');
  for (const path of [
    '/usr/bin/chaussette',
    '/usr/lib/chaussette/dist/bin.cjs',
    '/usr/lib/chaussette/dist/chaussette.bundle.cjs',
    '/usr/lib/chaussette/node_modules/sd-notify/build/Release/notify.node',
    '/usr/lib/systemd/system/chaussette@.socket',
    '/usr/lib/systemd/system/chaussette@.service',
    '/usr/share/man/man1/chaussette.1.gz',
    '/etc/chaussette/example.env',
  ]) {
    t.ok(fromRpm.has(path), `carries ${path}`);
  }
  t.equal(fromRpm.get('/usr/lib/chaussette/dist/bin.cjs'), '-rwxr-xr-x', 'the program is executable');
  t.comment(`${fromRpm.size} files in the rpm, ${fromDeb.size} in the deb`);
});

t.test('package metadata: dependencies, conffile, scriptlets', async (t) => {
  const control = (await run('dpkg-deb', ['--field', deb, 'Depends', 'Version'])).stdout;
  // The Node.js major version the addon was built against (this one), and libsystemd.
  const major = Number(process.versions.node.split('.')[0]);
  t.match(control, new RegExp(`^Depends: nodejs \\(>= ${major}\\), nodejs \\(<< ${major + 1}\\), .*libsystemd0 \\(>= \\d+\\)`, 'm'));
  t.ok(major >= 20, 'Node.js >= 20');
  t.match(control, new RegExp(`^Version: ${version}-1$`, 'm'));
  const conffiles = (await run('sh', ['-c', `dpkg-deb --ctrl-tarfile "${deb}" | tar -xO ./conffiles`])).stdout;
  t.equal(conffiles.trim(), '/etc/chaussette/example.env', 'the example instance is a conffile');
  const requires = (await run('rpm', ['-qp', '--requires', rpm])).stdout;
  t.match(requires, new RegExp(`^\\(nodejs\\(abi${major}\\) or \\(nodejs >= 2:${major} with nodejs < 2:${major + 1}\\)\\)$`, 'm'));
  t.match(requires, /^libsystemd\.so\.0\(\)\(64bit\)$/m, 'libsystemd, from the addon');
  const scripts = (await run('rpm', ['-qp', '--scripts', rpm])).stdout;
  // The fallback macros must receive their arguments (a %global would have
  // expanded them away at definition).
  t.match(scripts, /systemctl --no-reload preset chaussette@\.socket chaussette@\.service/);
  t.match(scripts, /systemctl --no-reload disable --now chaussette@\.socket chaussette@\.service/);
  t.match(scripts, /systemctl stop 'chaussette@\*\.socket'/);
  t.match(scripts, /systemctl try-restart 'chaussette@\*\.service'/);
  const config = (await run('rpm', ['-qp', '--configfiles', rpm])).stdout;
  t.equal(config.trim(), '/etc/chaussette/example.env');
});

t.test("the rpm's program runs: unpacked, it serves, and its addon loads", async (t) => {
  // No rpm-based system here to install it on: rpm2cpio unpacks the payload.
  const root = join(work, 'rpm-root');
  mkdirSync(root);
  const unpack = await run('sh', ['-c', `rpm2cpio "${rpm}" | cpio -idm --quiet`], { cwd: root });
  t.equal(unpack.code, 0, unpack.stderr);
  const bin = join(root, 'usr/lib/chaussette/dist/bin.cjs');
  t.equal((await run(process.execPath, [bin, '--version'])).stdout.trim(), version);
  const addon = await run(process.execPath, ['-e', `require(${JSON.stringify(join(root, 'usr/lib/chaussette/node_modules/sd-notify'))}).sendState`]);
  t.equal(addon.code, 0, `the sd-notify addon loads: ${addon.stderr}`);
  const served = await startChaussette(['--host', '127.0.0.1', '--port', '0'], { command: [process.execPath, bin], cwd: work });
  t.teardown(() => served.stop());
  const answer = await request({ port: served.port() });
  t.equal(answer.body, 'Hello from chaussette\n');
});

// ---- Installed with apt, under a real systemd ----

let machine: Machine;

const sh = (command: string, timeoutMs = 30_000) => machine.sh(command, timeoutMs);

/**
 * A local apt repository: the .deb, and a `nodejs` package that stands for the
 * Node.js binary the container shares with this host (Debian 12's own nodejs
 * is 18, and the container has no network). Made with equivs, versioned as
 * this host's Node, so apt resolves the dependency as it would against
 * NodeSource's or Debian 13's package. Beside the repository, where apt only
 * sees them when named, stand-ins for a Node.js too old and one too new.
 */
async function makeRepository(): Promise<void> {
  mkdirSync(repo);
  mkdirSync(others);
  copyFileSync(deb, join(repo, basename(deb)));
  const major = Number(process.versions.node.split('.')[0]);
  for (const [nodeVersion, dir] of [
    [process.versions.node, repo],
    ['18.20.4', others],
    [`${major + 1}.0.0`, others],
  ] as const) {
    const control = join(work, `nodejs-${nodeVersion}.control`);
    writeFileSync(
      control,
      [
        'Section: javascript',
        'Priority: optional',
        'Standards-Version: 4.6.2',
        'Package: nodejs',
        `Version: ${nodeVersion}-0chaussette.test1`,
        'Maintainer: chaussette tests <tests@chaussette.invalid>',
        'Architecture: all',
        'Description: stands for the Node.js the test container shares with its host',
        " /usr/bin/node is the host's binary, bind-mounted by test/systemd/machine.ts.",
        '',
      ].join('\n'),
    );
    const built = await run('equivs-build', [control], { cwd: dir });
    if (built.code !== 0) throw new Error(`equivs-build: ${built.stdout}${built.stderr}`);
  }
  const scan = await run('sh', ['-c', 'dpkg-scanpackages . /dev/null > Packages'], { cwd: repo });
  if (scan.code !== 0) throw new Error(`dpkg-scanpackages: ${scan.stderr}`);
}

const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -q -o Dir::Etc::SourceList=/etc/apt/local.list -o Dir::Etc::SourceParts=/nonexistent';

t.test('installed with apt under a real systemd, then purged', async (t) => {
  await makeRepository();
  machine = await bootMachine({
    binds: [
      { host: repo, guest: '/srv/repo', readOnly: true },
      { host: others, guest: '/srv/others', readOnly: true },
    ],
  });
  t.teardown(() => machine.stop());
  await machine.writeFile('/etc/apt/local.list', 'deb [trusted=yes] file:/srv/repo ./\n');
  await sh(`${APT} update`);

  await t.test('apt refuses a Node.js of another major version than the addon was built for', async (t) => {
    const major = Number(process.versions.node.split('.')[0]);
    for (const other of ['18.20.4', `${major + 1}.0.0`]) {
      const refused = await machine.exec(`${APT} install -s /srv/repo/${basename(deb)} /srv/others/nodejs_${other}-0chaussette.test1_all.deb`);
      t.not(refused.code, 0, `not with Node.js ${other}`);
      t.match(refused.stdout + refused.stderr, new RegExp(`chaussette : Depends: nodejs \\([<>=]+ \\d+\\) but ${other.replace(/\./g, '\\.')}-0chaussette\\.test1 is to be installed`));
      t.comment(`apt: ${/chaussette : Depends: .*/.exec(refused.stdout)?.[0]}`);
    }
  });

  await t.test('apt install chaussette pulls in its Node.js', async (t) => {
    const install = await sh(`${APT} install -y --no-install-recommends chaussette`, 120_000);
    t.match(install, /The following NEW packages will be installed:\s+chaussette nodejs/);
    t.match(await sh(`dpkg-query -W -f '\${Status} \${Version}' chaussette`), `install ok installed ${version}-1`);
    t.match(await sh(`dpkg-query -W -f '\${Version}' nodejs`), `${process.versions.node}-0chaussette.test1`);
    t.equal((await sh('readlink -f /usr/bin/chaussette')).trim(), '/usr/lib/chaussette/dist/bin.cjs');
    t.equal((await sh('chaussette --version')).trim(), version);
  });

  await t.test('man chaussette', async (t) => {
    t.equal((await sh('man -w chaussette')).trim(), '/usr/share/man/man1/chaussette.1.gz');
    const page = await sh('MANWIDTH=80 man chaussette 2>/dev/null');
    t.match(page, /^NAME\n\s+chaussette - /m);
    t.match(page, /chaussette \[options\] \[app\] \[args\.\.\.\]/);
    // Documentation=man:chaussette(1) in the units now resolves.
    const verify = await machine.exec('systemd-analyze verify chaussette@app.socket chaussette@app.service');
    t.equal(verify.code, 0, verify.stderr);
    t.equal(verify.stderr.trim(), '', 'no warnings, the man page included');
  });

  let firstPid = '';
  await t.test('systemctl start chaussette@app.socket serves the app named in /etc/chaussette/app.env', async (t) => {
    await machine.writeFile(
      '/srv/app/server.mjs',
      "export default (req, res) => res.end(JSON.stringify({ app: 'packaged', pid: process.pid, path: req.url }) + '\\n');\n",
    );
    await machine.writeFile('/etc/chaussette/app.env', 'CHAUSSETTE_APP=/srv/app/server.mjs\nNODE_ENV=production\n');
    await sh('systemctl start chaussette@app.socket');
    const answer = JSON.parse(await sh('curl -sS --max-time 10 --unix-socket /run/chaussette/app.sock http://app/hello')) as { app: string; pid: number; path: string };
    t.same({ app: answer.app, path: answer.path }, { app: 'packaged', path: '/hello' });
    firstPid = String(answer.pid);
    t.equal((await sh('systemctl show -p MainPID --value chaussette@app.service')).trim(), firstPid, 'the main PID answered');
    const status = await sh('systemctl status --no-pager chaussette@app.service');
    t.match(status, /Status: "Serving unix:\/run\/chaussette\/app\.sock \(http\)/, 'systemctl status shows our line');
    t.comment(status.split('\n').find((line) => line.includes('Status:'))?.trim() ?? '');
    // Through the packaged addon: NotifyAccess=main takes nothing from a helper process.
    t.match(await sh('journalctl -u chaussette@app.service -o cat --no-pager'), /Notifying systemd at \S+ through the sd-notify addon/);
    // The example instance shipped as a conffile serves the built-in hello
    // app; enabled, to see purge take the link away.
    await sh('systemctl enable --now chaussette@example.socket');
    t.equal((await sh('readlink /etc/systemd/system/sockets.target.wants/chaussette@example.socket')).trim(), '/lib/systemd/system/chaussette@.socket', 'enabled');
    t.equal(await sh('curl -sS --max-time 10 --unix-socket /run/chaussette/example.sock http://example/'), 'Hello from chaussette\n');
  });

  await t.test('an upgrade in place restarts running instances on the new files', async (t) => {
    await sh(`${APT} install -y --reinstall chaussette`, 120_000);
    const answer = JSON.parse(await sh('curl -sS --max-time 10 --unix-socket /run/chaussette/app.sock http://app/')) as { pid: number };
    t.not(String(answer.pid), firstPid, 'a new process answers');
    // The stopped one left its compile cache (at its exit at the latest) where purge must find it.
    t.not((await sh('ls /var/cache/private/chaussette/app/node-compile-cache')).trim(), '', "a compile cache in the instance's CacheDirectory=");
    t.equal((await sh('systemctl is-active chaussette@app.socket chaussette@app.service chaussette@example.socket')).trim(), 'active\nactive\nactive');
  });

  await t.test('apt-get purge removes it, and nothing of it runs', async (t) => {
    await sh(`${APT} purge -y chaussette`, 120_000);
    // dpkg forgets a purged package entirely, or keeps it as not-installed.
    const status = await machine.exec("dpkg-query -W -f '${Status}' chaussette");
    t.ok(status.code !== 0 || status.stdout.trim() === 'unknown ok not-installed', `not installed: ${status.stdout}${status.stderr}`);
    const running = await sh("ps -e -o pid=,args= | grep -E '(chaussette|bin\\.cjs)' | grep -v grep || true");
    t.equal(running.trim(), '', 'no chaussette process');
    const units = await sh("systemctl list-units --all --plain --no-legend 'chaussette@*' || true");
    t.notMatch(units, /\bactive\b|\brunning\b|\blistening\b/, `no unit left active: ${units}`);
    const leftovers = await sh(
      'for p in /usr/lib/chaussette /usr/bin/chaussette /lib/systemd/system/chaussette@.service /lib/systemd/system/chaussette@.socket ' +
        '/usr/share/man/man1/chaussette.1.gz /etc/chaussette/example.env /run/chaussette/app.sock /run/chaussette/example.sock ' +
        '/etc/systemd/system/sockets.target.wants/chaussette@example.socket /var/cache/chaussette /var/cache/private/chaussette; do [ -e "$p" ] || [ -L "$p" ] && echo "$p"; done; true',
    );
    t.equal(leftovers.trim(), '', 'the package files, its conffile, the sockets, the enablement link and the compile caches are gone');
    t.equal((await sh('cat /etc/chaussette/app.env')).trim().split('\n')[0], 'CHAUSSETTE_APP=/srv/app/server.mjs', "the administrator's own instance file stays");
    const refused = await machine.exec('curl -sS --max-time 5 --unix-socket /run/chaussette/app.sock http://app/');
    t.not(refused.code, 0, 'nothing answers on the old socket');
  });
});
