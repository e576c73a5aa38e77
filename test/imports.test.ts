// Imports in src/ point one way: no module reaches itself again through
// what it imports, types included. A cycle means a type or a value lives
// in the wrong file (it belongs with what defines it).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from './helpers.js';

const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.c?ts$/.test(entry.name) ? [path] : [];
  });
}

const graph = new Map<string, string[]>();
for (const file of sources(SRC)) {
  const text = readFileSync(file, 'utf8');
  const imported = [...text.matchAll(/^(?:import|export)[^;]*? from '(\.[^']+)'/gm)].map((match) =>
    normalize(join(dirname(file), match[1]!.replace(/\.js$/, '.ts'))),
  );
  graph.set(file, imported);
}

t.test('no import cycle in src/', async (t) => {
  t.ok(graph.size > 30, `${graph.size} modules read`);
  const cycles = new Set<string>();
  const done = new Set<string>();
  const visit = (file: string, path: string[]) => {
    const at = path.indexOf(file);
    if (at >= 0) return void cycles.add([...path.slice(at), file].map((f) => relative(SRC, f)).join(' -> '));
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  t.same([...cycles], [], 'every import points one way');
});
