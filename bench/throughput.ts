import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BARE_INPUT, ZERO_BAKE } from './overhead';
import {
  cpuSeconds,
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

/**
 * Starts `count` runs at once and waits for all: completed per second, per-run latency, and the CPU time the worker,
 * the server and this process (the client) spent per run.
 */
async function burst(
  count: number,
  pids: { worker: number; server: number | undefined },
  run: (i: number) => Promise<RunTiming>,
) {
  const cpu = () => ({ worker: cpuSeconds(pids.worker), server: cpuSeconds(pids.server), client: process.cpuUsage() });
  const before = cpu();
  const started = performance.now();
  const timings = await Promise.all(Array.from({ length: count }, (_, i) => run(i)));
  const seconds = (performance.now() - started) / 1000;
  const after = cpu();
  const clientUsage = process.cpuUsage(before.client);
  const perRunMs = (s: number) => round((s * 1000) / count, 1);
  return {
    perSecond: count / seconds,
    seconds,
    medianMs: median(timings.map((t) => t.totalMs)),
    cpuMsPerRun: {
      worker: perRunMs(after.worker - before.worker),
      server: perRunMs(after.server - before.server),
      client: perRunMs((clientUsage.user + clientUsage.system) / 1e6),
    },
  };
}

/**
 * Throughput: `count` zero-bake 4-step deploys started at once on one worker, each approved as soon as it waits;
 * then `count` bare workflows the same way. Completed per second over the whole burst, and the ratio.
 */
export async function throughput(ctx: BenchContext, count = 200): Promise<BenchResult> {
  const dir = path.join(ctx.workdir, 'throughput');
  // Each side on its own worker with its own bundle, one after the other: one worker busy at a time.
  const measure = async (bundle: 'opsflow' | 'bare', run: (taskQueue: string, i: number) => Promise<RunTiming>) => {
    const taskQueue = `bench-throughput-${bundle}`;
    const worker = await startWorker(ctx, { taskQueue, deps: 'instant', bundle }, ctx.workdir);
    try {
      const result = await burst(count, { worker: worker.pid, server: ctx.server.process.pid }, (i) =>
        run(taskQueue, i),
      );
      ctx.log(`throughput: ${count} ${bundle} runs in ${round(result.seconds, 1)} s`);
      return result;
    } finally {
      await worker.stop();
    }
  };
  const opsflow = await measure('opsflow', (taskQueue, i) =>
    runDeploy(
      ctx.client,
      taskQueue,
      deployInput(ZERO_BAKE, {
        id: `deploy-hello-1.1.0-bench-throughput-opsflow-${i}`,
        version: '1.1.0',
        workdir: dir,
      }),
    ),
  );
  const bare = await measure('bare', (taskQueue, i) =>
    runBare(ctx.client, taskQueue, `bench-throughput-bare-${i}`, BARE_INPUT),
  );
  const ratio = opsflow.perSecond / bare.perSecond;
  const side = (r: typeof opsflow) => ({
    seconds: round(r.seconds, 2),
    medianLatencyMs: round(r.medianMs, 1),
    cpuMsPerRun: r.cpuMsPerRun,
  });
  return {
    figures: [
      { name: `${count} deploys at once`, value: round(opsflow.perSecond, 1), unit: 'deploys/s' },
      { name: `${count} bare workflows at once`, value: round(bare.perSecond, 1), unit: 'workflows/s' },
      {
        name: 'throughput ratio opsflow / bare',
        value: round(ratio),
        unit: '×',
        target: '≥ 0.8',
        met: ratio >= 0.8,
        note:
          `CPU per run (worker / server / client): opsflow ${Object.values(opsflow.cpuMsPerRun).join(' / ')} ms, ` +
          `bare ${Object.values(bare.cpuMsPerRun).join(' / ')} ms`,
      },
    ],
    detail: { count, opsflow: side(opsflow), bare: side(bare) },
  };
}
