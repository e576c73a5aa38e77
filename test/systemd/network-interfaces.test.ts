// An app that calls os.networkInterfaces() under the shipped
// chaussette@.service, in a real systemd. libuv reads the interfaces with
// getifaddrs(3), which asks the kernel over a netlink socket: with AF_NETLINK
// left out of RestrictAddressFamilies= the call throws (ERR_SYSTEM_ERROR,
// "uv_interface_addresses returned Unknown system error 97", EAFNOSUPPORT),
// and an app that calls it as it loads never starts.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../helpers.js';
import { bootMachine, type Machine } from './machine.js';

const LIB = '/usr/lib/chaussette';
const APP = `${LIB}/test/fixtures/apps/network-interfaces.mjs`;

t.setTimeout(60_000);

let machine: Machine;
const sh = (command: string) => machine.sh(command);

/** What the fixture app served by chaussette@INSTANCE saw when it loaded; the request starts the service. */
async function served(instance: string): Promise<{ interfaces?: number; names?: string[]; error?: string }> {
  await machine.writeFile(`/etc/chaussette/${instance}.env`, `CHAUSSETTE_APP=${APP}\n`);
  await sh(`systemctl daemon-reload && systemctl start chaussette@${instance}.socket`);
  return JSON.parse(await sh(`curl -sS --max-time 10 --unix-socket /run/chaussette/${instance}.sock http://${instance}/`));
}

/** The drop-in README's "Running under systemd" gives for taking netlink away again. */
function readmeDropIn(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /```ini\n(\[Service\]\nRestrictAddressFamilies=\n[^`]*)```/.exec(readme);
  if (!block) throw new Error('README.md has no ```ini block resetting RestrictAddressFamilies=');
  return block[1]!;
}

t.before(async () => {
  machine = await bootMachine({ binds: [{ host: ROOT, guest: LIB, readOnly: true }] });
  await sh(`ln -s ${LIB}/dist/bin.cjs /usr/bin/chaussette`);
  // The shipped units, byte for byte, where `cp systemd/chaussette@.* /etc/systemd/system/` puts them.
  for (const unit of ['chaussette@.socket', 'chaussette@.service']) {
    await machine.writeFile(`/etc/systemd/system/${unit}`, readFileSync(join(ROOT, 'systemd', unit), 'utf8'));
  }
});
t.teardown(() => machine?.stop());

t.test('under the shipped unit, os.networkInterfaces() lists what the guest has', async (t) => {
  // What root outside any sandbox sees in the guest (its private network: lo).
  const expected = Object.keys(JSON.parse(await sh(`node -e 'console.log(JSON.stringify(require("os").networkInterfaces()))'`)));
  t.ok(expected.includes('lo'), `the guest has interfaces: ${expected.join(', ')}`);
  const seen = await served('app');
  t.equal(seen.error, undefined, 'no error');
  t.same(seen.names, expected, 'the same interfaces as outside the sandbox');
  t.equal(seen.interfaces, expected.length, `${expected.length} interfaces`);
});

t.test("README's drop-in without AF_NETLINK brings the error back, as an app sees it", async (t) => {
  const dropIn = readmeDropIn();
  t.notMatch(dropIn, /AF_NETLINK/, 'the drop-in leaves netlink out');
  await machine.writeFile('/etc/systemd/system/chaussette@narrow.service.d/no-netlink.conf', dropIn);
  const seen = await served('narrow');
  t.equal(seen.names, undefined, 'no interfaces');
  t.match(seen.error, /^ERR_SYSTEM_ERROR: .*uv_interface_addresses returned Unknown system error 97/, seen.error ?? 'an error');
});
