/**
 * What every benchmark shares: the dev server (SQLite in WAL mode), the prebuilt workflow bundles, a worker in its own
 * process, deploy inputs as the CLI builds them, waiting for the approval point, and the statistics.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { buildDeployInput } from '../src/config/deploy-request';
import { configSchema } from '../src/config/schema';
import type { DeployInput } from '../src/shared/deploy';
import { ENVIRONMENT_ATTRIBUTE, PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../src/shared/search-attributes';
import { PROMPT_TIMERS, startDevServer, type DevServer } from '../src/tooling/dev-server';
import { spawnLogged, stopProcess, type LoggedProcess } from '../src/tooling/processes';
import { REPO_ROOT, resolveTemporalCli } from '../src/tooling/temporal-bin';
import { approveUpdate } from '../src/shared/deploy/messages';
import type { deploy } from '../src/workflows/deploy';
import { bareApproveUpdate, type BareDeployInput, type bareDeploy } from './workflows/bare-deploy';
import type { WorkerSpec } from './worker-process';

/** What every benchmark gets: a scratch folder and a progress log. */
export interface BaseContext {
  /** A temporary folder of this run; benchmarks make their own subfolders. */
  workdir: string;
  /** Progress lines for the person watching (stderr, so stdout keeps the table). */
  log(message: string): void;
}

/** What a Temporal benchmark gets besides: the run's dev server, a client and the workflow bundles. */
export interface BenchContext extends BaseContext {
  server: DevServer;
  client: Client;
  bundles: Bundles;
}

/** One figure a benchmark measured, as the table prints it and latest.json keeps it. */
export interface Figure {
  name: string;
  value: number | null;
  unit: string;
  /** e.g. "≤ 1.2"; absent when the spec sets none. */
  target?: string;
  /** Whether the target is met; absent without a target or without a value. */
  met?: boolean;
  note?: string;
}

/** What one benchmark returns: its figures and the raw detail behind them. */
export interface BenchResult {
  figures: Figure[];
  detail: Record<string, unknown>;
}

/**
 * The server's timer queue fires no timer earlier than now + history.timerProcessorMaxTimeShift (1 s by default), so
 * a 1 ms bake timer takes a second in opsflow and bare alike and hides the orchestration cost being measured.
 */
export const SERVER_DYNAMIC_CONFIG = PROMPT_TIMERS;

/**
 * Starts the dev server with its SQLite file in WAL mode. src/tooling/dev-server.ts has no option for SQLite pragmas,
 * so the CLI it runs is a two-line wrapper that appends `--sqlite-pragma journal_mode=wal` (via TEMPORAL_CLI_PATH).
 */
export async function startBenchServer(workdir: string): Promise<DevServer> {
  const real = resolveTemporalCli();
  const wrapper = path.join(workdir, 'temporal-wal');
  writeFileSync(wrapper, `#!/bin/sh\nexec '${real.replace(/'/g, `'\\''`)}' "$@" --sqlite-pragma journal_mode=wal\n`);
  chmodSync(wrapper, 0o755);
  const previous = process.env['TEMPORAL_CLI_PATH'];
  process.env['TEMPORAL_CLI_PATH'] = wrapper;
  try {
    return await startDevServer({
      dbFile: path.join(workdir, 'temporal.db'),
      logFile: path.join(workdir, 'server.log'),
      dynamicConfig: SERVER_DYNAMIC_CONFIG,
    });
  } finally {
    if (previous === undefined) delete process.env['TEMPORAL_CLI_PATH'];
    else process.env['TEMPORAL_CLI_PATH'] = previous;
  }
}

/** The two workflow bundles of a run: opsflow's own (the worker's real entry) and the bare comparison's. */
export interface Bundles {
  opsflow: string;
  bare: string;
}

/**
 * Bundles src/workflows (exactly what the opsflow worker runs) and bench/workflows (the bare workflow alone) once for
 * the run. Separate bundles, because a worker re-creates its bundle's module state for every workflow it caches
 * (reuseV8Context keeps one module cache per workflow): sharing one bundle would charge bare Temporal with opsflow's
 * imports.
 */
export async function buildBundles(workdir: string): Promise<Bundles> {
  const build = async (name: string, workflowsPath: string) => {
    const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
    const file = path.join(workdir, `${name}-bundle.js`);
    writeFileSync(file, code);
    return file;
  };
  const [opsflow, bare] = await Promise.all([
    build('opsflow', path.join(REPO_ROOT, 'src/workflows')),
    build('bare', require.resolve('./workflows')),
  ]);
  return { opsflow, bare };
}

/** A worker process and how to read its memory. */
export interface WorkerProcess {
  pid: number;
  /** The worker's default cache size (workflows kept in memory between tasks). */
  maxCachedWorkflows: number;
  /** Current and peak resident set size in bytes, from /proc/<pid>/status (VmRSS, VmHWM). */
  memory(): { rssBytes: number; peakRssBytes: number };
  stop(): Promise<void>;
  /** SIGKILL, as a crash would: no shutdown, no goodbye to the server; resolves once it has exited. */
  kill(): Promise<void>;
}

const TSX = ['--import', pathToFileURL(require.resolve('tsx')).href];

/** Starts bench/worker-process.ts with one of the run's bundles in `cwd` (its pino log goes to cwd/.opsflow/logs/worker.log) and waits for it. */
export async function startWorker(
  ctx: BenchContext,
  spec: Omit<WorkerSpec, 'address' | 'bundlePath' | 'kind'> & { bundle: keyof Bundles },
  cwd: string,
): Promise<WorkerProcess> {
  const { bundle, ...rest } = spec;
  const full: WorkerSpec = { ...rest, address: ctx.server.address, bundlePath: ctx.bundles[bundle], kind: bundle };
  let stdout = '';
  let resolveReady: (line: string) => void = () => undefined;
  const ready = new Promise<string>((resolve) => (resolveReady = resolve));
  const child: LoggedProcess = spawnLogged(process.execPath, [...TSX, path.join(__dirname, 'worker-process.ts')], {
    cwd,
    env: { ...process.env, BENCH_WORKER: JSON.stringify(full) },
    onStdout: (chunk) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.startsWith('ready '));
      if (line) resolveReady(line);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const line = await Promise.race([
    ready,
    child.exited.then((code) => {
      throw new Error(`bench worker exited (${code}) before it was ready: ${child.tail().trim().split('\n').pop()}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('bench worker not ready within 60 s')), 60_000);
    }),
  ])
    .catch(async (err: unknown) => {
      await stopProcess(child);
      throw err;
    })
    .finally(() => clearTimeout(timer));
  const { maxCachedWorkflows } = JSON.parse(line.slice('ready '.length)) as { maxCachedWorkflows: number };
  const pid = child.process.pid ?? 0;
  return {
    pid,
    maxCachedWorkflows,
    memory: () => readMemory(pid),
    stop: () => stopProcess(child, 15_000),
    kill: () => stopProcess(child, 0, 'SIGKILL'),
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (Linux ticks of 1/100 s). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at state; utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function readMemory(pid: number): { rssBytes: number; peakRssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/** A client of its own on the run's server. */
export async function connect(address: string): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection, namespace: 'default' }), connection };
}

/** Settings of the production environment of a benchmark deploy; durations as opsflow.yaml spells them. */
export interface ProductionSettings {
  steps: { weight: number; bake: string | number }[];
  interval: string | number;
  minRequests?: number;
  approvalTimeout?: string;
}

/** The benchmark's opsflow.yaml, as an object: hello, pipeline [production] only, the given canary. */
export function benchConfig(production: ProductionSettings, platform: { port: number; trafficRps: number }) {
  return {
    project: 'bench',
    platform: { local: platform },
    services: {
      hello: {
        command: ['node', path.join(REPO_ROOT, 'examples/hello/server.js')],
        versions: ['1.0.0', '1.1.0', '1.2.0'],
        initialVersion: '1.0.0',
      },
    },
    pipeline: ['production'],
    environments: {
      production: {
        strategy: 'canary',
        approval: { required: true, approvers: ['alice'], timeout: production.approvalTimeout ?? '1h' },
        canary: { steps: production.steps },
        analysis: {
          interval: production.interval,
          ...(production.minRequests === undefined ? {} : { minRequests: production.minRequests }),
        },
      },
    },
  };
}

/** The 4-step ramp of the spec (10 → 25 → 50 → 100 %) with one bake for every step. */
export function fourSteps(bake: string | number): ProductionSettings['steps'] {
  return [10, 25, 50, 100].map((weight) => ({ weight, bake }));
}

/**
 * A deploy input exactly as `opsflow deploy start` builds it, with a unique deploy id and handoff feature so that
 * hundreds can run side by side.
 */
export function deployInput(
  production: ProductionSettings,
  request: { id: string; version: string; workdir: string },
): DeployInput {
  const config = configSchema.parse(benchConfig(production, { port: 7070, trafficRps: 0 }));
  const input = buildDeployInput(
    config,
    { service: 'hello', version: request.version, requestedBy: 'bench', feature: request.id },
    { workdir: request.workdir },
  );
  return { ...input, deployId: request.id };
}

/** Starts a deploy with the options the CLI uses (summary, details, search attributes). */
export async function startDeploy(
  client: Client,
  taskQueue: string,
  input: DeployInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof deploy>> {
  const environments = input.environments.map((e) => e.name);
  return client.workflow.start<typeof deploy>('deploy', {
    taskQueue,
    workflowId: input.deployId,
    args: [input],
    staticSummary: `${input.service} ${input.version} → ${environments.join(' → ')}`,
    staticDetails: `Deploy **${input.service} ${input.version}** through ${environments.join(', ')}, requested by ${input.requestedBy}.`,
    typedSearchAttributes: [
      { key: SERVICE_ATTRIBUTE, value: input.service },
      { key: ENVIRONMENT_ATTRIBUTE, value: environments },
      { key: PHASE_ATTRIBUTE, value: 'PLANNING' },
    ],
  });
}

/** Starts the bare comparison workflow. */
export async function startBare(
  client: Client,
  taskQueue: string,
  id: string,
  input: BareDeployInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof bareDeploy>> {
  return client.workflow.start<typeof bareDeploy>('bareDeploy', { taskQueue, workflowId: id, args: [input] });
}

/**
 * Resolves once the workflow has started its first timer: for both the deploy (pipeline [production]) and the bare
 * workflow that is the approval wait's timeout, so the workflow now waits for the approval; for an idle agent, its
 * wait for the next deadline. Long-polls the history (waitNewEvent), so the client learns it as soon as the server
 * has it, without polling load.
 */
export async function waitForFirstTimer(client: Client, workflowId: string, runId: string): Promise<void> {
  let nextPageToken: Uint8Array | undefined;
  for (;;) {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      nextPageToken,
      waitNewEvent: true,
    });
    for (const event of page.history?.events ?? []) {
      if (event.timerStartedEventAttributes) return;
    }
    if (!page.nextPageToken?.length) throw new Error(`${workflowId} closed before it started a timer`);
    nextPageToken = page.nextPageToken;
  }
}

/** Timings of one deploy (or bare run), in ms from the start call. */
export interface RunTiming {
  /** Start call to result. */
  totalMs: number;
  /** From seeing the workflow wait to the approval Update's answer: the approval round trip. */
  approvalMs: number;
}

/** Runs one deploy to its end: start, approve via the Update as soon as it waits, await the result. */
export async function runDeploy(client: Client, taskQueue: string, input: DeployInput): Promise<RunTiming> {
  const started = performance.now();
  const handle = await startDeploy(client, taskQueue, input);
  await waitForFirstTimer(client, handle.workflowId, handle.firstExecutionRunId);
  const waiting = performance.now();
  await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
  const approved = performance.now();
  const result = await handle.result();
  if (result.outcome !== 'promoted') throw new Error(`${input.deployId} ended ${result.outcome}: ${result.reason}`);
  return { totalMs: performance.now() - started, approvalMs: approved - waiting };
}

/** Runs one bare workflow to its end, approving it the same way. */
export async function runBare(
  client: Client,
  taskQueue: string,
  id: string,
  input: BareDeployInput,
): Promise<RunTiming> {
  const started = performance.now();
  const handle = await startBare(client, taskQueue, id, input);
  await waitForFirstTimer(client, handle.workflowId, handle.firstExecutionRunId);
  const waiting = performance.now();
  await handle.executeUpdate(bareApproveUpdate, { args: [{ by: 'alice' }] });
  const approved = performance.now();
  await handle.result();
  return { totalMs: performance.now() - started, approvalMs: approved - waiting };
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The q-quantile (0..1) of `values`, linearly interpolated; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (at - lo);
}

export const median = (values: readonly number[]) => quantile(values, 0.5);

/** Rounds to `digits` decimals for the report. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Epoch ms of a protobuf Timestamp from a history event. */
export function eventMs(time: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!time) return NaN;
  return Number(time.seconds ?? 0) * 1000 + (time.nanos ?? 0) / 1e6;
}
