/**
 * The latency side of `npm run bench -- judgement` (issue 24): seeded runs of a ramp through the same `judgeRun` the
 * workflow runs, with latency histograms drawn request by request, for two releases:
 * - healthy, as fast as stable once warm, but whose one new process answers its first 5 requests in 400 ms (a cold
 *   start on the local platform, where the canary is one process started for the first step);
 * - slow on one request in five (400 ms), from its first request.
 * Judged by the rules a deploy planned now runs (revision latencyConfidence) and, to show what changed, by revision 2.
 */
import type { MetricsWindow } from '../src/shared/analysis';
import { maxBakeMs, stepBakeMs, type JudgedEnvironment, type Measurement } from '../src/shared/analysis/judge';
import { judgeRun } from '../src/shared/analysis/judge-run';
import { JUDGEMENT_RULES } from '../src/shared/analysis/rules';
import { histogramQuantile, LATENCY_BUCKETS_MS, type LatencyHistogram } from '../src/shared/statistics';
import { round, type BaseContext, type Figure } from './harness';

/**
 * Where a warm request's latency falls, per bucket of LATENCY_BUCKETS_MS (5, 10, 25, 50, 100, 250 ms ...): mostly
 * 5–25 ms with a thin tail to 250 ms, the same for stable and the canary.
 */
const WARM = [0.15, 0.35, 0.3, 0.12, 0.05, 0.03];
/** A slow request: 250–500 ms. */
const SLOW_BUCKET = LATENCY_BUCKETS_MS.indexOf(500);

/** A release as the simulation draws it: which requests are slow, by the canary process's request number. */
export interface Release {
  name: string;
  /** The canary's n-th request (0-based, over the whole ramp: one process) is slow. */
  slow: (n: number, random: () => number) => boolean;
}

export const COLD_START: Release = { name: 'cold start of 5 requests', slow: (n) => n < 5 };
export const ONE_IN_FIVE: Release = { name: 'slow on one request in five', slow: (_n, random) => random() < 0.2 };

function warmBucket(random: () => number): number {
  let u = random();
  for (let i = 0; i < WARM.length; i++) {
    u -= WARM[i]!;
    if (u < 0) return i;
  }
  return WARM.length - 1;
}

function windowOf(version: string, counts: number[]): MetricsWindow {
  const latency: LatencyHistogram = { boundsMs: [...LATENCY_BUCKETS_MS], counts };
  const requests = counts.reduce((a, b) => a + b, 0);
  return {
    version,
    requests,
    errors: 0,
    p95Ms: requests > 0 ? histogramQuantile(latency, 0.95) : null,
    p99Ms: requests > 0 ? histogramQuantile(latency, 0.99) : null,
    latency,
  };
}

/**
 * One run of `env`'s ramp at `rps`: every step sampled every interval up to its max bake (the judgement skips what it
 * no longer needs), Poisson arrivals split by weight, no errors (the error-rate figures are the judgement bench's
 * other half), every request's latency drawn on its own.
 */
export function simulateLatency(
  env: JudgedEnvironment,
  rps: number,
  release: Release,
  random: () => number,
  poisson: (random: () => number, mean: number) => number,
): Measurement[] {
  const { interval } = env.analysis;
  const measurements: Measurement[] = [];
  let served = 0;
  env.steps.forEach(({ weight }, step) => {
    const samples = Math.ceil(maxBakeMs(env.analysis, stepBakeMs(env, step)) / interval);
    for (let i = 1; i <= samples; i++) {
      const mean = (rps * interval) / 1000;
      const canary = LATENCY_BUCKETS_MS.map(() => 0);
      const stable = LATENCY_BUCKETS_MS.map(() => 0);
      for (let n = poisson(random, (mean * weight) / 100); n > 0; n--) {
        canary[release.slow(served++, random) ? SLOW_BUCKET : warmBucket(random)]! += 1;
      }
      for (let n = weight < 100 ? poisson(random, (mean * (100 - weight)) / 100) : 0; n > 0; n--) {
        stable[warmBucket(random)]! += 1;
      }
      measurements.push({
        environment: env.name,
        step,
        weight,
        elapsedMs: i * interval,
        windowMs: interval,
        canary: windowOf('new', canary),
        stable: weight < 100 ? windowOf('stable', stable) : null,
      });
    }
  });
  return measurements;
}

/** How one run ended: rolled back (at which step), or promoted with how many steps a person had to accept. */
export interface LatencyRun {
  rolledBackAtStep: number | null;
  /** Steps that paused for a person (inconclusive at their max bake, or marginal), accepted in the simulation. */
  paused: number;
}

export function judgeLatencyRun(env: JudgedEnvironment, measurements: Measurement[]): LatencyRun {
  const judged = judgeRun([env], measurements);
  const rollback = judged.samples.find((s) => s.action === 'rollback');
  return {
    rolledBackAtStep: rollback ? rollback.step : null,
    paused: judged.samples.filter((s) => s.action === 'pause').length,
  };
}

/** The tally of many runs of one release at one rate under one revision. */
export interface Tally {
  release: string;
  rps: number;
  rules: number;
  runs: number;
  rolledBack: number;
  /** Rolled back before the last (100 %) step. */
  rolledBackBeforeFull: number;
  /** Runs in which some step paused for a person. */
  withPauses: number;
  /** Runs that reached 100 % without a rollback or a pause. */
  promotedUnattended: number;
  /** Rollbacks by step index. */
  byStep: number[];
}

export function tally(
  env: JudgedEnvironment,
  release: Release,
  rps: number,
  rules: number,
  runs: number,
  random: () => number,
  poisson: (random: () => number, mean: number) => number,
): Tally {
  const judgedEnv = { ...env, rules };
  const t: Tally = {
    release: release.name,
    rps,
    rules,
    runs,
    rolledBack: 0,
    rolledBackBeforeFull: 0,
    withPauses: 0,
    promotedUnattended: 0,
    byStep: env.steps.map(() => 0),
  };
  const last = env.steps.length - 1;
  for (let run = 0; run < runs; run++) {
    const result = judgeLatencyRun(judgedEnv, simulateLatency(judgedEnv, rps, release, random, poisson));
    if (result.rolledBackAtStep !== null) {
      t.rolledBack += 1;
      t.byStep[result.rolledBackAtStep]! += 1;
      if (result.rolledBackAtStep < last) t.rolledBackBeforeFull += 1;
    } else if (result.paused === 0) {
      t.promotedUnattended += 1;
    }
    if (result.paused > 0) t.withPauses += 1;
  }
  return t;
}

/** The revisions the bench compares: a deploy planned now, and one planned before issue 24. */
export const COMPARED_RULES = { now: JUDGEMENT_RULES.latencyConfidence, before: JUDGEMENT_RULES.errorsApart } as const;

/** A ramp the property runs on, at which rates, and whether revision 2 is run beside for comparison. */
export interface LatencyRamp {
  label: string;
  env: JudgedEnvironment;
  rates: number[];
  compare: boolean;
}

/** A seed per ramp, release, rate and revision, so each tally is the same whatever else runs. */
function seedOf(ramp: number, release: number, rps: number, rules: number): number {
  return 24_000 + ramp * 100_000 + release * 1_000 + rps * 10 + rules;
}

/**
 * The latency property's figures: per ramp and rate, the healthy release with a cold start (target: never rolled
 * back) and the release slow on one request in five (target: rolled back before 100 % in every run).
 */
export function latencyFigures(
  ctx: BaseContext,
  ramps: LatencyRamp[],
  runs: number,
  prng: (seed: number) => () => number,
  poisson: (random: () => number, mean: number) => number,
): { figures: Figure[]; tallies: (Tally & { ramp: string })[] } {
  const tallies: (Tally & { ramp: string })[] = [];
  const figures: Figure[] = [];
  const pct = (n: number, t: Tally) => round((n / t.runs) * 100, 1);
  ramps.forEach((ramp, r) => {
    const steps = ramp.env.steps.map((s) => `${s.weight} %`).join(' → ');
    for (const rps of ramp.rates) {
      const run = (release: Release, i: number, rules: number) => {
        const t = tally(ramp.env, release, rps, rules, runs, prng(seedOf(r, i, rps, rules)), poisson);
        tallies.push({ ...t, ramp: ramp.label });
        return t;
      };
      const cold = run(COLD_START, 0, COMPARED_RULES.now);
      const slow = run(ONE_IN_FIVE, 1, COMPARED_RULES.now);
      const before = ramp.compare
        ? { cold: run(COLD_START, 0, COMPARED_RULES.before), slow: run(ONE_IN_FIVE, 1, COMPARED_RULES.before) }
        : undefined;
      ctx.log(`judgement: latency on the ${ramp.label} at ${rps} req/s judged`);
      figures.push(
        {
          name: `${ramp.label}, ${rps} req/s: cold start of 5 requests rolled back`,
          value: cold.rolledBack,
          unit: `of ${runs} runs`,
          target: '0',
          met: cold.rolledBack === 0,
          note:
            `${steps}; ${cold.promotedUnattended} promoted with no pause, ${cold.withPauses} paused for a person at ` +
            'some step' +
            (before ? `; by revision 2 (before issue 24): ${before.cold.rolledBack} rolled back` : ''),
        },
        {
          name: `${ramp.label}, ${rps} req/s: slow on 1 request in 5 rolled back before 100 %`,
          value: pct(slow.rolledBackBeforeFull, slow),
          unit: '% of runs',
          target: '100',
          met: slow.rolledBackBeforeFull === slow.runs,
          note:
            `at step ${slow.byStep.map((n, i) => `${i + 1}: ${n}`).join(', ')}; ${slow.runs - slow.rolledBack} not ` +
            `rolled back, ${slow.withPauses} runs paused for a person at some step` +
            (before ? `; by revision 2: ${pct(before.slow.rolledBackBeforeFull, before.slow)} %` : ''),
        },
      );
    }
  });
  return { figures, tallies };
}
