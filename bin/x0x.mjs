#!/usr/bin/env node
// The `x0x` command line. The commands are TypeScript (src/cli/), compiled
// into the CommonJS build; require() loads them for the reason given in
// src/esm/index.mjs. Run `x0x --help`.
import { createRequire } from 'node:module';

const { main } = createRequire(import.meta.url)('../dist/cjs/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
