// --reload: notice when the app's source changes. Watches every directory
// of the project (found from the app file upwards, where package.json is),
// except node_modules and hidden ones, with one inotify watch per
// directory; a burst of changes (an editor's save, a git checkout) gives
// one call.

import { existsSync, readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { Logger } from '../log.js';
import { resolveModuleFile, splitSpec } from '../modules.js';
import { plural } from '../systemd/status.js';

const SETTLE_MS = 150;
/** Beyond this many directories the project is not what --reload is for. */
const MAX_DIRECTORIES = 2000;

/** Editors' temporary and swap files, and vim's write test (4913). */
export function ignoredName(name: string): boolean {
  return name.startsWith('.') || name.endsWith('~') || /\.(swp|swx|tmp)$/.test(name) || /^\d+$/.test(name) || name === 'node_modules';
}

/** The project an app file belongs to: the nearest directory above it with a package.json. */
export function projectRoot(appFile: string | undefined, cwd: string): string {
  if (!appFile || appFile.includes(`${join('/', 'node_modules')}/`)) return cwd;
  for (let dir = dirname(appFile); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return dirname(appFile);
  }
}

export interface TreeWatch {
  directories: number;
  close(): void;
}

export function watchTree(root: string, onChange: (relativePath: string) => void): TreeWatch {
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let first: string | undefined;

  const settle = (path: string) => {
    first ??= relative(root, path);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const changed = first!;
      first = undefined;
      onChange(changed);
    }, SETTLE_MS);
  };

  const add = (dir: string) => {
    if (watchers.has(dir) || watchers.size >= MAX_DIRECTORIES) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, name) => {
        if (!name || ignoredName(basename(name.toString()))) return;
        const path = join(dir, name.toString());
        if (isDirectory(path)) addTree(path);
        settle(path);
      });
    } catch {
      return; // Gone or unreadable: nothing to watch there.
    }
    watcher.on('error', () => {
      watcher.close();
      watchers.delete(dir);
    });
    watchers.set(dir, watcher);
  };

  const addTree = (dir: string) => {
    add(dir);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !ignoredName(entry.name)) addTree(join(dir, entry.name));
    }
  };

  addTree(root);
  return {
    directories: watchers.size,
    close() {
      clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** --reload: watches the project of the app named by `appSpec`; what the lifecycle starts once serving. */
export function sourceWatcher(appSpec: string | undefined, cwd: string, log: Logger) {
  return (onChange: (file: string) => void): TreeWatch => {
    const appFile = appSpec === undefined ? undefined : resolveModuleFile(splitSpec(appSpec).module, cwd);
    const root = projectRoot(appFile, cwd);
    const watching = watchTree(root, onChange);
    log.info(`Watching ${root} (${plural(watching.directories, 'directory', 'directories')}, without node_modules) to reload on changes`);
    return watching;
  };
}
