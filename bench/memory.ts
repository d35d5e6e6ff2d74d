import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../src/tooling/temporal-bin';
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

/**
 * Worker memory: one worker process with `count` deploys parked at the production approval (each has planned and
 * waits on its approval timer, 1 h). Peak RSS (VmHWM) of the worker process over the whole run.
 */
export async function memory(ctx: BenchContext, count = 1_000): Promise<BenchResult> {
  const taskQueue = 'bench-memory';
  const dir = path.join(ctx.workdir, 'memory');
  const worker = await startWorker(ctx, { taskQueue, deps: 'instant', bundle: 'opsflow' }, ctx.workdir);
  let idle: number, peak: number, parkedRss: number, seconds: number;
  try {
    await sleep(1_000);
    idle = worker.memory().rssBytes;
    const began = performance.now();
    let parked = 0;
    await pool(
      Array.from({ length: count }, (_, i) => i),
      100,
      async (i) => {
        const id = `bench-memory-${i}`;
        const handle = await startDeploy(
          ctx.client,
          taskQueue,
          deployInput(ZERO_BAKE, { id, version: '1.1.0', workdir: dir }),
        );
        await waitForFirstTimer(ctx.client, id, handle.firstExecutionRunId);
        parked += 1;
        if (parked % 250 === 0) ctx.log(`memory: ${parked}/${count} deploys parked at approval`);
      },
    );
    seconds = (performance.now() - began) / 1000;
    // Let the worker settle (sticky cache, GC) before the final reading.
    await sleep(2_000);
    ({ rssBytes: parkedRss, peakRssBytes: peak } = worker.memory());
  } finally {
    await worker.stop();
  }
  const peakMiB = peak / MIB;
  const agentExists = existsSync(path.join(REPO_ROOT, 'src/workflows/agent.ts'));
  return {
    figures: [
      {
        name: `peak RSS, ${count} deploys parked at approval`,
        value: round(peakMiB, 1),
        unit: 'MiB',
        target: '≤ 500 MB',
        met: peak <= 500 * 1e6,
        note: `idle worker ${round(idle / MIB, 1)} MiB; ${round((parkedRss - idle) / count / 1024, 1)} KiB per parked deploy (RSS after parking ${round(parkedRss / MIB, 1)} MiB); worker caches up to ${worker.maxCachedWorkflows} workflows`,
      },
      {
        name: 'peak RSS, 1,000 idle agents',
        value: null,
        unit: 'MiB',
        note: agentExists
          ? 'src/workflows/agent.ts exists but the benchmark does not drive it yet'
          : 'not yet measurable: there is no agent workflow (src/workflows/agent.ts) yet',
      },
    ],
    detail: {
      count,
      idleRssMiB: round(idle / MIB, 1),
      parkedRssMiB: round(parkedRss / MIB, 1),
      peakRssMiB: round(peakMiB, 1),
      secondsToPark: round(seconds, 1),
      workerMaxCachedWorkflows: worker.maxCachedWorkflows,
    },
  };
}
