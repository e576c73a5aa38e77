#!/usr/bin/env bash
# Installs what the tests drive for real, when missing, then makes sure the
# sd-notify addon is built. Runs before `npm test` (pretest).
#   systemd-socket-activate, systemd-notify (systemd); python3 (odd fds, the
#   NOTIFY_SOCKET receiver); ss (iproute2); setpriv (util-linux);
#   libsystemd-dev (headers the sd-notify addon compiles against);
#   supervisord, supervisorctl (supervisor; test/supervisor.test.ts runs its
#   own instance from a temporary config, never the system-wide one);
#   mandoc and groff (groff-base), which test/man.test.ts lints and renders
#   man/chaussette.1 with;
#   dpkg-buildpackage (dpkg-dev), dh (debhelper), fakeroot, lintian, rpmbuild
#   (rpm), rpmlint, which packaging/build.sh builds and lints the packages
#   with; dpkg-deb (dpkg), with which test/packaging.test.ts makes the
#   Node.js packages the .deb depends on, and rpm2cpio (rpm) and cpio, with
#   which it unpacks the rpm;
#   chromium, the headless browser test/systemd/browser.test.ts drives with
#   playwright-core (which never downloads one);
#   the root tree test/systemd/machine.ts boots a real systemd from.
set -euo pipefail
cd "$(dirname "$0")/.."

needs=(
  systemd-socket-activate=systemd
  systemd-notify=systemd
  python3=python3-minimal
  ss=iproute2
  setpriv=util-linux
  /usr/include/systemd/sd-daemon.h=libsystemd-dev
  supervisord=supervisor
  supervisorctl=supervisor
  mandoc=mandoc
  groff=groff-base
  dpkg-buildpackage=dpkg-dev
  dpkg-scanpackages=dpkg-dev
  dh=debhelper
  fakeroot=fakeroot
  lintian=lintian
  rpmbuild=rpm
  rpmlint=rpmlint
  rpm2cpio=rpm
  cpio=cpio
  chromium=chromium
)
bash scripts/apt-install-missing.sh ensure-system-deps "${needs[@]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-system-deps: not root: the real-systemd tests (test/systemd) will not be able to boot" >&2
else
  # Built once (about a minute), then instant.
  bash test/systemd/rootfs.sh >/dev/null
fi

# `npm ci` on a machine without libsystemd-dev skips the optional addon;
# now that the headers are here, install it for real.
if ! node -e "require('sd-notify')" >/dev/null 2>&1; then
  version=$(node -p "require('./package-lock.json').packages['node_modules/sd-notify'].version")
  echo "ensure-system-deps: building the sd-notify addon ($version) against libsystemd" >&2
  npm install --no-save --no-audit --no-fund --loglevel=error "sd-notify@$version" >&2
  node -e "require('sd-notify')"
fi
