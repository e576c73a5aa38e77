// The deb and the rpm, built by the README's one command (npm run package:
// packaging/build.sh), linted, compared with each other, and the .deb
// installed with apt into a real systemd (PID 1 in a throw-away container):
// `man chaussette`, `systemctl start chaussette@app.socket` under a Node.js
// 20, then 22, 24 and 26 (each reaching READY=1 through its own addon), an
// upgrade in place, then `apt-get purge`, after which nothing of it runs or
// remains.

import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t, { type Test } from 'tap';
import { request, ROOT, startChaussette, waitUntil } from './helpers.js';
import { bootMachine, type Machine } from './systemd/machine.js';

// Building (the four addons and the linters included: 2 to 4.5 min here under a load of 10 to
// 15) and the apt round trips (40 s each): 15 min leaves room for a machine shared with other runs.
t.setTimeout(900_000);

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'chaussette-packaging-'));
const out = join(work, 'packages');
const repo = join(work, 'repo');
const others = join(work, 'others');
const nodes = join(work, 'nodes');

// The Node.js majors the packages serve (packaging/build.sh: 20, 22, 24, 26)
// by the NODE_MODULE_VERSION each addon is named after; and the relations
// that say so.
const ABIS = [115, 127, 137, 147];
const DEB_NODEJS = 'nodejs (>= 20), nodejs (<< 21) | nodejs (>= 22), nodejs (<< 23) | nodejs (>= 24), nodejs (<< 25) | nodejs (>= 26), nodejs (<< 27)';
const RPM_NODEJS =
  '(nodejs(abi20) or nodejs(abi22) or nodejs(abi24) or nodejs(abi26) or (nodejs >= 2:20 with nodejs < 2:21) or ' +
  '(nodejs >= 2:22 with nodejs < 2:23) or (nodejs >= 2:24 with nodejs < 2:25) or (nodejs >= 2:26 with nodejs < 2:27))';
// Installed in turn under a real systemd: every shipped major, whichever Node runs this test.
const STAND_INS = [20, 22, 24, 26];
// Refused by apt: too old, an odd major between two shipped ones (no addon for it), past the newest.
const REFUSED = ['18.20.4', '21.7.3', '27.0.0'];
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
  build = await run('npm', ['run', '--silent', 'package', '--', out], { cwd: ROOT, timeoutMs: 480_000 });
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
    ...ABIS.map((abi) => `/usr/lib/chaussette/dist/addons/abi${abi}/sd_notify.node`),
    '/usr/lib/systemd/system/chaussette@.socket',
    '/usr/lib/systemd/system/chaussette@.service',
    '/usr/share/man/man1/chaussette.1.gz',
    '/etc/chaussette/example.env',
  ]) {
    t.ok(fromRpm.has(path), `carries ${path}`);
  }
  t.equal(fromRpm.get('/usr/lib/chaussette/dist/bin.cjs'), '-rwxr-xr-x', 'the program is executable');
  const addons = [...fromRpm.keys()].filter((path) => path.endsWith('.node'));
  t.same(addons.sort(), ABIS.map((abi) => `/usr/lib/chaussette/dist/addons/abi${abi}/sd_notify.node`), 'one addon per ABI, no other build');
  t.comment(`${fromRpm.size} files in the rpm, ${fromDeb.size} in the deb`);
});

t.test('package metadata: dependencies, conffile, scriptlets', async (t) => {
  const control = (await run('dpkg-deb', ['--field', deb, 'Depends', 'Version', 'Architecture'])).stdout;
  // Every Node.js major an addon is shipped for, no other (nor the odd ones
  // between), then what dh_shlibdeps found the addons link: libsystemd.
  t.equal(/^Depends: (.*)$/m.exec(control)?.[1]?.slice(0, DEB_NODEJS.length), DEB_NODEJS);
  t.match(control, /^Depends: .*, libsystemd0 \(>= \d+\)/m);
  t.comment(/^Depends: .*$/m.exec(control)?.[0] ?? '');
  // Compiled files inside: not Architecture: all.
  t.match(control, new RegExp(`^Architecture: ${(await run('dpkg', ['--print-architecture'])).stdout.trim()}$`, 'm'));
  t.match(control, new RegExp(`^Version: ${version}-1$`, 'm'));
  const conffiles = (await run('sh', ['-c', `dpkg-deb --ctrl-tarfile "${deb}" | tar -xO ./conffiles`])).stdout;
  t.equal(conffiles.trim(), '/etc/chaussette/example.env', 'the example instance is a conffile');
  const requires = (await run('rpm', ['-qp', '--requires', rpm])).stdout.split('\n');
  t.ok(requires.includes(RPM_NODEJS), `Requires: ${RPM_NODEJS}\n${requires.join('\n')}`);
  t.comment(`Requires: ${requires.find((line) => line.includes('nodejs'))}`);
  t.ok(requires.includes('libsystemd.so.0()(64bit)'), 'libsystemd, from the addons');
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
  // The addon for this Node's ABI (build-addons.sh loaded each under its own Node when it built it).
  const addon = join(root, `usr/lib/chaussette/dist/addons/abi${process.versions.modules}/sd_notify.node`);
  const loaded = await run(process.execPath, ['-e', 'const m = { exports: {} }; process.dlopen(m, process.argv[1]); if (typeof m.exports.sendState !== "function") process.exit(1)', addon]);
  t.equal(loaded.code, 0, `the sd-notify addon for ABI ${process.versions.modules} loads: ${loaded.stderr}`);
  const served = await startChaussette(['--host', '127.0.0.1', '--port', '0'], { command: [process.execPath, bin], cwd: work });
  t.teardown(() => served.stop());
  const answer = await request({ port: served.port() });
  t.equal(answer.body, 'Hello from chaussette\n');
});

// ---- Installed with apt, under a real systemd ----

let machine: Machine;

const sh = (command: string, timeoutMs = 30_000) => machine.sh(command, timeoutMs);

interface StandIn {
  major: number;
  /** The Node.js version, as its binary reports it (20.20.2) and the package is versioned. */
  version: string;
  abi: string;
  /** The package's file name. */
  file: string;
}

/**
 * A `nodejs` package standing for one Node.js, as NodeSource's or Debian 13's
 * would (the container has no network, and Debian 12's own nodejs is 18):
 * with a binary, that Node's official build as /usr/bin/node
 * (scripts/node-binary.sh); without, nothing inside, for a version apt must
 * refuse beside chaussette.
 */
async function makeStandIn(dir: string, nodeVersion: string, binary?: string): Promise<string> {
  const tree = join(work, `nodejs-${nodeVersion}`);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  const arch = binary ? (await run('dpkg', ['--print-architecture'])).stdout.trim() : 'all';
  writeFileSync(
    join(tree, 'DEBIAN/control'),
    [
      'Package: nodejs',
      `Version: ${nodeVersion}-0chaussette.test1`,
      `Architecture: ${arch}`,
      'Maintainer: chaussette tests <tests@chaussette.invalid>',
      'Section: javascript',
      'Priority: optional',
      `Description: stands for Node.js ${nodeVersion} in chaussette's packaging test`,
      binary ? ' /usr/bin/node is the official build (scripts/node-binary.sh).' : ' It installs nothing.',
      '',
    ].join('\n'),
  );
  if (binary) {
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    copyFileSync(binary, join(tree, 'usr/bin/node'));
    chmodSync(join(tree, 'usr/bin/node'), 0o755);
  }
  const file = `nodejs_${nodeVersion}-0chaussette.test1_${arch}.deb`;
  // Uncompressed: a Node binary is 100 to 150 MB, which xz takes a minute to pack.
  const built = await run('dpkg-deb', ['--root-owner-group', '-Znone', '--build', tree, join(dir, file)], { timeoutMs: 120_000 });
  rmSync(tree, { recursive: true, force: true });
  if (built.code !== 0) throw new Error(`dpkg-deb --build ${file}: ${built.stdout}${built.stderr}`);
  return file;
}

/** The newest Node.js of a major (scripts/node-binary.sh, cached after the first download) as a stand-in package. */
async function nodeStandIn(dir: string, major: number): Promise<StandIn> {
  const found = await run('bash', [join(ROOT, 'scripts/node-binary.sh'), String(major)], { timeoutMs: 300_000 });
  if (found.code !== 0) throw new Error(`scripts/node-binary.sh ${major}: ${found.stderr}`);
  const binary = join(found.stdout.trim(), 'bin/node');
  const reported = await run(binary, ['-p', 'process.versions.node + " " + process.versions.modules']);
  const [nodeVersion, abi] = reported.stdout.trim().split(' ') as [string, string];
  return { major, version: nodeVersion, abi, file: await makeStandIn(dir, nodeVersion, binary) };
}

/**
 * A local apt repository: the .deb and the Node.js 20 stand-in, so that
 * `apt install chaussette` resolves its dependency as it would against
 * NodeSource's or Debian 13's package. Beside it, where apt only sees them
 * when named: the 22, 24 and 26 stand-ins installed over it later, and empty
 * stand-ins for Node.js majors the package must refuse.
 */
async function makeRepository(): Promise<StandIn[]> {
  for (const dir of [repo, nodes, others]) mkdirSync(dir);
  copyFileSync(deb, join(repo, basename(deb)));
  const standIns = await Promise.all(STAND_INS.map((major, i) => nodeStandIn(i === 0 ? repo : nodes, major)));
  for (const refused of REFUSED) await makeStandIn(others, refused);
  const scan = await run('sh', ['-c', 'dpkg-scanpackages . /dev/null > Packages'], { cwd: repo });
  if (scan.code !== 0) throw new Error(`dpkg-scanpackages: ${scan.stderr}`);
  return standIns;
}

const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -q -o Dir::Etc::SourceList=/etc/apt/local.list -o Dir::Etc::SourceParts=/nonexistent';

/**
 * chaussette@app.socket started afresh and one request through it, under the
 * guest's /usr/bin/node; then what systemd and the journal say: the service
 * became active, which for a Type=notify unit means systemd took READY=1
 * (from the main PID only: NotifyAccess=main), and chaussette's own line
 * names the addon for this Node's ABI, not systemd-notify. Returns the PID.
 */
async function serveThroughAddon(t: Test, node: StandIn): Promise<string> {
  await sh('systemctl stop chaussette@app.socket chaussette@app.service');
  await sh('systemctl start chaussette@app.socket');
  const answer = JSON.parse(await sh('curl -sS --max-time 10 --unix-socket /run/chaussette/app.sock http://app/hello')) as {
    app: string;
    path: string;
    pid: number;
    node: string;
  };
  t.same({ app: answer.app, path: answer.path, node: answer.node }, { app: 'packaged', path: '/hello', node: `v${node.version}` }, `served by Node.js ${node.version}`);
  const pid = String(answer.pid);
  const unit = 'chaussette@app.service';
  let state = '';
  await waitUntil(
    async () => {
      state = (await sh(`systemctl show -p ActiveState,SubState,NotifyAccess,MainPID ${unit}`)).trim().split('\n').sort().join(' ');
      if (/ActiveState=failed/.test(state)) throw new Error(`${unit} failed: ${await sh(`journalctl -u ${unit} -o cat --no-pager | tail -n 20`)}`);
      return state === `ActiveState=active MainPID=${pid} NotifyAccess=main SubState=running`;
    },
    30_000,
    () => `${unit} to be active, that is READY=1 (last: ${state})`,
  );
  t.pass(`READY=1: ${state}`);
  const transport = await waitUntil(
    async () => /Notifying systemd at \S+ through the sd-notify addon \(([^)]+)\)/.exec(await sh(`journalctl _PID=${pid} -o cat --no-pager`)),
    10_000,
    `the transport line of PID ${pid} in the journal`,
  );
  t.equal(transport[1], `/usr/lib/chaussette/dist/addons/abi${node.abi}/sd_notify.node`, `through the addon for ABI ${node.abi}`);
  t.comment(`Node.js ${node.version}: ${transport[0]}`);
  return pid;
}

t.test('installed with apt under a real systemd, then purged', async (t) => {
  const [first, ...later] = await makeRepository();
  machine = await bootMachine({
    binds: [
      { host: repo, guest: '/srv/repo', readOnly: true },
      { host: nodes, guest: '/srv/nodes', readOnly: true },
      { host: others, guest: '/srv/others', readOnly: true },
    ],
    // The stand-in packages install /usr/bin/node.
    node: false,
  });
  t.teardown(() => machine.stop());
  await machine.writeFile('/etc/apt/local.list', 'deb [trusted=yes] file:/srv/repo ./\n');
  await sh(`${APT} update`);

  await t.test('apt refuses a Node.js of a major no addon is shipped for', async (t) => {
    for (const other of REFUSED) {
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
    t.equal(await sh(`dpkg-query -W -f '\${Version}' nodejs`), `${first!.version}-0chaussette.test1`);
    t.equal((await sh('node --version')).trim(), `v${first!.version}`);
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

  let servingPid = '';
  await t.test(`systemctl start chaussette@app.socket serves the app named in /etc/chaussette/app.env (Node.js ${first!.major})`, async (t) => {
    await machine.writeFile(
      '/srv/app/server.mjs',
      "export default (req, res) => res.end(JSON.stringify({ app: 'packaged', pid: process.pid, path: req.url, node: process.version }) + '\\n');\n",
    );
    await machine.writeFile('/etc/chaussette/app.env', 'CHAUSSETTE_APP=/srv/app/server.mjs\nNODE_ENV=production\n');
    servingPid = await serveThroughAddon(t, first!);
    const status = await sh('systemctl status --no-pager chaussette@app.service');
    t.match(status, /Status: "Serving unix:\/run\/chaussette\/app\.sock \(http\)/, 'systemctl status shows our line');
    t.comment(status.split('\n').find((line) => line.includes('Status:'))?.trim() ?? '');
    // The example instance shipped as a conffile serves the built-in hello
    // app; enabled, to see purge take the link away.
    await sh('systemctl enable --now chaussette@example.socket');
    t.equal((await sh('readlink /etc/systemd/system/sockets.target.wants/chaussette@example.socket')).trim(), '/lib/systemd/system/chaussette@.socket', 'enabled');
    t.equal(await sh('curl -sS --max-time 10 --unix-socket /run/chaussette/example.sock http://example/'), 'Hello from chaussette\n');
  });

  // Node.js upgraded under an installed chaussette, as apt does it: the
  // package's dependency still holds, and the next start finds the addon for
  // the new ABI without a rebuild.
  for (const node of later) {
    await t.test(`Node.js ${node.version} installed over it: chaussette@app.socket serves through the addon for ABI ${node.abi}`, async (t) => {
      const upgrade = await sh(`${APT} install -y --no-install-recommends /srv/nodes/${node.file}`, 120_000);
      t.match(upgrade, /The following packages will be upgraded:\s+nodejs\n/);
      t.notMatch(upgrade, /REMOVED/, 'nothing removed');
      t.match(await sh(`dpkg-query -W -f '\${Status} \${Version}' chaussette nodejs`), `install ok installed ${version}-1install ok installed ${node.version}-0chaussette.test1`);
      t.equal((await sh('node --version')).trim(), `v${node.version}`);
      servingPid = await serveThroughAddon(t, node);
    });
  }

  await t.test('an upgrade in place restarts running instances on the new files', async (t) => {
    await sh(`${APT} install -y --reinstall chaussette`, 120_000);
    const answer = JSON.parse(await sh('curl -sS --max-time 10 --unix-socket /run/chaussette/app.sock http://app/')) as { pid: number };
    t.not(String(answer.pid), servingPid, 'a new process answers');
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
