// The real-systemd harness itself: a guest boots, sees what is bound into it,
// runs units, and leaves nothing behind on the host once stopped.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootMachine } from './machine.js';

/** Whether a systemd-nspawn for machine `name` runs on the host. */
function nspawnRuns(name: string): boolean {
  return readdirSync('/proc').some((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv[0]!.endsWith('systemd-nspawn') && argv.includes(name);
    } catch {
      return false;
    }
  });
}

t.test('a booted machine runs commands, units and node, then goes away cleanly', async (t) => {
  const probe = mkdtempSync(join(tmpdir(), 'chaussette-probe-'));
  t.teardown(() => rmSync(probe, { recursive: true, force: true }));
  writeFileSync(join(probe, 'file'), 'hello from the host\n');

  const started = Date.now();
  const machine = await bootMachine({
    name: `chaussette-probe-${process.pid}`,
    binds: [{ host: probe, guest: '/srv/probe', readOnly: true }],
  });
  t.teardown(() => machine.stop());
  t.comment(`booted in ${Date.now() - started} ms`);
  t.ok(machine.leaderPid > 1, 'the guest systemd has a host pid');
  t.ok(nspawnRuns(machine.name), 'systemd-nspawn runs');

  const state = await machine.exec('systemctl is-system-running');
  t.equal(state.stdout.trim(), 'running');

  t.equal((await machine.exec('cat /srv/probe/file')).stdout, 'hello from the host\n', 'binds are visible');
  const readOnly = await machine.exec('touch /srv/probe/other');
  t.not(readOnly.code, 0, 'a read-only bind stays read-only');

  const node = await machine.exec('node -e "console.log(process.version)"');
  t.equal(node.code, 0, 'node exits 0', { stderr: node.stderr });
  // The Node running the tests, whichever major the CI matrix runs.
  t.equal(node.stdout.trim(), process.version, 'the host node runs inside');

  await machine.writeFile('/etc/chaussette/deep/note', "it's here\n", 0o600);
  const written = await machine.exec('cat /etc/chaussette/deep/note && stat -c %a /etc/chaussette/deep/note');
  t.equal(written.stdout, "it's here\n600\n", 'writeFile round-trips, with its mode');

  const oneshot = await machine.exec('systemd-run --unit=probe --wait -p Type=oneshot /bin/true');
  t.equal(oneshot.code, 0, 'a transient unit runs', { stderr: oneshot.stderr });
  const input = await machine.exec('cat', { input: 'through stdin' });
  t.equal(input.stdout, 'through stdin');
  await t.rejects(machine.exec('sleep 10', { timeoutMs: 200 }), /"sleep 10" in machine .* timed out/);

  const leader = machine.leaderPid;
  const stopping = Date.now();
  await machine.stop();
  t.comment(`stopped in ${Date.now() - stopping} ms`);
  await machine.stop();
  t.notOk(existsSync(`/proc/${leader}`), 'the guest systemd is gone');
  t.notOk(nspawnRuns(machine.name), 'systemd-nspawn is gone');
  for (const hierarchy of ['systemd', 'unified']) {
    t.notOk(existsSync(`/sys/fs/cgroup/${hierarchy}/${machine.name}`), `no cgroup left under ${hierarchy}`);
  }
  t.notOk(existsSync('/sys/fs/cgroup/systemd/payload'), 'nspawn made no cgroup at the root');
});
