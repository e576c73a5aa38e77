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
#   with; equivs-build (equivs), with which test/packaging.test.ts makes the
#   Node.js package the .deb depends on, and rpm2cpio (rpm) and cpio, with
#   which it unpacks the rpm;
#   the root tree test/systemd/machine.ts boots a real systemd from.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A package_of=(
  [systemd-socket-activate]=systemd
  [systemd-notify]=systemd
  [python3]=python3-minimal
  [ss]=iproute2
  [setpriv]=util-linux
  [supervisord]=supervisor
  [supervisorctl]=supervisor
  [mandoc]=mandoc
  [groff]=groff-base
  [dpkg-buildpackage]=dpkg-dev
  [dpkg-scanpackages]=dpkg-dev
  [dh]=debhelper
  [fakeroot]=fakeroot
  [lintian]=lintian
  [rpmbuild]=rpm
  [rpmlint]=rpmlint
  [equivs-build]=equivs
  [rpm2cpio]=rpm
  [cpio]=cpio
)
missing=()
for program in "${!package_of[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${package_of[$program]}")
done
[ -e /usr/include/systemd/sd-daemon.h ] || missing+=(libsystemd-dev)
# One package can provide several of the programs.
mapfile -t missing < <(printf '%s\n' ${missing[@]+"${missing[@]}"} | sed '/^$/d' | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  if [ ${#missing[@]} -ne 0 ]; then
    echo "ensure-system-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "ensure-system-deps: not root: the real-systemd tests (test/systemd) will not be able to boot" >&2
else
  if [ ${#missing[@]} -ne 0 ]; then
    echo "ensure-system-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Debian's supervisor postinst starts a system-wide supervisord
    # (deb-systemd-invoke under systemd, invoke-rc.d under sysvinit, where a
    # failed start fails the install). The tests need no system service and
    # never talk to one: forbid starting any while installing, the way Docker
    # images do, unless a policy is in place already. Only the file written
    # here is removed, as soon as the install is over (or failed).
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      trap 'rm -f "$policy"' EXIT
      printf '#!/bin/sh\n# ensure-system-deps.sh: no service starts while installing test tools\nexit 101\n' >"$policy"
      chmod 755 "$policy"
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$policy" ]; then
      rm -f "$policy"
      trap - EXIT
    fi
  fi
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
