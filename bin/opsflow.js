#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so there is no build step.
require('tsx/cjs');
require('../src/cli/main.ts');
