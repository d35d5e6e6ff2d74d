import path from 'node:path';
import { loadConfig } from '../src/config/load';
import type { MetricsWindow } from '../src/shared/analysis';
import { maxBakeMs, stepBakeMs, type JudgedEnvironment, type Measurement } from '../src/shared/analysis/judge';
import { judgeRun } from '../src/shared/analysis/judge-run';
import { LATEST_RULES } from '../src/shared/analysis/rules';
import { analysisConfigSchema, DEFAULT_CANARY_STEPS } from '../src/shared/analysis-config';
import { quantile, round, type BaseContext, type BenchResult } from './harness';
import { latencyFigures } from './judgement-latency';

/** A small seeded PRNG (mulberry32): the same runs every time, so two bench runs compare like with like. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Binomial draw by inversion of n Bernoulli trials (n is at most a few thousand here). */
function binomial(random: () => number, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i += 1) if (random() < p) k += 1;
  return k;
}

/** Poisson draw (Knuth): requests arriving at a mean rate in one window. */
function poisson(random: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k += 1;
    p *= random();
  }
  return k;
}

const window = (version: string, requests: number, errors: number): MetricsWindow => ({
  version,
  requests,
  errors,
  p95Ms: requests > 0 ? 5 : null,
  p99Ms: requests > 0 ? 8 : null,
});

/**
 * The measurements of one simulated run of `env`'s ramp at `rps` requests per second: every step sampled every
 * interval up to its max bake (the judgement skips what it no longer needs), the canary's error rate of each sample
 * from `canaryErrorRate(sample)`, stable at `stableErrorRate`.
 */
function simulate(
  env: JudgedEnvironment,
  rps: number,
  random: () => number,
  canaryErrorRate: (sample: number) => number,
  stableErrorRate: number,
  steps = env.steps.length,
): Measurement[] {
  const { interval } = env.analysis;
  const measurements: Measurement[] = [];
  let sample = 0;
  for (let step = 0; step < steps; step += 1) {
    const weight = env.steps[step]?.weight ?? 100;
    const perSample = Math.ceil(maxBakeMs(env.analysis, stepBakeMs(env, step)) / interval);
    for (let i = 1; i <= perSample; i += 1) {
      const mean = (rps * interval) / 1000;
      const canary = poisson(random, (mean * weight) / 100);
      const stable = weight < 100 ? poisson(random, (mean * (100 - weight)) / 100) : 0;
      measurements.push({
        environment: env.name,
        step,
        weight,
        elapsedMs: i * interval,
        canary: window('new', canary, binomial(random, canary, canaryErrorRate(sample))),
        stable: weight < 100 ? window('stable', stable, binomial(random, stable, stableErrorRate)) : null,
      });
      sample += 1;
    }
  }
  return measurements;
}

/** When a run rolled back: ramp time until the deciding sample (steps before it at the time they passed), or null. */
function rollbackAtMs(env: JudgedEnvironment, measurements: Measurement[]): number | null {
  const judged = judgeRun([env], measurements);
  let offset = 0;
  for (const s of judged.samples) {
    const m = measurements[s.index];
    if (!m || s.action === 'skipped') continue;
    if (s.action === 'rollback') return offset + m.elapsedMs;
    if (s.action === 'pass' || (s.action === 'pause' && m.elapsedMs >= stepBakeMs(env, m.step))) offset += m.elapsedMs;
  }
  return null;
}

/**
 * Canary judgement at the example's traffic (opsflow.yaml: `platform.local.trafficRps` and production's ramp and
 * analysis), by simulation through the same pure judgement the workflow runs (`judgeRun`), seeded:
 * - a release failing in one of every three samples (hello 1.2.0's 20 % errors in those, none in the others): how
 *   many runs roll back before 100 %, and how much of the ramp passes first;
 * - a healthy release with stable's own error rate (1 %) at the 10 % step: how often it is rolled back (false
 *   rollbacks);
 * - latency (issue 24) at 3, 10 and 60 requests a second, 1,000 runs each: a healthy release with a cold start of 5
 *   requests is never rolled back; a release slow on one request in five is rolled back before 100 % in every run
 *   (bench/judgement-latency.ts), by the rules a deploy planned now runs and, for comparison, by revision 2.
 * Every run is judged by the rules a deploy planned now runs (LATEST_RULES).
 */
export async function judgement(ctx: BaseContext, runs = 1_000): Promise<BenchResult> {
  const { config } = loadConfig(path.join(__dirname, '..', 'opsflow.yaml'), process.cwd(), () => undefined);
  const production = config.environments['production'];
  if (!production) throw new Error('opsflow.yaml has no production environment');
  const env: JudgedEnvironment = {
    name: 'production',
    strategy: production.strategy,
    steps: production.canary.steps,
    verifyMs: production.verify.duration,
    blueGreen: { verifyMs: production.blueGreen.verify, keepBlueMs: production.blueGreen.keepBlue },
    analysis: production.analysis,
    rules: LATEST_RULES,
  };
  const rps = config.platform.local.trafficRps;
  const random = prng(13);

  const intermittent: number[] = [];
  let promoted = 0;
  for (let run = 0; run < runs; run += 1) {
    const at = rollbackAtMs(
      env,
      simulate(env, rps, random, (i) => (i % 3 === 0 ? 0.2 : 0), 0),
    );
    if (at === null) promoted += 1;
    else intermittent.push(at);
  }
  intermittent.sort((a, b) => a - b);

  let falseRollbacks = 0;
  for (let run = 0; run < runs; run += 1) {
    if (
      rollbackAtMs(
        env,
        simulate(env, rps, random, () => 0.01, 0.01, 1),
      ) !== null
    )
      falseRollbacks += 1;
  }
  ctx.log(`judgement: ${runs} runs each at ${rps} req/s, interval ${env.analysis.interval} ms`);
  // The example's ramp at three rates, and the built-in default ramp (30-minute, a sample every 30 s) where the
  // example's 6-s steps are too short for a quiet service's traffic.
  const defaultRamp: JudgedEnvironment = {
    ...env,
    steps: DEFAULT_CANARY_STEPS,
    analysis: analysisConfigSchema.parse({}),
  };
  const latency = latencyFigures(
    ctx,
    [
      { label: 'example ramp', env, rates: [3, 10, 60], compare: true },
      { label: 'default ramp', env: defaultRamp, rates: [3, 10], compare: false },
    ],
    runs,
    prng,
    poisson,
  );
  const seconds = (ms: number) => (Number.isFinite(ms) ? round(ms / 1000, 1) : null);
  return {
    figures: [
      {
        name: 'one-in-three failing release: rolled back before 100 %',
        value: round(((runs - promoted) / runs) * 100, 1),
        unit: '% of runs',
        target: '100',
        met: promoted === 0,
      },
      {
        name: 'one-in-three failing release: ramp time to rollback, median',
        value: seconds(quantile(intermittent, 0.5)),
        unit: 's',
        note: `p90 ${seconds(quantile(intermittent, 0.9))} s; the ramp's bakes: ${env.steps.map((s) => s.bake / 1000).join(' + ')} s`,
      },
      {
        name: 'healthy release at 10 %: false rollbacks',
        value: round((falseRollbacks / runs) * 100, 2),
        unit: '% of runs',
        note: `error rate 1 % in canary and stable, ${runs} runs of the 10 % step`,
      },
      ...latency.figures,
    ],
    detail: { runs, rps, analysis: env.analysis, steps: env.steps, promoted, falseRollbacks, latency: latency.tallies },
  };
}
