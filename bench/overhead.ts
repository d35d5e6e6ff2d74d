import path from 'node:path';
import {
  cpuSeconds,
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

/** The smallest legal canary: bake 0 and the shortest interval the schema allows (1 s: no 1 ms timers). */
export const ZERO_BAKE = { steps: fourSteps(0), interval: 1_000 } as const;

/** The bare workflow doing the same: 4 steps, timers of the same length, the same approval timeout. */
export const BARE_INPUT: BareDeployInput = { steps: 4, intervalMs: 1_000, approvalTimeoutMs: 3_600_000 };

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
  // CPU seconds of each side's worker and of the server, summed over the kept runs: steadier than wall time on a
  // busy machine. Runs are sequential, so the server's CPU during a run belongs to that run (plus its idle hum).
  const cpu = { opsflow: { worker: 0, server: 0 }, bare: { worker: 0, server: 0 } };
  try {
    let n = 0;
    const one = async (kind: 'opsflow' | 'bare', keep: boolean) => {
      n += 1;
      const id = `deploy-hello-1.1.0-bench-overhead-${kind}-${n}`;
      const pid = kind === 'opsflow' ? worker.pid : bareWorker.pid;
      const before = { worker: cpuSeconds(pid), server: cpuSeconds(ctx.server.process.pid) };
      const timing =
        kind === 'opsflow'
          ? await runDeploy(ctx.client, taskQueue, deployInput(ZERO_BAKE, { id, version: '1.1.0', workdir: dir }))
          : await runBare(ctx.client, bareQueue, id, BARE_INPUT);
      if (!keep) return;
      (kind === 'opsflow' ? opsflow : bare).push(timing);
      cpu[kind].worker += cpuSeconds(pid) - before.worker;
      cpu[kind].server += cpuSeconds(ctx.server.process.pid) - before.server;
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
  const cpuMs = (side: { worker: number; server: number }) => ({
    worker: round((side.worker * 1000) / runs, 1),
    server: round((side.server * 1000) / runs, 1),
  });
  const cpuRatio = (cpu.opsflow.worker + cpu.opsflow.server) / (cpu.bare.worker + cpu.bare.server);
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
      {
        name: 'CPU ratio opsflow / bare (worker + server)',
        value: round(cpuRatio),
        unit: '×',
        note:
          `CPU per run, worker / server: opsflow ${cpuMs(cpu.opsflow).worker} / ${cpuMs(cpu.opsflow).server} ms, ` +
          `bare ${cpuMs(cpu.bare).worker} / ${cpuMs(cpu.bare).server} ms`,
      },
    ],
    detail: {
      runs,
      warmup: WARMUP,
      opsflowMs: opsflow.map((r) => round(r.totalMs, 1)),
      bareMs: bare.map((r) => round(r.totalMs, 1)),
      opsflowApprovalMs: opsflow.map((r) => round(r.approvalMs, 1)),
      bareApprovalMs: bare.map((r) => round(r.approvalMs, 1)),
      cpuMsPerRun: { opsflow: cpuMs(cpu.opsflow), bare: cpuMs(cpu.bare) },
      workerMaxCachedWorkflows: worker.maxCachedWorkflows,
    },
  };
}
