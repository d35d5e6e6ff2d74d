import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { startIdleAgent } from './agent';
import { BARE_INPUT, ZERO_BAKE } from './overhead';
import {
  deployInput,
  pool,
  round,
  sleep,
  startBare,
  startDeploy,
  startWorker,
  waitForFirstTimer,
  type BenchContext,
  type BenchResult,
} from './harness';

/** The target is in MB (10^6 bytes), so every figure here is too. */
const MB = 1e6;

interface Parked {
  idleRssBytes: number;
  rssBytes: number;
  peakRssBytes: number;
  seconds: number;
  maxCachedWorkflows: number;
}

/**
 * Starts a fresh worker process, then `count` workflows (100 at a time), each until its first timer: the point where
 * it waits with nothing to do. Reads the worker's RSS before, after, and its peak (VmHWM) over the whole run.
 */
async function park(
  ctx: BenchContext,
  what: string,
  bundle: 'opsflow' | 'bare',
  count: number,
  start: (client: Client, taskQueue: string, i: number) => Promise<{ workflowId: string; firstExecutionRunId: string }>,
): Promise<Parked> {
  const taskQueue = `bench-memory-${what}`;
  const worker = await startWorker(ctx, { taskQueue, deps: 'instant', bundle }, ctx.workdir);
  try {
    await sleep(1_000);
    const idleRssBytes = worker.memory().rssBytes;
    const began = performance.now();
    let parked = 0;
    await pool(
      Array.from({ length: count }, (_, i) => i),
      100,
      async (i) => {
        const handle = await start(ctx.client, taskQueue, i);
        await waitForFirstTimer(ctx.client, handle.workflowId, handle.firstExecutionRunId);
        parked += 1;
        if (parked % 250 === 0) ctx.log(`memory: ${parked}/${count} ${what} parked`);
      },
    );
    const seconds = (performance.now() - began) / 1000;
    // Let the worker settle (sticky cache, GC) before the last reading.
    await sleep(2_000);
    const { rssBytes, peakRssBytes } = worker.memory();
    return { idleRssBytes, rssBytes, peakRssBytes, seconds, maxCachedWorkflows: worker.maxCachedWorkflows };
  } finally {
    await worker.stop();
  }
}

function describe(p: Parked, count: number): string {
  return (
    `idle worker ${round(p.idleRssBytes / MB, 1)} MB, after parking ${round(p.rssBytes / MB, 1)} MB: ` +
    `${round((p.rssBytes - p.idleRssBytes) / count / 1000)} kB each; parked in ${round(p.seconds, 1)} s; ` +
    `the worker caches up to ${p.maxCachedWorkflows} workflows`
  );
}

function detail(p: Parked) {
  return {
    idleRssMB: round(p.idleRssBytes / MB, 1),
    rssMB: round(p.rssBytes / MB, 1),
    peakRssMB: round(p.peakRssBytes / MB, 1),
    secondsToPark: round(p.seconds, 1),
    maxCachedWorkflows: p.maxCachedWorkflows,
  };
}

/**
 * Worker memory: peak RSS of one worker process with `count` deploys parked at the production approval (each has
 * planned and waits on its 1 h approval timer); then of a fresh worker with `count` idle ops agents.
 */
export async function memory(ctx: BenchContext, count = 1_000): Promise<BenchResult> {
  const dir = path.join(ctx.workdir, 'memory');
  const deploys = await park(ctx, 'deploys', 'opsflow', count, (client, taskQueue, i) =>
    startDeploy(
      client,
      taskQueue,
      deployInput(ZERO_BAKE, { id: `deploy-hello-1.1.0-bench-memory-${i}`, version: '1.1.0', workdir: dir }),
    ),
  );
  const agents = await park(ctx, 'agents', 'opsflow', count, (client, taskQueue, i) =>
    startIdleAgent(client, taskQueue, dir, `bench-idle-${i}`),
  );
  // For scale: what bare Temporal keeps per parked workflow (fewer of them; only the per-workflow figure is used).
  const bareCount = Math.ceil(count / 5);
  const bare = await park(ctx, 'bare', 'bare', bareCount, (client, taskQueue, i) =>
    startBare(client, taskQueue, `bench-memory-bare-${i}`, BARE_INPUT),
  );
  const perWorkflowKB = (p: Parked, n: number) => round((p.rssBytes - p.idleRssBytes) / n / 1000);
  return {
    figures: [
      {
        name: `peak RSS, ${count} deploys parked at approval`,
        value: round(deploys.peakRssBytes / MB, 1),
        unit: 'MB',
        target: '≤ 500 MB',
        met: deploys.peakRssBytes <= 500 * MB,
        note: describe(deploys, count),
      },
      {
        name: `peak RSS, ${count} idle agents`,
        value: round(agents.peakRssBytes / MB, 1),
        unit: 'MB',
        target: '≤ 500 MB',
        met: agents.peakRssBytes <= 500 * MB,
        note: describe(agents, count),
      },
      {
        name: 'RSS per parked deploy',
        value: perWorkflowKB(deploys, count),
        unit: 'kB',
        note:
          `per idle agent ${perWorkflowKB(agents, count)} kB; per bare workflow ${perWorkflowKB(bare, bareCount)} kB ` +
          `(the bare workflow in its own bundle, ${bareCount} parked at its approval wait)`,
      },
    ],
    detail: { count, deploys: detail(deploys), agents: detail(agents), bare: { count: bareCount, ...detail(bare) } },
  };
}
