#!/usr/bin/env node
// The chaussette command. It runs the bundled program through V8's code
// cache: a socket-activated service starts on its first request, and
// compiling the bundle is the largest part of startup that is ours (the
// cache, written at build time by one real run, took cold start from ~1.3x
// to ~1.15x a bare node:http server). A cache V8 rejects (another Node
// version) only means a normal compile.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire, wrap } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

type Bundle = { start: (importModule: (url: string) => Promise<unknown>) => void };

const bundlePath = join(__dirname, 'chaussette.bundle.cjs');
const cachePath = `${bundlePath}.cache`;

function loadBundle(): Bundle {
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cachePath);
  } catch {
    // No cache: compile as usual.
  }
  const source = readFileSync(bundlePath, 'utf8').replace(/^#!.*/, '');
  const script = new Script(wrap(source), { filename: bundlePath, cachedData });
  if (process.env.CHAUSSETTE_WRITE_CODE_CACHE === '1') {
    process.on('exit', () => writeFileSync(cachePath, script.createCachedData()));
  }
  const module = { exports: {} as Bundle };
  const define = script.runInThisContext() as (...args: unknown[]) => void;
  define(module.exports, createRequire(bundlePath), module, bundlePath, __dirname);
  return module.exports;
}

// import() here, in a real module file, is Node's own loader: apps may be ESM.
loadBundle().start((url) => import(url));
