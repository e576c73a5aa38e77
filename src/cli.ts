#!/usr/bin/env node
// The chaussette command. Everything lives in main.ts; this file only runs it.
import { run } from './main.js';

void run(process.argv.slice(2));
