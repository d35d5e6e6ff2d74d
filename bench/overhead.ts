import path from 'node:path';
import {
  deployInput,
  fourSteps,
  median,
  round,
  runBare,
  runDeploy,
  startWorker,
  type BenchContext,
  type BenchResult,
  type RunTiming,
} from './harness';
import type { BareDeployInput } from './workflows/bare-deploy';

/** The smallest legal canary: bake and interval 0 are allowed by the duration schema; a 0 ms timer runs as 1 ms. */
export const ZERO_BAKE = { steps: fourSteps(0), interval: 0 } as const;

/** The bare workflow doing the same: 4 steps, timers of the same length, the same approval timeout. */
export const BARE_INPUT: BareDeployInput = { steps: 4, intervalMs: 0, approvalTimeoutMs: 3_600_000 };

const WARMUP = 3;

/**
 * Orchestration overhead: one 4-step canary deploy at a time against the instant target, then the bare workflow with
 * the same activities and timers, alternating so both see the same machine; the median of `runs` each.
 */
export async function overhead(ctx: BenchContext, runs = 20): Promise<BenchResult> {
  const taskQueue = 'bench-overhead';
  const dir = path.join(ctx.workdir, 'overhead');
  const bareQueue = `${taskQueue}-bare`;
  // One worker per bundle, identical otherwise; only one of them has work at any moment.
  const [worker, bareWorker] = await Promise.all([
    startWorker(ctx, { taskQueue, deps: 'instant', bundle: 'opsflow' }, ctx.workdir),
    startWorker(ctx, { taskQueue: bareQueue, deps: 'instant', bundle: 'bare' }, ctx.workdir),
  ]);
  const opsflow: RunTiming[] = [];
  const bare: RunTiming[] = [];
  try {
    let n = 0;
    const one = async (kind: 'opsflow' | 'bare', keep: boolean) => {
      n += 1;
      const id = `bench-overhead-${kind}-${n}`;
      const timing =
        kind === 'opsflow'
          ? await runDeploy(ctx.client, taskQueue, deployInput(ZERO_BAKE, { id, version: '1.1.0', workdir: dir }))
          : await runBare(ctx.client, bareQueue, id, BARE_INPUT);
      if (keep) (kind === 'opsflow' ? opsflow : bare).push(timing);
    };
    for (let i = 0; i < WARMUP; i += 1) {
      await one('opsflow', false);
      await one('bare', false);
    }
    for (let i = 0; i < runs; i += 1) {
      // Alternate the order within each pair so neither always runs right after the other.
      const order = i % 2 === 0 ? (['opsflow', 'bare'] as const) : (['bare', 'opsflow'] as const);
      for (const kind of order) await one(kind, true);
      ctx.log(`overhead: ${i + 1}/${runs} pairs`);
    }
  } finally {
    await Promise.all([worker.stop(), bareWorker.stop()]);
  }
  const total = (t: RunTiming[]) => median(t.map((r) => r.totalMs));
  const withoutApproval = (t: RunTiming[]) => median(t.map((r) => r.totalMs - r.approvalMs));
  const ratio = total(opsflow) / total(bare);
  const ratioExcluding = withoutApproval(opsflow) / withoutApproval(bare);
  return {
    figures: [
      { name: 'deploy wall time, median', value: round(total(opsflow), 1), unit: 'ms' },
      { name: 'bare workflow wall time, median', value: round(total(bare), 1), unit: 'ms' },
      { name: 'overhead ratio opsflow / bare', value: round(ratio), unit: '×', target: '≤ 1.2', met: ratio <= 1.2 },
      {
        name: 'ratio without the approval round trip',
        value: round(ratioExcluding),
        unit: '×',
        note: `approval round trip median: opsflow ${round(median(opsflow.map((r) => r.approvalMs)), 1)} ms, bare ${round(median(bare.map((r) => r.approvalMs)), 1)} ms`,
      },
    ],
    detail: {
      runs,
      warmup: WARMUP,
      opsflowMs: opsflow.map((r) => round(r.totalMs, 1)),
      bareMs: bare.map((r) => round(r.totalMs, 1)),
      opsflowApprovalMs: opsflow.map((r) => round(r.approvalMs, 1)),
      bareApprovalMs: bare.map((r) => round(r.approvalMs, 1)),
      workerMaxCachedWorkflows: worker.maxCachedWorkflows,
    },
  };
}
