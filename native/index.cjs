'use strict';
// The addon of this package (see load.cjs for where it is looked for).
const path = require('node:path');

module.exports = require('./load.cjs').loadAddon(path.join(__dirname, '..'));
