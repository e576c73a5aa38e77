// The configuration file (--config FILE): `key = value` lines that people
// edit by hand, as in a systemd unit or the Python Chaussette's paste .ini.
//
//   # comment            ; comment too
//   [chaussette]         optional, once, before the first key
//   app = ./server.js
//   fd = web, admin      repeatable keys may also repeat the line
//   graceful-timeout = "20"
//
// Parsing is pure: text and the file's name in, the entries with their line
// numbers out, or a ChaussetteError naming FILE line N and the key. Which keys
// exist is the caller's to say (options.ts derives them from OPTION_TABLE);
// what a value means is checked later by the option's own parser.

import { dirname, isAbsolute, join } from 'node:path';
import { errors } from '../errors.js';

export interface ConfigEntry {
  key: string;
  value: string;
  line: number;
}

export interface ConfigKey {
  /** May the key come back (or hold a comma-separated list)? */
  repeatable: boolean;
}

/** The one section a file may have, so that a paste-style .ini reads as well as a bare list. */
export const SECTION = 'chaussette';

/** Entries by key, in file order. An empty value counts as not set, as an empty CHAUSSETTE_* variable does. */
export function parseConfig(text: string, file: string, keys: ReadonlyMap<string, ConfigKey>): Map<string, ConfigEntry[]> {
  const found = new Map<string, ConfigEntry[]>();
  let sectionLine: number | undefined;
  let firstKeyLine: number | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#') || content.startsWith(';')) return;

    const section = /^\[(.*)\]$/.exec(content);
    if (section) {
      const name = section[1]!.trim();
      if (name !== SECTION) {
        throw errors.configLine(file, line, `section [${name}] is not known`, `the only section is [${SECTION}], and it may be left out`);
      }
      if (sectionLine !== undefined) throw errors.configLine(file, line, `[${SECTION}] again (first on line ${sectionLine})`, 'give it once, at the top');
      if (firstKeyLine !== undefined) throw errors.configLine(file, line, `[${SECTION}] after a key (line ${firstKeyLine})`, 'give it once, at the top');
      sectionLine = line;
      return;
    }

    const equals = content.indexOf('=');
    if (equals < 0) {
      throw errors.configLine(file, line, `${JSON.stringify(truncate(content))} is not a key = value line`, 'write key = value; # and ; start a comment line');
    }
    const key = content.slice(0, equals).trim();
    const value = unquote(content.slice(equals + 1).trim());
    firstKeyLine ??= line;
    if (key === '') throw errors.configLine(file, line, 'a value without a key', 'write key = value');

    const known = keys.get(key);
    if (!known) {
      const closest = closestKey(key, [...keys.keys()]);
      const hint = closest ? `did you mean "${closest}"? keys are the long options without --, and app, args` : 'keys are the long options without -- (chaussette --help), and app, args';
      throw errors.configLine(file, line, `unknown key ${JSON.stringify(key)}`, hint);
    }
    const previous = found.get(key);
    if (previous && !known.repeatable) {
      throw errors.configLine(file, line, `${key} is already set on line ${previous[0]!.line}`, `give ${key} once`);
    }
    if (value === '') return;
    found.set(key, [...(previous ?? []), { key, value, line }]);
  });
  return found;
}

/** `"a b"` and `'a b'` lose their quotes; nothing else is unescaped, as in a systemd EnvironmentFile=. */
function unquote(value: string): string {
  const quoted = /^(["'])(.*)\1$/s.exec(value);
  return quoted ? quoted[2]! : value;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * The known key a mistyped one most likely meant: the same key spelt the
 * way an environment file spells it (CHAUSSETTE_GRACEFUL_TIMEOUT,
 * graceful_timeout), or one at most two edits away.
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const normalized = key.toLowerCase().replace(/^chaussette_/, '').replace(/_/g, '-');
  if (known.includes(normalized)) return normalized;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(normalized, candidate);
    if (distance <= 2 && distance < candidate.length && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit (prot, port). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * What a relative path in the file is relative to: the file's directory, as
 * for any file in /etc that names another. A module spec is a path only when
 * it starts with ./ or ../ (a bare name is a package, and stays one); a file
 * path is relative whenever it is not absolute, except `-` (standard output).
 */
export type RelativeTo = 'module' | 'file';

export function resolveFromConfig(value: string, kind: RelativeTo, configFile: string): string {
  const dir = dirname(configFile);
  if (kind === 'file') {
    if (value === '-' || isAbsolute(value)) return value;
    return join(dir, value);
  }
  if (!/^\.{1,2}(\/|$)/.test(value)) return value;
  const joined = join(dir, value);
  // Still a path to the module resolver when the file itself was named relatively.
  return isAbsolute(joined) || /^\.{1,2}(\/|$)/.test(joined) ? joined : `./${joined}`;
}
