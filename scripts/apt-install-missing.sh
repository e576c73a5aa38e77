#!/usr/bin/env bash
# Installs, with apt, the Debian packages whose program (or file) is missing.
# The one place the project's scripts get system tools from: .ci/run,
# test/ensure-system-deps.sh, test/systemd/rootfs.sh, packaging/build.sh.
#
#   scripts/apt-install-missing.sh WHO NEED...
#     WHO   names the caller in messages
#     NEED  PROGRAM=PACKAGE (a command on PATH) or /PATH=PACKAGE (a file)
#
# Exits 0 when nothing is missing or all of it got installed, 69 when
# something is missing and this is not root. Writes only to stderr.
set -euo pipefail
exec </dev/null

who=$1
shift
missing() {
  local need thing
  for need in "$@"; do
    thing=${need%%=*}
    if [[ $thing == /* ]]; then
      [ -e "$thing" ] || echo "${need#*=}"
    else
      command -v "$thing" >/dev/null 2>&1 || echo "${need#*=}"
    fi
  done | sort -u
}

mapfile -t packages < <(missing "$@")
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "$who: missing ${packages[*]}; install them (apt-get install ${packages[*]}) or run as root" >&2
  exit 69
fi

# Callers may run at once (test files in parallel): one apt-get at a time,
# and whoever waited looks again.
exec 9>/var/lib/apt/chaussette-install.lock
flock 9
mapfile -t packages < <(missing "$@")
[ ${#packages[@]} -eq 0 ] && exit 0

echo "$who: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Some postinsts start a system service (Debian's supervisor starts a
# system-wide supervisord, and under sysvinit a failed start fails the
# install). What is installed here is for running tools, never services:
# forbid starting any while installing, the way Docker images do, unless a
# policy is in place already. Only the file written here is removed, as soon
# as the install is over (or failed).
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# scripts/apt-install-missing.sh: no service starts while installing tools\nexit 101\n' >"$policy"
  chmod 755 "$policy"
fi
apt-get update -qq >&2
# Without --no-install-recommends, systemd-container's recommended
# libnss-mymachines would edit /etc/nsswitch.conf.
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
