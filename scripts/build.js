#!/usr/bin/env node
// @ts-check
/**
 * `npm run build`: compiles src/ to dist/ with tsc (tsconfig.build.json) and prebuilds the workflow bundle the worker
 * loads (dist/workflow-bundle.js). Each part is skipped when nothing it is built from changed since the last build,
 * by the modification times recorded in dist/build-stamp.json. Plain JavaScript, so it runs before anything is
 * compiled; bin/opsflow.js asks it whether dist/ is stale.
 *
 *   node scripts/build.js           build what is stale
 *   node scripts/build.js --force   rebuild everything, from an empty dist/
 *   node scripts/build.js --no-check  compile without type checking (tsc --noCheck; the same output): for callers
 *                                   that have just type-checked the same sources, as npm test has
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, 'build-stamp.json');
const BUNDLE = path.join(DIST, 'workflow-bundle.js');
const LOCK = path.join(DIST, '.build-lock');
const TSBUILDINFO = path.join(DIST, 'tsconfig.build.tsbuildinfo');
const WORKFLOWS_ENTRY = path.join(ROOT, 'src', 'workflows', 'index.ts');
/** The worker's lenient payload converter (src/workers/worker.ts loads the same by path): bundled into the sandbox. */
const PAYLOAD_CONVERTER = path.join(ROOT, 'src', 'temporal', 'payload-converter.ts');
/** What the compiled code is built from (relative to the root): a change under any of them makes dist/ stale. */
const COMPILE_INPUTS = ['src', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
const NOT_BUILT = 'dist/ is not built';
/** Files in dist/ that tsc does not write, so pruning leaves them alone. */
const NOT_FROM_TSC = new Set(['build-stamp.json', 'workflow-bundle.js', 'tsconfig.build.tsbuildinfo', '.build-lock']);

/**
 * @typedef {{ newestInputMs: number }} CompileStamp
 * @typedef {{ newestInputMs: number, inputs: string[], bytes: number }} BundleStamp
 * @typedef {{ builtAt: string, compile: CompileStamp, bundle: BundleStamp }} Stamp
 * @typedef {{ mtimeMs: number, file: string }} Newest
 */

/**
 * The most recently modified file or folder under the given paths (folders count: a deleted or renamed file changes
 * its folder's time). Missing paths are skipped.
 * @param {string[]} relativePaths
 * @returns {Newest}
 */
function newestOf(relativePaths) {
  /** @type {Newest} */
  const newest = { mtimeMs: 0, file: '' };
  /** @param {string} rel */
  const visit = (rel) => {
    let stat;
    try {
      stat = fs.statSync(path.join(ROOT, rel));
    } catch {
      return;
    }
    if (stat.mtimeMs > newest.mtimeMs) Object.assign(newest, { mtimeMs: stat.mtimeMs, file: rel });
    if (stat.isDirectory()) for (const name of fs.readdirSync(path.join(ROOT, rel))) visit(path.join(rel, name));
  };
  relativePaths.forEach(visit);
  return newest;
}

/** @returns {Stamp | undefined} */
function readStamp() {
  try {
    return JSON.parse(fs.readFileSync(STAMP, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Why the compiled code is out of date, or undefined when it is not. Cheap (a walk of src/, no module loads): the bin
 * calls it on every run in a checkout.
 * @returns {string | undefined}
 */
function staleReason() {
  const stamp = readStamp();
  if (!stamp || !fs.existsSync(path.join(DIST, 'cli', 'main.js'))) return NOT_BUILT;
  const newest = newestOf(COMPILE_INPUTS);
  if (newest.mtimeMs > stamp.compile.newestInputMs) return `dist/ is older than ${newest.file}`;
  return undefined;
}

/**
 * Why the workflow bundle is out of date (one of the files it was bundled from, or the lock file, changed), or
 * undefined. The inputs come from the bundle's own source map, so a change elsewhere in src/ does not rebundle.
 * @param {Stamp | undefined} stamp
 * @returns {string | undefined}
 */
function bundleStaleReason(stamp) {
  if (!stamp?.bundle || !fs.existsSync(BUNDLE)) return 'there is no workflow bundle';
  const newest = newestOf(['package-lock.json', ...stamp.bundle.inputs]);
  if (newest.mtimeMs > stamp.bundle.newestInputMs) return `${newest.file} changed`;
  if (stamp.bundle.inputs.some((rel) => !fs.existsSync(path.join(ROOT, rel)))) return 'a bundled file was removed';
  return undefined;
}

/**
 * Runs tsc over tsconfig.build.json (incremental: it keeps its build info in dist/).
 * @param {boolean} noCheck emit without type checking
 * @returns {Promise<void>}
 */
function compile(noCheck) {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  const args = [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), ...(noCheck ? ['--noCheck'] : [])];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tsc failed (exit ${code}); see above`))));
  });
}

/**
 * Removes compiled files whose source is gone (a renamed or deleted module would otherwise linger in dist/).
 * @param {string} dir
 */
function pruneOrphans(dir = DIST) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    const rel = path.relative(DIST, file);
    if (NOT_FROM_TSC.has(rel)) continue;
    if (entry.isDirectory()) {
      pruneOrphans(file);
      if (fs.readdirSync(file).length === 0) fs.rmdirSync(file);
      continue;
    }
    const source = path.join(ROOT, 'src', rel.replace(/\.js(\.map)?$/, '.ts'));
    if (!fs.existsSync(source)) fs.rmSync(file);
  }
}

/**
 * Bundles src/workflows with the SDK's bundler and writes it atomically; returns the src/ files it contains.
 * @returns {Promise<{ inputs: string[], bytes: number }>}
 */
async function bundle() {
  /** @type {typeof import('@temporalio/worker')} */
  const { bundleWorkflowCode, DefaultLogger } = require('@temporalio/worker');
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_ENTRY,
    payloadConverterPath: PAYLOAD_CONVERTER,
    logger: new DefaultLogger('WARN'),
  });
  const tmp = `${BUNDLE}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, BUNDLE);
  return { inputs: bundledSources(code), bytes: Buffer.byteLength(code) };
}

/**
 * The repository files a bundle was made from, read from its inline source map (the SDK's bundler writes one).
 * @param {string} code
 * @returns {string[]}
 */
function bundledSources(code) {
  const match = /sourceMappingURL=data:application\/json;[^,]*base64,([A-Za-z0-9+/=]+)\s*$/.exec(code);
  if (!match?.[1]) throw new Error('the workflow bundle has no inline source map to read its inputs from');
  /** @type {{ sources: string[] }} */
  const map = JSON.parse(Buffer.from(match[1], 'base64').toString('utf8'));
  return map.sources
    .filter((source) => source.startsWith(ROOT + path.sep) && !source.includes(`${path.sep}node_modules${path.sep}`))
    .map((source) => path.relative(ROOT, source))
    .filter((rel) => fs.existsSync(path.join(ROOT, rel)))
    .sort();
}

/** @param {number} ms */
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Holds dist/.build-lock while `work` runs, so two builds started at once (two test files, npm start beside npm test)
 * do not write dist/ together; a lock left by a process that died is taken over. `work` learns which build it waited
 * for, if any.
 * @template T
 * @param {(waitedFor: number | undefined) => Promise<T>} work
 * @returns {Promise<T>}
 */
async function withLock(work) {
  fs.mkdirSync(DIST, { recursive: true });
  /** @type {number | undefined} */
  let waitedFor;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      fs.writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(path.join(LOCK, 'pid'), { encoding: 'utf8', flag: 'a+' }));
      if (holder && !isAlive(holder)) {
        fs.rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (waitedFor === undefined) console.log(`build: waiting for the build running in process ${holder || '?'}`);
      waitedFor = holder;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await work(waitedFor);
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}

/** @param {number} pid */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
  }
}

/**
 * Builds what is stale and says what it did, with its time.
 * @param {{ force?: boolean, noCheck?: boolean }} [options]
 * @returns {Promise<void>}
 */
async function build(options = {}) {
  const began = performance.now();
  await withLock(async (waitedFor) => {
    if (options.force) {
      for (const name of fs.readdirSync(DIST))
        if (name !== path.basename(LOCK)) fs.rmSync(path.join(DIST, name), { recursive: true });
    }
    const stamp = readStamp();
    const compileReason = staleReason();
    const bundleReason = bundleStaleReason(stamp);
    if (!compileReason && !bundleReason) {
      const how = waitedFor === undefined ? 'checked' : `built by process ${waitedFor}; waited and checked`;
      console.log(`build: dist/ is up to date (${how} in ${Math.round(performance.now() - began)} ms)`);
      return;
    }
    // Taken before building, for both parts (it bounds every input's time): a file saved while they run is newer and
    // makes the next run build again.
    const inputsMs = newestOf(COMPILE_INPUTS).mtimeMs;
    // tsc --incremental trusts its build info and would not write outputs that went missing.
    if (compileReason === NOT_BUILT) fs.rmSync(TSBUILDINFO, { force: true });
    /** @type {{ compile?: string, bundle?: string }} */
    const done = {};
    const compiling = compileReason
      ? (async () => {
          console.log(`build: compiling src/ to dist/ (${compileReason})`);
          const t0 = performance.now();
          await compile(options.noCheck ?? false);
          pruneOrphans();
          done.compile = `compiled src/ in ${seconds(performance.now() - t0)}`;
          return { newestInputMs: inputsMs };
        })()
      : Promise.resolve(/** @type {Stamp} */ (stamp).compile);
    const bundling = bundleReason
      ? (async () => {
          console.log(`build: bundling the workflows (${bundleReason})`);
          const t0 = performance.now();
          const { inputs, bytes } = await bundle();
          done.bundle = `bundled the workflows into dist/workflow-bundle.js (${(bytes / 1e6).toFixed(2)} MB) in ${seconds(performance.now() - t0)}`;
          return { newestInputMs: inputsMs, inputs, bytes };
        })()
      : Promise.resolve(/** @type {Stamp} */ (stamp).bundle);
    // Both run even if one fails, so neither is left half-written when the other throws.
    const [compiled, bundled] = await Promise.allSettled([compiling, bundling]);
    if (compiled.status === 'rejected') throw compiled.reason;
    if (bundled.status === 'rejected') throw bundled.reason;
    /** @type {Stamp} */
    const next = { builtAt: new Date().toISOString(), compile: compiled.value, bundle: bundled.value };
    fs.writeFileSync(STAMP, `${JSON.stringify(next, null, 2)}\n`);
    const parts = [done.compile, done.bundle].filter(Boolean).join('; ');
    console.log(`build: ${parts}; ${seconds(performance.now() - began)} in all`);
  });
}

/**
 * Why dist/workflow-bundle.js is out of date, or undefined: the tests run it when it is not.
 * @returns {string | undefined}
 */
function workflowBundleStaleReason() {
  return bundleStaleReason(readStamp());
}

module.exports = { build, staleReason, workflowBundleStaleReason };

if (require.main === module) {
  const force = process.argv.includes('--force');
  const noCheck = process.argv.includes('--no-check');
  build({ force, noCheck }).catch((/** @type {unknown} */ err) => {
    console.error(`build: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
