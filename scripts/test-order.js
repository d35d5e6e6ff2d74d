#!/usr/bin/env node
// @ts-check
/**
 * The order `npm test` runs its files in, from the times the last run on this machine recorded (scripts/test).
 *
 *   node scripts/test-order.js <times.json> <file>...           prints the files, longest first; files with no
 *                                                               recorded time first of all, in the order given
 *   node scripts/test-order.js --record <times.json> <new.json>  merges a run's times into times.json
 *
 * A missing or unreadable times file only means the given order: it never fails a test run.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/**
 * @param {string} file
 * @returns {Record<string, number>}
 */
function readTimes(file) {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    /** @type {Record<string, number>} */
    const times = {};
    for (const [name, seconds] of Object.entries(parsed)) {
      if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) times[name] = seconds;
    }
    return times;
  } catch {
    return {};
  }
}

/**
 * Longest first; files without a time keep their given order, ahead of the rest.
 * @param {string[]} files
 * @param {Record<string, number>} times
 * @returns {string[]}
 */
function order(files, times) {
  const unknown = files.filter((file) => times[file] === undefined);
  const known = files.filter((file) => times[file] !== undefined);
  known.sort((a, b) => (times[b] ?? 0) - (times[a] ?? 0) || a.localeCompare(b));
  return [...unknown, ...known];
}

/**
 * @param {string} timesFile
 * @param {string} runFile
 */
function record(timesFile, runFile) {
  const merged = { ...readTimes(timesFile), ...readTimes(runFile) };
  fs.mkdirSync(path.dirname(timesFile), { recursive: true });
  const temporary = `${timesFile}.${process.pid}`;
  fs.writeFileSync(temporary, `${JSON.stringify(merged, null, 2)}\n`);
  fs.renameSync(temporary, timesFile);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--record') {
    const [, timesFile, runFile] = args;
    if (!timesFile || !runFile) {
      console.error('usage: test-order.js --record <times.json> <new.json>');
      process.exit(2);
    }
    record(timesFile, runFile);
  } else {
    const [timesFile, ...files] = args;
    if (!timesFile) {
      console.error('usage: test-order.js <times.json> <file>...');
      process.exit(2);
    }
    for (const file of order(files, readTimes(timesFile))) console.log(file);
  }
}

module.exports = { order, readTimes };
