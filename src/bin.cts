#!/usr/bin/env node
// The chaussette command: the bundled program (dist/chaussette.bundle.cjs),
// loaded through a compile cache (src/compile-cache.cts). The cache took cold
// start from ~1.3x to ~1.15x a bare node:http server; bench/README.md has the
// figures per Node major.

import { join } from 'node:path';
import { loadBundle } from './compile-cache.cjs';

const { bundle, startup } = loadBundle(join(__dirname, 'chaussette.bundle.cjs'));
// import() here, in a real module file, is Node's own loader: apps may be ESM
// (code run from a vm.Script cannot import() them on Node 20).
bundle.start((url) => import(url), startup);
