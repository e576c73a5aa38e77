#!/usr/bin/env bash
# Builds the deb and the rpm (npm run package), then lints both:
#
#   build/packages/chaussette_VERSION-1_ARCH.deb        (dpkg-buildpackage, debhelper)
#   build/packages/chaussette-VERSION-1.ARCH.rpm        (rpmbuild)
#   build/packages/lintian.txt, rpmlint.txt             (what the linters said)
#
# The version is package.json's. Run `npm ci` first: the program is built with
# the checkout's dev dependencies, in a copy of its sources, so a dist/ in use
# (a test run) is never touched. Exits non-zero if either linter reports an
# error; warnings are printed (and overridden only with a reason, in
# packaging/deb/debian/chaussette.lintian-overrides and packaging/rpm/rpmlint.toml).
set -euo pipefail
exec </dev/null
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/packages}
say() { echo "package: $*" >&2; }

# The tools, from Debian's own packages. The build needs libsystemd's headers
# too: the sd-notify addon compiles against them.
bash "$root/scripts/apt-install-missing.sh" package dpkg-buildpackage=dpkg-dev dh=debhelper fakeroot=fakeroot \
  lintian=lintian rpmbuild=rpm rpmlint=rpmlint /usr/include/systemd/sd-daemon.h=libsystemd-dev
[ -d "$root/node_modules/typescript" ] || { say "run npm ci first (the build needs the dev dependencies)"; exit 69; }

version=$(node -p "require('$root/package.json').version")
# Any Node.js >= 20 runs the build; the packages do not depend on which.
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  say "Node.js $(node --version) is too old: chaussette needs Node.js >= 20"
  exit 69
fi
# The Node.js majors the packages serve (README: Node.js versions): each gets
# its own sd-notify addon, compiled against that Node's headers
# (scripts/build-addons.sh), because an addon loads under one ABI only and
# without one systemd (NotifyAccess=main) would never hear READY=1.
node_majors=(20 22 24 26)
# So the packages accept exactly those majors. An odd major between two of
# them (21, 23, 25: never LTS, no addon shipped) is left out, not just the
# ones below and above: with it chaussette would stop at start (ERR_NOTIFY).
#   deb: nodejs (>= 20), nodejs (<< 21) | nodejs (>= 22), ..., nodejs (<< 27)
#        (a union of ranges, as Depends can say it: each gap is an OR).
#   rpm: (nodejs(abi20) or ... or nodejs(abi26) or (nodejs >= 2:20 with
#        nodejs < 2:21) or ...): Fedora's and RHEL's nodejs packages provide
#        nodejs(abiNN) for their major NN (epoch 1); NodeSource's provide no
#        such name and carry epoch 2, so their versions are ranges.
deb_nodejs="nodejs (>= ${node_majors[0]})"
rpm_abis='' rpm_ranges=''
previous=''
for major in "${node_majors[@]}"; do
  if [ -n "$previous" ] && [ "$major" -gt $((previous + 1)) ]; then
    deb_nodejs+=", nodejs (<< $((previous + 1))) | nodejs (>= $major)"
  fi
  rpm_abis+="nodejs(abi$major) or "
  rpm_ranges+=" or (nodejs >= 2:$major with nodejs < 2:$((major + 1)))"
  previous=$major
done
deb_nodejs+=", nodejs (<< $((previous + 1)))"
rpm_nodejs="(${rpm_abis% or }$rpm_ranges)"
arch=$(dpkg --print-architecture)
work=$(mktemp -d "${TMPDIR:-/tmp}/chaussette-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/chaussette-$version
# Reproducible dates (changelogs, archive members): the last commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}

# 1. Build the program from a copy of the sources, with the checkout's tools.
say "building chaussette $version"
mkdir -p "$work/src-copy"
cp -a "$root"/{src,scripts,tsconfig.json,package.json,package-lock.json} "$work/src-copy/"
ln -s "$root/node_modules" "$work/src-copy/node_modules"
(cd "$work/src-copy" && npm run --silent build) >&2

# 2. The tree both packages are made from: the built program, its production
# dependencies, and what is installed beside it.
mkdir -p "$tree"
cp -a "$work/src-copy/dist" "$tree/dist"
cp -a "$root"/{package.json,package-lock.json,README.md,LICENSE,man,systemd,examples} "$tree/"
mkdir -p "$tree/packaging"
cp -a "$root/packaging/example.env" "$tree/packaging/"
say "installing production dependencies, and the sd-notify addon for Node.js ${node_majors[*]}"
(
  cd "$tree"
  # --ignore-scripts: `prepare` would build again, without the dev tools; and
  # sd-notify's own build would be for this Node only, where the addons
  # below cover every major the packages accept.
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
  # Debian's hardening flags, all of them (relro, bindnow, fortify, stack
  # protector).
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  bash "$root/scripts/build-addons.sh" "$tree/dist/addons" "${node_majors[@]}" >/dev/null
) >&2
# Keep only what runs: of the addons, the files themselves, stripped; of
# the sd-notify module, its script and license (the addons are built from its
# sources) but no build of its own; of the modules, not their docs, type
# declarations, source maps, tests, CLIs' links, or repository files (the
# same for our dist/).
addon=$tree/node_modules/sd-notify
rm -rf "$addon"/{build,binding.gyp,*.cc,examples,test} "$tree"/node_modules/{.bin,.package-lock.json}
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$tree"/dist/addons/abi*/sd_notify.node
find "$tree/node_modules" -depth -type d \( -name test -o -name tests -o -name fixture -o -name fixtures -o -name benchmarks -o -name bench \
  -o -name example -o -name examples -o -name doc -o -name docs -o -name '.?*' \) -exec rm -rf {} +
find "$tree/node_modules" "$tree/dist" -type f \( -iname '*.md' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -name '*.html' -o -name '*.png' -o -name '*.sh' -o -name 'eslint.config.*' -o -name '.?*' \) -delete
find "$tree/node_modules" "$tree/dist" -depth -type d -empty -delete
# npm keeps the modes files had in their tarballs: make them plain, then
# executable where there is an interpreter line (the addon, a shared object
# loaded by Node, is not, as Debian policy has it).
find "$tree/node_modules" "$tree/dist" -type d -exec chmod 755 {} + -o -type f -exec chmod 644 {} +
chmod 755 "$tree/dist/bin.cjs"
find "$tree/node_modules" -type f -name '*.js' -exec awk 'FNR == 1 && /^#!/ { print FILENAME } { nextfile }' {} + | xargs -r chmod 755
# Systems put node at /usr/bin/node; /usr/bin/env would find whatever is
# first in PATH.
find "$tree/node_modules" "$tree/dist" -type f -perm -u+x -exec sed -i '1s|^#!/usr/bin/env node$|#!/usr/bin/node|' {} +
rm "$tree/package-lock.json"

# 3. deb, with debhelper.
say "building the deb"
cp -a "$root/packaging/deb/debian" "$tree/debian"
echo "$deb_nodejs" >"$tree/debian/nodejs-depends"
node "$root/packaging/licenses.mjs" "$tree" copyright >"$tree/debian/copyright"
cat >"$tree/debian/changelog" <<EOF
chaussette ($version-1) unstable; urgency=medium

  * Upstream release $version.

 -- chaussette developers <chaussette@packages.invalid>  $(date -R -u -d "@$SOURCE_DATE_EPOCH")
EOF
(cd "$tree" && dpkg-buildpackage -b -us -uc) >"$work/deb.log" 2>&1 || { tail -n 40 "$work/deb.log" >&2; exit 1; }
rm -rf "$tree/debian"

# 4. rpm, from a tarball of the same tree.
say "building the rpm"
tar -C "$work" -czf "$work/chaussette-$version.tar.gz" "chaussette-$version"
rpmtop=$work/rpm
mkdir -p "$rpmtop"/{SOURCES,BUILD,RPMS,SRPMS,SPECS}
mv "$work/chaussette-$version.tar.gz" "$rpmtop/SOURCES/"
rpmbuild -bb \
  --define "_topdir $rpmtop" \
  --define "chaussette_version $version" \
  --define "nodejs_requires $rpm_nodejs" \
  --define "chaussette_license $(node "$root/packaging/licenses.mjs" "$tree" spdx)" \
  --define "_build_id_links none" \
  --define "packager chaussette developers <chaussette@packages.invalid>" \
  "$root/packaging/rpm/chaussette.spec" >"$work/rpm.log" 2>&1 || { tail -n 40 "$work/rpm.log" >&2; exit 1; }

mkdir -p "$out"
rm -f "$out"/chaussette*.deb "$out"/chaussette*.rpm
mv "$work"/chaussette_"$version"-1_"$arch".deb "$out/"
find "$rpmtop/RPMS" -name '*.rpm' -exec mv {} "$out/" \;
deb=$out/chaussette_$version-1_$arch.deb
rpm=$(ls "$out"/chaussette-"$version"-1*.rpm)

# 5. Lint. lintian's and rpmlint's own exit codes decide.
say "linting"
status=0
lintian --pedantic --display-info --fail-on error,warning "$deb" >"$out/lintian.txt" 2>&1 || status=1
rpmlint -c "$root/packaging/rpm/rpmlint.toml" "$rpm" >"$out/rpmlint.txt" 2>&1 || status=1
sed 's/^/lintian: /' "$out/lintian.txt" >&2
sed 's/^/rpmlint: /' "$out/rpmlint.txt" >&2
for file in "$deb" "$rpm"; do
  echo "$file $(stat -c %s "$file")"
done
exit $status
