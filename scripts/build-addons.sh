#!/usr/bin/env bash
# Usage: scripts/build-addons.sh [OUTDIR] [MAJOR...]
#
# Compiles the sd-notify addon (libsystemd's sd_notify()) once per Node.js
# ABI, so that chaussette still tells systemd READY=1 after Node is upgraded
# without `npm rebuild`. It writes one file per ABI, named by that Node's
# process.versions.modules (NODE_MODULE_VERSION):
#
#   OUTDIR/abi115/sd_notify.node    Node 20
#   OUTDIR/abi127/sd_notify.node    Node 22
#   OUTDIR/abi137/sd_notify.node    Node 24
#   OUTDIR/abi14x/sd_notify.node    Node 26 ...
#
# OUTDIR defaults to dist/addons, where chaussette looks for them at run time
# (src/systemd/notify.ts: the file for the running ABI, else the sd-notify
# package's own build). MAJORs default to every supported one: 20 22 24 26.
#
# Needs: libsystemd-dev (sd-daemon.h), a C++ compiler and make, and
# node_modules/sd-notify (npm ci) for the sources. Each Node comes from
# scripts/node-binary.sh (cached, checked against the registry's sha512),
# and that Node runs npm's own node-gyp with --nodedir on its own headers:
# no download of headers, nothing written outside OUTDIR and a temp dir.
# CFLAGS/CXXFLAGS/LDFLAGS from the environment apply (dpkg-buildflags).
#
# Not part of `npm run build`: `npm ci` stays fast and offline, and a user's
# `npm install` builds sd-notify for their own Node as before. CI runs this
# once before its matrix; the deb/rpm build can run it into its tree.
#
# Output: the files written, one a line, on stdout. Errors: one line on
# stderr ("build-addons: ..."), exit 1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist/addons}
shift || true
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(20 22 24 26)

die() {
  echo "build-addons: $*" >&2
  exit 1
}

source_dir=$root/node_modules/sd-notify
[ -f "$source_dir/binding.gyp" ] || die "no $source_dir/binding.gyp: run npm ci first"
[ -f /usr/include/systemd/sd-daemon.h ] || die "no /usr/include/systemd/sd-daemon.h: install libsystemd-dev"

# npm's own node-gyp (there wherever npm is), unless NODE_GYP names another.
gyp=${NODE_GYP:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}
[ -f "$gyp" ] || die "node-gyp not found at $gyp (set NODE_GYP to its bin/node-gyp.js)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/chaussette-addons.XXXXXX")
trap 'rm -rf "$work"' EXIT

for major in "${majors[@]}"; do
  node_dir=$(bash "$root/scripts/node-binary.sh" "$major") || die "no Node.js $major (see above)"
  node=$node_dir/bin/node
  abi=$("$node" -p process.versions.modules)
  build=$work/abi$abi
  # A copy of the sources: node_modules/sd-notify/build stays the package's own build.
  mkdir -p "$build"
  cp -a "$source_dir/binding.gyp" "$source_dir"/*.cc "$build/"
  echo "build-addons: compiling sd-notify for Node $("$node" --version) (ABI $abi)" >&2
  # --nodedir: the headers in the Node tree itself (include/node); the
  # machine's npm config may point nodedir elsewhere (another Node's headers).
  if ! (cd "$build" && npm_config_nodedir="$node_dir" "$node" "$gyp" rebuild --nodedir="$node_dir" --loglevel=error) >"$build.log" 2>&1; then
    tail -n 20 "$build.log" >&2
    die "node-gyp failed for Node $major (ABI $abi); its log is above"
  fi
  mkdir -p "$out/abi$abi"
  cp "$build/build/Release/notify.node" "$out/abi$abi/sd_notify.node.tmp"
  mv -f "$out/abi$abi/sd_notify.node.tmp" "$out/abi$abi/sd_notify.node"
  # Proof it is what the name says: that Node loads it.
  "$node" -e 'const a = require(process.argv[1]); if (typeof a.sendState !== "function") process.exit(1)' "$out/abi$abi/sd_notify.node" ||
    die "Node $major cannot load the addon just built for it ($out/abi$abi/sd_notify.node)"
  echo "$out/abi$abi/sd_notify.node"
done
