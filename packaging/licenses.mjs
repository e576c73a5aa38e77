// Lists what the packages carry besides chaussette itself: every module under
// the tree's node_modules/, with its license and copyright holders, read from
// the modules themselves so that the list cannot fall behind the lock file.
//
//   node packaging/licenses.mjs TREE copyright   -> debian/copyright (DEP-5)
//   node packaging/licenses.mjs TREE spdx        -> the rpm's License: tag
//
// A module whose license is not one of the texts below stops the build: its
// text has to be added here (and its terms read) first.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [tree, format] = process.argv.slice(2);
if (!tree || !['copyright', 'spdx'].includes(format ?? '')) {
  console.error('usage: node packaging/licenses.mjs TREE copyright|spdx');
  process.exit(64);
}

const own = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8'));
const modules = findModules(join(tree, 'node_modules'));

const texts = {
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
 IN THE SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY
 SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION
 OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN
 CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`,
  'BSD-3-Clause': `Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions are met:
 .
 1. Redistributions of source code must retain the above copyright notice,
 this list of conditions and the following disclaimer.
 .
 2. Redistributions in binary form must reproduce the above copyright notice,
 this list of conditions and the following disclaimer in the documentation
 and/or other materials provided with the distribution.
 .
 3. Neither the name of the copyright holder nor the names of its
 contributors may be used to endorse or promote products derived from this
 software without specific prior written permission.
 .
 THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
 AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
 ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
 LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
 CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
 SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
 INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
 CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
 ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
 POSSIBILITY OF SUCH DAMAGE.`,
};

for (const m of [{ name: own.name, license: own.license }, ...modules]) {
  if (!(m.license in texts)) {
    console.error(`licenses.mjs: ${m.name} is under ${JSON.stringify(m.license)}, which packaging/licenses.mjs has no text for`);
    process.exit(65);
  }
}

const used = [...new Set([own.license, ...modules.map((m) => m.license)])];
if (format === 'spdx') {
  console.log(used.join(' AND '));
} else {
  const stanzas = [
    ['Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/', `Upstream-Name: ${own.name}`],
    ['Files: *', 'Copyright: 2026 the chaussette developers', `License: ${own.license}`],
    ...modules.map((m) => [
      `Files: ${m.dir}/*`,
      `Copyright: ${m.holders.join('\n ')}`,
      `License: ${m.license}`,
      `Comment: ${m.name} ${m.version}, a production dependency, installed by npm ci --omit=dev`,
    ]),
    ...used.map((license) => [`License: ${license}`, ` ${texts[license]}`]),
  ];
  console.log(stanzas.map((lines) => lines.join('\n')).join('\n\n'));
}

/** Every package directory below node_modules (nested ones too), sorted by path. */
function findModules(root, found = []) {
  if (!existsSync(root)) return found;
  for (const entry of readdirSync(root).sort()) {
    if (entry.startsWith('.')) continue;
    const dir = join(root, entry);
    if (entry.startsWith('@')) {
      findModules(dir, found);
      continue;
    }
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    const license = typeof pkg.license === 'string' ? pkg.license : pkg.license?.type;
    found.push({
      dir: dir.slice(tree.length + 1),
      name: pkg.name,
      version: pkg.version,
      license,
      holders: holders(dir, pkg),
    });
    findModules(join(dir, 'node_modules'), found);
  }
  return found;
}

/** The copyright lines of the module's license file; its author when it has none. */
function holders(dir, pkg) {
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  const lines = file
    ? readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^copyright\b.*\d{4}/i.test(l))
        .map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, '').trim())
    : [];
  if (lines.length) return [...new Set(lines)];
  const author = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name;
  return [author ? `the ${pkg.name} authors: ${author}` : `the ${pkg.name} authors`];
}
