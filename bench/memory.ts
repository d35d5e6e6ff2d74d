import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { startIdleAgent } from './agent';
import { ZERO_BAKE } from './overhead';
import {
  deployInput,
  pool,
  round,
  sleep,
  startDeploy,
  startWorker,
  waitForFirstTimer,
  type BenchContext,
  type BenchResult,
} from './harness';

const MIB = 2 ** 20;

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
  count: number,
  start: (client: Client, taskQueue: string, i: number) => Promise<{ workflowId: string; firstExecutionRunId: string }>,
): Promise<Parked> {
  const taskQueue = `bench-memory-${what}`;
  const worker = await startWorker(ctx, { taskQueue, deps: 'instant', bundle: 'opsflow' }, ctx.workdir);
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
    `idle worker ${round(p.idleRssBytes / MIB, 1)} MiB, after parking ${round(p.rssBytes / MIB, 1)} MiB: ` +
    `${round((p.rssBytes - p.idleRssBytes) / count / 1024)} KiB each; parked in ${round(p.seconds, 1)} s; ` +
    `the worker caches up to ${p.maxCachedWorkflows} workflows`
  );
}

function detail(p: Parked) {
  return {
    idleRssMiB: round(p.idleRssBytes / MIB, 1),
    rssMiB: round(p.rssBytes / MIB, 1),
    peakRssMiB: round(p.peakRssBytes / MIB, 1),
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
  const deploys = await park(ctx, 'deploys', count, (client, taskQueue, i) =>
    startDeploy(client, taskQueue, deployInput(ZERO_BAKE, { id: `bench-memory-${i}`, version: '1.1.0', workdir: dir })),
  );
  const agents = await park(ctx, 'agents', count, (client, taskQueue, i) =>
    startIdleAgent(client, taskQueue, dir, `bench-idle-${i}`),
  );
  const limit = 500 * 1e6;
  return {
    figures: [
      {
        name: `peak RSS, ${count} deploys parked at approval`,
        value: round(deploys.peakRssBytes / MIB, 1),
        unit: 'MiB',
        target: '≤ 500 MB',
        met: deploys.peakRssBytes <= limit,
        note: describe(deploys, count),
      },
      {
        name: `peak RSS, ${count} idle agents`,
        value: round(agents.peakRssBytes / MIB, 1),
        unit: 'MiB',
        target: '≤ 500 MB',
        met: agents.peakRssBytes <= limit,
        note: describe(agents, count),
      },
    ],
    detail: { count, deploys: detail(deploys), agents: detail(agents) },
  };
}
