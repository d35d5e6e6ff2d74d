#!/usr/bin/env node
// @ts-check
// The opsflow CLI, compiled to dist/ by `npm run build` (npm start and npm test build it when it is stale).
'use strict';
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
// In a checkout (scripts/build.js beside dist/), refuse to run code older than its sources: no silently old CLI.
const stale = existsSync(path.join(root, 'scripts', 'build.js'))
  ? require('../scripts/build.js').staleReason()
  : existsSync(main)
    ? undefined
    : 'dist/ is not built';
if (stale) {
  console.error(`opsflow: ${stale}: run npm run build`);
  process.exit(1);
}
require(main);
