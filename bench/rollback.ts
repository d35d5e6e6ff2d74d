import path from 'node:path';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { RollbackResult } from '../src/activities/types';
import { approveUpdate } from '../src/shared/deploy/messages';
import { startControlGate, ZeroWeightTrap, type ControlGate } from '../test/helpers/control-gate';
import {
  deployInput,
  eventMs,
  fourSteps,
  median,
  round,
  startDeploy,
  startWorker,
  waitForFirstTimer,
  type BenchContext,
  type BenchResult,
  type ProductionSettings,
  type WorkerProcess,
} from './harness';
import { startPlatform, type RunningPlatform } from './platform';

/** The spec's ramp with a 1 s analysis interval; bakes long enough that only a rollback ends a run early. */
const FAULTY_CANARY: ProductionSettings = { steps: fourSteps('10s'), interval: '1s', minRequests: 5 };
/** Enough synthetic traffic that the 10 % step sees about 10 requests per 1 s window. */
const TRAFFIC_RPS = 100;

/**
 * Milestones of one rollback, epoch ms: the bad sample measured, the workflow's first rollback command (traffic to
 * 0 % or the rollback itself), the platform's canary weight at 0 %, and the rollback activity done (canary stopped).
 */
interface RollbackTimeline {
  sampledAt: number;
  decidedAt: number;
  weightZeroAt: number;
  stoppedAt: number;
}

/** Whether a scheduled activity is the start of a rollback: a weight of 0 %, or rollbackRelease itself. */
function startsRollback(type: string, input: unknown): boolean {
  if (type === 'rollbackRelease') return true;
  return type === 'setTrafficWeight' && (input as { weight?: number } | undefined)?.weight === 0;
}

/** Reads the timeline from history: the last sample before the rollback began, and the rollback's own result. */
async function timeline(client: Client, workflowId: string): Promise<RollbackTimeline> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const typeOf = new Map<string, string>();
  let sampledAt = NaN;
  let decidedAt = NaN;
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? '';
      typeOf.set(String(event.eventId), type);
      const payload = scheduled.input?.payloads?.[0];
      const input = payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
      if (Number.isNaN(decidedAt) && startsRollback(type, input)) decidedAt = eventMs(event.eventTime);
      continue;
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (!completed) continue;
    const type = typeOf.get(String(completed.scheduledEventId));
    if (type === 'measure' && Number.isNaN(decidedAt)) sampledAt = eventMs(event.eventTime);
    if (type === 'rollbackRelease') {
      const payload = completed.result?.payloads?.[0];
      const result = payload ? defaultPayloadConverter.fromPayload<RollbackResult>(payload) : undefined;
      if (!result?.weightZeroAt) throw new Error(`${workflowId}: the rollback result has no weightZeroAt`);
      return { sampledAt, decidedAt, weightZeroAt: result.weightZeroAt, stoppedAt: eventMs(event.eventTime) };
    }
  }
  throw new Error(`${workflowId}: no completed rollback in its history`);
}

/** A rollback whose traffic-to-zero lost its worker: when that worker was SIGKILLed, epoch ms. */
interface KilledTimeline extends RollbackTimeline {
  killedAt: number;
}

/**
 * The same faulty deploy with two workers, each reaching the platform through its own gate
 * (test/helpers/control-gate.ts): the gate that sees the rollback's 0 % call holds it, and its worker is SIGKILLed at
 * once, so the call never reaches the platform and the other worker must take the step over once the rollback's
 * heartbeat timeout gives the first attempt up. The killed worker is replaced after each run.
 */
async function killedRollbacks(
  ctx: BenchContext,
  platform: RunningPlatform,
  dir: string,
  runs: number,
): Promise<KilledTimeline[]> {
  const taskQueue = 'bench-rollback-killed';
  const trap = new ZeroWeightTrap<number>();
  const gates: ControlGate[] = [];
  const workers: (WorkerProcess | undefined)[] = [];
  const timelines: KilledTimeline[] = [];
  try {
    for (const i of [0, 1]) gates.push(await startControlGate(platform.url, trap.rule(i)));
    const start = async (i: number) => {
      const platformUrl = gates[i]!.url;
      workers[i] = await startWorker(ctx, { taskQueue, deps: 'platform', platformUrl, bundle: 'opsflow' }, dir);
    };
    await Promise.all([start(0), start(1)]);
    for (let i = 0; i < runs; i += 1) {
      const id = `deploy-hello-1.2.0-bench-rollback-killed-${i}`;
      const held = trap.arm(id);
      const input = deployInput(FAULTY_CANARY, { id, version: '1.2.0', workdir: dir });
      const handle = await startDeploy(ctx.client, taskQueue, input);
      await waitForFirstTimer(ctx.client, id, handle.firstExecutionRunId);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
      const first = await Promise.race([
        held.then((victim) => ({ victim })),
        handle.result().then((ended) => ({ ended })),
      ]);
      if ('ended' in first) throw new Error(`${id} ended ${first.ended.outcome} before a rollback`);
      const killed = workers[first.victim]!.kill();
      const killedAt = Date.now();
      await killed;
      const result = await handle.result();
      if (result.outcome !== 'rolled-back') throw new Error(`${id} ended ${result.outcome}: ${result.reason}`);
      const run = { ...(await timeline(ctx.client, id)), killedAt };
      // The gate never forwards the held call: a 0 % before the kill would mean the figure measured no takeover.
      if (run.weightZeroAt <= killedAt) throw new Error(`${id}: 0 % before its worker was killed`);
      timelines.push(run);
      ctx.log(`rollback, worker killed: ${i + 1}/${runs}: ${round(run.weightZeroAt - run.sampledAt)} ms to 0 %`);
      await start(first.victim);
    }
  } finally {
    await Promise.all(workers.map((worker) => worker?.stop()));
    await Promise.all(gates.map((gate) => gate.close()));
  }
  return timelines;
}

/**
 * Detection to rollback on the real local platform: hello 1.2.0 (20 % errors) as a canary with a 1 s analysis
 * interval, pipeline [production]; from the bad sample's measurement to the platform's 0 % canary weight; then the
 * same with the worker that runs the rollback's traffic-to-zero SIGKILLed as that call begins (`killedRuns` runs).
 */
export async function rollback(ctx: BenchContext, runs = 10, killedRuns = 3): Promise<BenchResult> {
  const dir = path.join(ctx.workdir, 'rollback');
  const taskQueue = 'bench-rollback';
  const platform = await startPlatform(dir, FAULTY_CANARY, TRAFFIC_RPS);
  const timelines: RollbackTimeline[] = [];
  let killed: KilledTimeline[] = [];
  try {
    const worker = await startWorker(
      ctx,
      { taskQueue, deps: 'platform', platformUrl: platform.url, bundle: 'opsflow' },
      dir,
    );
    try {
      for (let i = 0; i < runs; i += 1) {
        const id = `deploy-hello-1.2.0-bench-rollback-${i}`;
        const input = deployInput(FAULTY_CANARY, { id, version: '1.2.0', workdir: dir });
        const handle = await startDeploy(ctx.client, taskQueue, input);
        await waitForFirstTimer(ctx.client, id, handle.firstExecutionRunId);
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
        const result = await handle.result();
        if (result.outcome !== 'rolled-back') throw new Error(`${id} ended ${result.outcome}: ${result.reason}`);
        timelines.push(await timeline(ctx.client, id));
        ctx.log(`rollback: ${i + 1}/${runs}: ${result.reason}`);
      }
    } finally {
      await worker.stop();
    }
    killed = await killedRollbacks(ctx, platform, dir, killedRuns);
  } finally {
    await platform.stop();
  }
  const seconds = timelines.map((t) => (t.weightZeroAt - t.sampledAt) / 1000);
  const part = (f: (t: RollbackTimeline) => number) => round(median(timelines.map(f)), 1);
  const detectionMedian = median(seconds);
  const killedSeconds = killed.map((t) => (t.weightZeroAt - t.sampledAt) / 1000);
  const killedMedian = median(killedSeconds);
  const killedPart = (f: (t: KilledTimeline) => number) => round(median(killed.map(f)), 1);
  return {
    figures: [
      {
        name: 'bad sample → 0 % canary, median',
        value: round(detectionMedian, 3),
        unit: 's',
        target: '< 2',
        met: detectionMedian < 2,
        note:
          `medians: sample → first rollback command ${part((t) => t.decidedAt - t.sampledAt)} ms, ` +
          `→ weight 0 % ${part((t) => t.weightZeroAt - t.decidedAt)} ms; canary process stopped ` +
          `${part((t) => t.stoppedAt - t.sampledAt)} ms after the sample`,
      },
      {
        name: 'bad sample → 0 % canary, max',
        value: round(Math.max(...seconds), 3),
        unit: 's',
        target: '≤ 120 (spec bound)',
        met: Math.max(...seconds) <= 120,
      },
      {
        name: 'bad sample → 0 % with the worker killed mid-rollback, median',
        value: round(killedMedian, 3),
        unit: 's',
        target: '< 2',
        met: killedMedian < 2,
        note:
          `${killed.length} runs, max ${round(Math.max(...killedSeconds), 3)} s; medians: sample → worker killed as ` +
          `its 0 % call began ${killedPart((t) => t.killedAt - t.sampledAt)} ms, → 0 % set by the other worker ` +
          `${killedPart((t) => t.weightZeroAt - t.killedAt)} ms (rollback heartbeat timeout 1 s, retry after 200 ms)`,
      },
    ],
    detail: {
      runs,
      seconds: seconds.map((s) => round(s, 3)),
      /** Per run, ms after the bad sample's measure activity completed. */
      milestonesMs: timelines.map((t) => ({
        decided: round(t.decidedAt - t.sampledAt, 1),
        weightZero: round(t.weightZeroAt - t.sampledAt, 1),
        stopped: round(t.stoppedAt - t.sampledAt, 1),
      })),
      killedRuns: killed.length,
      killedSeconds: killedSeconds.map((s) => round(s, 3)),
      /** Per run with the worker killed, ms after the bad sample's measure activity completed. */
      killedMilestonesMs: killed.map((t) => ({
        decided: round(t.decidedAt - t.sampledAt, 1),
        killed: round(t.killedAt - t.sampledAt, 1),
        weightZero: round(t.weightZeroAt - t.sampledAt, 1),
        stopped: round(t.stoppedAt - t.sampledAt, 1),
      })),
      analysisInterval: FAULTY_CANARY.interval,
      trafficRps: TRAFFIC_RPS,
    },
  };
}
