'use strict';
// `npm run test:rust`: the Rust test suites, with the packages and features
// of native/test-build.json (the test addon's build), so nothing is rebuilt.

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const { cargoArgs } = require('./test-build.json');

const result = spawnSync('cargo', ['test', '--profile', 'test-release', '--locked', ...cargoArgs, ...process.argv.slice(2)], {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
});
if (result.error) {
  console.error(`x0x: cannot run cargo (${result.error.message})`);
  process.exit(1);
}
process.exit(result.status ?? 1);
