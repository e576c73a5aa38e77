#!/usr/bin/env bash
# Installs the system programs the tests drive for real, when missing:
# systemd-socket-activate (systemd), python3 (odd fds for the bad-input
# tests), ss (iproute2), setpriv (util-linux). Runs before `npm test`.
set -euo pipefail

declare -A package_of=(
  [systemd-socket-activate]=systemd
  [python3]=python3-minimal
  [ss]=iproute2
  [setpriv]=util-linux
)
missing=()
for program in "${!package_of[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${package_of[$program]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-system-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
echo "ensure-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
