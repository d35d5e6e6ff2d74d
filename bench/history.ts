import path from 'node:path';
import type { Client } from '@temporalio/client';
import { analysisConfigSchema, DEFAULT_CANARY_STEPS } from '../src/shared/analysis-config';
import { agentDay } from './agent';
import { BARE_INPUT, ZERO_BAKE } from './overhead';
import {
  deployInput,
  fourSteps,
  round,
  runBare,
  runDeploy,
  startWorker,
  type BenchContext,
  type BenchResult,
  type ProductionSettings,
} from './harness';

interface Footprint {
  events: number;
  bytes: number;
  samples: number;
}

/** Events and bytes as the server counts them, and the samples (measure activities) in the history. */
async function footprint(client: Client, workflowId: string): Promise<Footprint> {
  const handle = client.workflow.getHandle(workflowId);
  const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
  const samples = (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'measure',
  ).length;
  return { events: description.historyLength, bytes: description.historySize ?? NaN, samples };
}

const AGENT_DAY_DEPLOYS = 20;

/** About three samples per step, like the example's 6 s bake at a 2 s interval, at the shortest legal interval. */
const SEVERAL_SAMPLES: ProductionSettings = { steps: fourSteps(3_000), interval: 1_000 };

/**
 * History footprint of a 4-step canary deploy with one approval: measured with one sample per step (zero bake) and
 * with several, which gives the cost of one more sample; from that, the built-in 30-minute ramp's history.
 */
export async function history(ctx: BenchContext): Promise<BenchResult> {
  const taskQueue = 'bench-history';
  const dir = path.join(ctx.workdir, 'history');
  const [worker, bareWorker] = await Promise.all([
    startWorker(ctx, { taskQueue, deps: 'instant', bundle: 'opsflow' }, ctx.workdir),
    startWorker(ctx, { taskQueue: `${taskQueue}-bare`, deps: 'instant', bundle: 'bare' }, ctx.workdir),
  ]);
  let one: Footprint, several: Footprint, bare: Footprint, agent: Footprint;
  try {
    const run = async (id: string, settings: ProductionSettings) => {
      await runDeploy(ctx.client, taskQueue, deployInput(settings, { id, version: '1.1.0', workdir: dir }));
      return footprint(ctx.client, id);
    };
    one = await run('deploy-hello-1.1.0-bench-history-one-sample', ZERO_BAKE);
    several = await run('deploy-hello-1.1.0-bench-history-several-samples', SEVERAL_SAMPLES);
    await runBare(ctx.client, `${taskQueue}-bare`, 'bench-history-bare', BARE_INPUT);
    bare = await footprint(ctx.client, 'bench-history-bare');
    agent = await footprint(ctx.client, await agentDay(ctx.client, taskQueue, dir, AGENT_DAY_DEPLOYS));
  } finally {
    await Promise.all([worker.stop(), bareWorker.stop()]);
  }
  const extra = several.samples - one.samples;
  const eventsPerSample = extra > 0 ? (several.events - one.events) / extra : NaN;
  const bytesPerSample = extra > 0 ? (several.bytes - one.bytes) / extra : NaN;
  const interval = analysisConfigSchema.parse({}).interval;
  const defaultSamples = DEFAULT_CANARY_STEPS.reduce((n, step) => n + Math.ceil(step.bake / interval), 0);
  const projectedEvents = one.events + (defaultSamples - one.samples) * eventsPerSample;
  const projectedBytes = one.bytes + (defaultSamples - one.samples) * bytesPerSample;
  return {
    figures: [
      {
        name: `deploy, 1 approval, ${one.samples} samples`,
        value: one.events,
        unit: 'events',
        target: '≤ 150',
        met: one.events <= 150,
        note: `${one.bytes} bytes; the bare workflow with the same activities and timers: ${bare.events} events, ${bare.bytes} bytes`,
      },
      { name: 'history bytes, same deploy', value: one.bytes, unit: 'bytes' },
      {
        name: 'each further sample',
        value: round(eventsPerSample, 1),
        unit: 'events',
        note: `${round(bytesPerSample)} bytes per sample (measured: ${several.samples} samples gave ${several.events} events, ${several.bytes} bytes)`,
      },
      {
        name: `built-in 30 min ramp (${defaultSamples} samples), projected`,
        value: Math.round(projectedEvents),
        unit: 'events',
        target: '≤ 150',
        met: projectedEvents <= 150,
        note: `${Math.round(projectedBytes)} bytes; projected from the two measured deploys, not run (it takes 30 minutes)`,
      },
      {
        name: `agent's day (${AGENT_DAY_DEPLOYS} deploys, self-review)`,
        value: agent.events,
        unit: 'events',
        note: `${agent.bytes} bytes in the agent's own history (its deploys are child workflows with their own)`,
      },
    ],
    detail: {
      oneSample: one,
      severalSamples: several,
      bare,
      agentDay: agent,
      eventsPerSample,
      bytesPerSample,
      defaultSamples,
    },
  };
}
