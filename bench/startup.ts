import { execFile, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../src/tooling/temporal-bin';
import {
  deployInput,
  median,
  round,
  startDeploy,
  startWorker,
  waitForFirstTimer,
  type BenchContext,
  type BenchResult,
} from './harness';
import { ZERO_BAKE } from './overhead';

const BIN = path.join(REPO_ROOT, 'bin', 'opsflow.js');
const BUNDLE = path.join(REPO_ROOT, 'dist', 'workflow-bundle.js');
const TARGET_MS = 300;
/** What the CLI loads, each timed alone in a fresh process: where a start-up's milliseconds go. */
const MODULES = [
  'commander',
  'zod',
  'yaml',
  '@temporalio/client',
  '@temporalio/workflow',
  'openai',
  '@anthropic-ai/sdk',
];

/**
 * Node arguments that start `opsflow`: the compiled bin, and TypeScript through tsx as before the build existed. The
 * commands' actions are import() calls, which only tsx's ES module hook (--import, not --require tsx/cjs) resolves.
 */
const RUNNERS = {
  compiled: (args: string[]) => [BIN, ...args],
  tsx: (args: string[]) => ['--import', 'tsx', 'src/cli/main.ts', ...args],
} as const;

/** Runs the bin as `opsflow <args>` and prints, as its last stderr line, the packages it had loaded when it exited. */
const LOADED_PACKAGES_SCRIPT = String.raw`
process.argv = [process.execPath, ${JSON.stringify(BIN)}, ...process.argv.slice(1)];
process.on('exit', () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const at = file.lastIndexOf('node_modules/');
    if (at < 0) continue;
    const [scope, name] = file.slice(at + 'node_modules/'.length).split('/');
    names.add(scope.startsWith('@') ? scope + '/' + name : scope);
  }
  process.stderr.write('\n' + JSON.stringify([...names].sort()) + '\n');
});
require(${JSON.stringify(BIN)});
`;

interface Timing {
  firstMs: number;
  exitMs: number;
}

/** Spawns a command and times its first byte of output (stdout or stderr) and its exit; fails unless it exits 0. */
async function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timing> {
  const began = performance.now();
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let firstMs = NaN;
  let output = '';
  const onData = (chunk: Buffer) => {
    if (Number.isNaN(firstMs)) firstMs = performance.now() - began;
    output += chunk.toString();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  const exitMs = performance.now() - began;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${output.trim().split('\n').pop()}`);
  return { firstMs, exitMs };
}

/** The packages (node_modules) a run of `opsflow <args>` loads, in a fresh process. */
async function loadedPackages(args: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const { stderr } = await promisify(execFile)(process.execPath, ['-e', LOADED_PACKAGES_SCRIPT, '--', ...args], {
    cwd: REPO_ROOT,
    env,
  });
  return JSON.parse(stderr.trim().split('\n').pop() ?? '[]') as string[];
}

/** Milliseconds a fresh process spends in `require(name)`, the median of three. */
async function requireMs(name: string): Promise<number> {
  const script = `const t = process.hrtime.bigint(); require(${JSON.stringify(name)}); console.log(Number(process.hrtime.bigint() - t) / 1e6);`;
  const runs: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: REPO_ROOT });
    runs.push(Number(stdout));
  }
  return round(median(runs), 1);
}

/** dist/workflow-bundle.js: its size, the part that is its inline source map, and the src/ files in it. */
function bundleFacts() {
  const code = readFileSync(BUNDLE, 'utf8');
  const map = /sourceMappingURL=data:application\/json;[^,]*base64,([A-Za-z0-9+/=]+)\s*$/.exec(code)?.[1] ?? '';
  const stamp = JSON.parse(readFileSync(path.join(REPO_ROOT, 'dist', 'build-stamp.json'), 'utf8')) as {
    bundle?: { inputs?: string[] };
  };
  return {
    bytes: statSync(BUNDLE).size,
    sourceMapBytes: map.length,
    srcFiles: stamp.bundle?.inputs ?? [],
  };
}

/**
 * 7. CLI start-up: wall time from spawning `opsflow` to its first output, for `--help` and for `deploy status <id>`
 * against the run's dev server (a deploy parked at its approval, answered by a worker), compiled and, in the same
 * rounds for comparison, TypeScript through tsx as before; `npx opsflow --help` for what npm exec adds; and the size
 * of the workflow bundle `npm run worker` loads.
 */
export async function startup(ctx: BenchContext, runs = 10): Promise<BenchResult> {
  const { stdout: built } = await promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.js')], {
    cwd: REPO_ROOT,
  });
  ctx.log(`startup: ${built.trim().split('\n').pop()}`);

  const taskQueue = 'bench-startup';
  const worker = await startWorker(ctx, { taskQueue, deps: 'instant', bundle: 'opsflow' }, ctx.workdir);
  const times = {
    help: { compiled: [] as Timing[], tsx: [] as Timing[], npx: [] as Timing[] },
    status: { compiled: [] as Timing[], tsx: [] as Timing[] },
  };
  const loaded = { help: [] as string[], status: [] as string[] };
  try {
    const id = 'deploy-hello-1.1.0-bench-startup-status';
    const handle = await startDeploy(
      ctx.client,
      taskQueue,
      deployInput(ZERO_BAKE, { id, version: '1.1.0', workdir: path.join(ctx.workdir, 'startup') }),
    );
    await waitForFirstTimer(ctx.client, handle.workflowId, handle.firstExecutionRunId);
    const env = { ...process.env, TEMPORAL_ADDRESS: ctx.server.address, TEMPORAL_NAMESPACE: 'default' };
    // Round by round, every variant once, so machine load hits all alike; the first round only warms the file cache.
    for (let pass = 0; pass <= runs; pass += 1) {
      const keep = pass > 0;
      for (const runner of ['compiled', 'tsx'] as const) {
        const help = await timeCommand(process.execPath, RUNNERS[runner](['--help']), env);
        const status = await timeCommand(process.execPath, RUNNERS[runner](['deploy', 'status', id]), env);
        if (!keep) continue;
        times.help[runner].push(help);
        times.status[runner].push(status);
      }
      // npm exec's own start-up is the same whatever it runs: a third of the rounds show it.
      if (pass % 3 === 0) {
        const npx = await timeCommand('npx', ['--no-install', 'opsflow', '--help'], env);
        if (keep) times.help.npx.push(npx);
      }
    }
    loaded.help = await loadedPackages(['--help'], env);
    loaded.status = await loadedPackages(['deploy', 'status', id], env);
  } finally {
    await worker.stop();
  }

  const first = (t: Timing[]) => round(median(t.map((x) => x.firstMs)), 1);
  const max = (t: Timing[]) => round(Math.max(...t.map((x) => x.firstMs)), 1);
  const exit = (t: Timing[]) => round(median(t.map((x) => x.exitMs)), 1);
  const modules: Record<string, number> = {};
  for (const name of MODULES) modules[name] = await requireMs(name);
  const nodeAlone = await timeCommand(process.execPath, ['-e', 'console.log(1)'], process.env);
  const bundle = bundleFacts();
  const MB = 1e6;
  const target = `≤ ${TARGET_MS}`;
  const modulesNote = Object.entries(modules)
    .map(([m, ms]) => `${m} ${ms} ms`)
    .join(', ');
  /** Which of the packages timed alone a command loads: what its start-up pays for. */
  const loads = (packages: string[]) => MODULES.filter((m) => packages.includes(m)).join(', ') || 'none';
  return {
    figures: [
      {
        name: 'opsflow --help, first output, median',
        value: first(times.help.compiled),
        unit: 'ms',
        target,
        met: first(times.help.compiled) <= TARGET_MS,
        note: `max ${max(times.help.compiled)} ms, exit ${exit(times.help.compiled)} ms; node alone prints in ${round(nodeAlone.firstMs, 1)} ms; requiring each alone takes ${modulesNote}; of these --help loads ${loads(loaded.help)}`,
      },
      {
        name: 'opsflow deploy status <id>, first output, median',
        value: first(times.status.compiled),
        unit: 'ms',
        target,
        met: first(times.status.compiled) <= TARGET_MS,
        note: `max ${max(times.status.compiled)} ms; the query round trip is in it; of the packages above it loads ${loads(loaded.status)}`,
      },
      { name: 'tsx from source (before): --help, median', value: first(times.help.tsx), unit: 'ms' },
      { name: 'tsx from source (before): deploy status, median', value: first(times.status.tsx), unit: 'ms' },
      {
        name: 'npx opsflow --help, first output, median',
        value: first(times.help.npx),
        unit: 'ms',
        note: 'npm exec starts npm before it starts the bin; the installed bin (node_modules/.bin/opsflow) does not',
      },
      {
        name: "worker's workflow bundle (dist/workflow-bundle.js)",
        value: round(bundle.bytes / MB, 2),
        unit: 'MB',
        note: `${round(bundle.sourceMapBytes / MB, 2)} MB of it is the inline source map; ${bundle.srcFiles.length} files from src/`,
      },
    ],
    detail: {
      runs,
      firstOutputMs: {
        help: Object.fromEntries(Object.entries(times.help).map(([k, t]) => [k, t.map((x) => round(x.firstMs, 1))])),
        status: Object.fromEntries(
          Object.entries(times.status).map(([k, t]) => [k, t.map((x) => round(x.firstMs, 1))]),
        ),
      },
      exitMs: {
        help: Object.fromEntries(Object.entries(times.help).map(([k, t]) => [k, t.map((x) => round(x.exitMs, 1))])),
        status: Object.fromEntries(Object.entries(times.status).map(([k, t]) => [k, t.map((x) => round(x.exitMs, 1))])),
      },
      nodeAloneFirstOutputMs: round(nodeAlone.firstMs, 1),
      requireMs: modules,
      loadedPackages: loaded,
      bundle: {
        path: 'dist/workflow-bundle.js',
        bytes: bundle.bytes,
        sourceMapBytes: bundle.sourceMapBytes,
        codeBytes: bundle.bytes - bundle.sourceMapBytes,
        srcFiles: bundle.srcFiles,
      },
    },
  };
}
