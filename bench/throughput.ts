import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BARE_INPUT, ZERO_BAKE } from './overhead';
import {
  deployInput,
  median,
  round,
  runBare,
  runDeploy,
  startWorker,
  type BenchContext,
  type BenchResult,
  type RunTiming,
} from './harness';

/** Starts `count` runs at once and waits for all: completed per second, and per-run latency. */
async function burst(count: number, run: (i: number) => Promise<RunTiming>) {
  const started = performance.now();
  const timings = await Promise.all(Array.from({ length: count }, (_, i) => run(i)));
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: count / seconds, seconds, medianMs: median(timings.map((t) => t.totalMs)) };
}

/**
 * Throughput: `count` zero-bake 4-step deploys started at once on one worker, each approved as soon as it waits;
 * then `count` bare workflows the same way. Completed per second over the whole burst, and the ratio.
 */
export async function throughput(ctx: BenchContext, count = 200): Promise<BenchResult> {
  const taskQueue = 'bench-throughput';
  const dir = path.join(ctx.workdir, 'throughput');
  const worker = await startWorker(ctx, { taskQueue, deps: 'instant' }, ctx.workdir);
  try {
    const opsflow = await burst(count, (i) =>
      runDeploy(
        ctx.client,
        taskQueue,
        deployInput(ZERO_BAKE, { id: `bench-throughput-opsflow-${i}`, version: '1.1.0', workdir: dir }),
      ),
    );
    ctx.log(`throughput: ${count} deploys in ${round(opsflow.seconds, 1)} s`);
    const bare = await burst(count, (i) => runBare(ctx.client, taskQueue, `bench-throughput-bare-${i}`, BARE_INPUT));
    ctx.log(`throughput: ${count} bare workflows in ${round(bare.seconds, 1)} s`);
    const ratio = opsflow.perSecond / bare.perSecond;
    return {
      figures: [
        { name: `${count} deploys at once`, value: round(opsflow.perSecond, 1), unit: 'deploys/s' },
        { name: `${count} bare workflows at once`, value: round(bare.perSecond, 1), unit: 'workflows/s' },
        { name: 'throughput ratio opsflow / bare', value: round(ratio), unit: '×', target: '≥ 0.8', met: ratio >= 0.8 },
      ],
      detail: {
        count,
        opsflow: { seconds: round(opsflow.seconds, 2), medianLatencyMs: round(opsflow.medianMs, 1) },
        bare: { seconds: round(bare.seconds, 2), medianLatencyMs: round(bare.medianMs, 1) },
        workerMaxCachedWorkflows: worker.maxCachedWorkflows,
      },
    };
  } finally {
    await worker.stop();
  }
}
