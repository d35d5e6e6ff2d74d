import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load';
import { decide, type MetricsWindow, type SampleOutcome } from '../../src/shared/analysis';
import {
  analysisConfigSchema,
  DEFAULT_CANARY_STEPS,
  legacyFailureLimitNote,
  type AnalysisConfig,
} from '../../src/shared/analysis-config';
import { fisherExactGreater, judgeWindow } from '../../src/shared/analysis/checks';
import { type JudgedEnvironment, type Measurement } from '../../src/shared/analysis/judge';
import { judgeRun } from '../../src/shared/analysis/judge-run';
import { causeKey, causeRule } from '../../src/shared/deploy';
import { histogramQuantile, LATENCY_BUCKETS_MS, type LatencyHistogram } from '../../src/shared/statistics';

/** The default ramp: 10 → 25 → 50 → 100 % with a 7.5-minute bake each, a sample every 30 s: 60 samples. */
const INTERVAL = 30_000;
const SAMPLES_PER_STEP = 15;
/** The example's traffic: 50 requests a second through the router, split by weight. */
const WINDOW_REQUESTS = 50 * 30;

function environment(analysis: Record<string, unknown> = {}): JudgedEnvironment {
  return {
    name: 'production',
    strategy: 'canary',
    steps: DEFAULT_CANARY_STEPS,
    verifyMs: 30_000,
    blueGreen: { verifyMs: 300_000, keepBlueMs: 600_000 },
    analysis: analysisConfigSchema.parse(analysis),
  };
}

const window = (version: string, requests: number, errors: number, p95Ms: number | null = 40): MetricsWindow => ({
  version,
  requests,
  errors,
  p95Ms: requests > 0 ? p95Ms : null,
  p99Ms: requests > 0 ? p95Ms : null,
});

/** The i-th sample (0-based) of the default ramp, with the canary and stable windows `make` gives for its weight. */
function at(
  i: number,
  make: (canaryRequests: number, stableRequests: number) => Pick<Measurement, 'canary' | 'stable'>,
) {
  const step = Math.floor(i / SAMPLES_PER_STEP);
  const weight = DEFAULT_CANARY_STEPS[step]?.weight ?? 100;
  const canaryRequests = Math.round((WINDOW_REQUESTS * weight) / 100);
  return {
    environment: 'production',
    step,
    weight,
    elapsedMs: ((i % SAMPLES_PER_STEP) + 1) * INTERVAL,
    ...make(canaryRequests, WINDOW_REQUESTS - canaryRequests),
  } satisfies Measurement;
}

/** Sample outcomes of the table, as measurements: stable errs 0.5 % of the time throughout. */
const SHAPES: Record<
  Exclude<SampleOutcome, 'warning' | 'critical'>,
  (c: number, s: number) => Pick<Measurement, 'canary' | 'stable'>
> = {
  // 4.5 % errors: under the 5 % critical threshold, worse than stable at 99.9 % in a sample of 150 requests.
  failing: (c, s) => ({
    canary: window('1.1.0', c, Math.round(c * 0.045)),
    stable: window('1.0.0', s, Math.round(s * 0.005)),
  }),
  healthy: (c, s) => ({
    canary: window('1.1.0', c, Math.round(c * 0.005)),
    stable: window('1.0.0', s, Math.round(s * 0.005)),
  }),
  // Too few requests to judge the sample.
  inconclusive: (_c, s) => ({ canary: window('1.1.0', 10, 0), stable: window('1.0.0', s, Math.round(s * 0.005)) }),
  unmeasured: () => ({ canary: null, stable: null }),
};

function ramp(pattern: (keyof typeof SHAPES)[], samples = 60): Measurement[] {
  return Array.from({ length: samples }, (_, i) => at(i, SHAPES[pattern[i % pattern.length]!]));
}

describe('the four patterns of issue 13 roll back before 100 % (60-sample ramp, default settings)', () => {
  const cases: [string, (keyof typeof SHAPES)[], number, 'budget' | 'consecutive', string][] = [
    ['failing, healthy, failing, healthy, …', ['failing', 'healthy'], 9, 'budget', 'error-rate-vs-stable'],
    ['failing, failing, healthy, …', ['failing', 'failing', 'healthy'], 7, 'budget', 'error-rate-vs-stable'],
    [
      'failing, inconclusive, failing, inconclusive, …',
      ['failing', 'inconclusive'],
      5,
      'consecutive',
      'error-rate-vs-stable',
    ],
    ['unmeasured, healthy, …', ['unmeasured', 'healthy'], 9, 'budget', 'unmeasured'],
  ];
  for (const [name, pattern, sample, rule, key] of cases) {
    it(`${name}: rolled back at sample ${sample} by the ${rule} rule`, () => {
      const judged = judgeRun([environment()], ramp(pattern));
      const [env] = judged.environments;
      assert.equal(env?.outcome, 'rolled-back');
      const stop = judged.samples.find((s) => s.action === 'rollback');
      assert.equal(stop?.index, sample - 1);
      assert.equal(stop?.rule, rule);
      assert.ok(stop.index < 3 * SAMPLES_PER_STEP, 'before the 100 % step');
      assert.equal(causeRule(env.cause), rule);
      assert.equal(causeKey('rolled-back', env.cause), key);
      assert.ok(judged.samples.slice(sample).every((s) => s.action === 'skipped'));
    });
  }

  it('the consecutive-only rule of deploys recorded before the budget promotes all four (the bug)', () => {
    for (const [, pattern] of cases) {
      let counts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
      for (let i = 0; i < 60; i++) {
        const d = decide(pattern[i % pattern.length]!, counts, { failureLimit: 3, inconclusiveLimit: 10 }, '');
        assert.equal(d.action, 'continue');
        if (d.action === 'continue') counts = d;
      }
    }
  });
});

/** mulberry32: a small seeded PRNG, so every run of the property is the same 1,000 runs. */
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

/** A binomial draw: exact by inversion when the mean is small, else the normal approximation (rounded, clamped). */
function binomial(random: () => number, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const variance = n * p * (1 - p);
  if (variance > 25) {
    const u = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return Math.min(n, Math.max(0, Math.round(n * p + z * Math.sqrt(variance))));
  }
  let k = 0;
  let pmf = (1 - p) ** n;
  let cdf = pmf;
  const u = random();
  while (u > cdf && k < n) {
    pmf *= ((n - k) / (k + 1)) * (p / (1 - p));
    k += 1;
    cdf += pmf;
  }
  return k;
}

/** Latencies of a healthy service over the providers' buckets: mostly 5–25 ms, a tail to 250 ms. */
const LATENCY_SHARES = [0.3, 0.4, 0.2, 0.07, 0.02, 0.01, 0, 0, 0, 0, 0, 0, 0];

function histogram(random: () => number, requests: number): LatencyHistogram {
  let left = requests;
  let share = 1;
  const counts = LATENCY_SHARES.map((s) => {
    const c = share > 0 ? binomial(random, left, Math.min(1, s / share)) : 0;
    left -= c;
    share -= s;
    return c;
  });
  return { boundsMs: [...LATENCY_BUCKETS_MS], counts };
}

function noisyWindow(random: () => number, version: string, requests: number, errorRate: number): MetricsWindow {
  const latency = histogram(random, requests);
  return {
    version,
    requests,
    errors: binomial(random, requests, errorRate),
    p95Ms: histogramQuantile(latency, 0.95),
    p99Ms: histogramQuantile(latency, 0.99),
    latency,
  };
}

describe('a healthy release under the same noise', () => {
  it('is never rolled back in 1,000 seeded runs (error rate 0–2 %, equal to stable, drawn per run)', () => {
    const env = environment();
    const outcomes: Record<string, number> = {};
    for (let seed = 1; seed <= 1000; seed++) {
      const random = prng(seed);
      const rate = 0.02 * random();
      const measurements = Array.from({ length: 60 }, (_, i) =>
        at(i, (c, s) => ({
          canary: noisyWindow(random, '1.1.0', c, rate),
          stable: s > 0 ? noisyWindow(random, '1.0.0', s, rate) : window('1.0.0', 0, 0),
        })),
      );
      const [verdict] = judgeRun([env], measurements).environments;
      const outcome = verdict?.outcome ?? 'none';
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      assert.notEqual(outcome, 'rolled-back', `seed ${seed} (error rate ${rate}): ${verdict?.reason}`);
    }
    assert.deepEqual(outcomes, { promoted: 1000 });
  });
});

/** Measurements of one step at `weight`, one per 30 s, from `make(i)`. */
function stepOf(
  step: number,
  weight: number,
  count: number,
  make: (i: number) => Pick<Measurement, 'canary' | 'stable'>,
) {
  return Array.from(
    { length: count },
    (_, i) =>
      ({ environment: 'production', step, weight, elapsedMs: (i + 1) * INTERVAL, ...make(i) }) satisfies Measurement,
  );
}

const healthy = (c: number, s: number) => SHAPES.healthy(c, s);

describe('failure budgets', () => {
  it('an inconclusive sample never resets the failure counts: not the row, not the run', () => {
    const env = environment();
    const pattern = (i: number) =>
      [SHAPES.failing, SHAPES.inconclusive, SHAPES.inconclusive, SHAPES.failing, SHAPES.inconclusive, SHAPES.failing][
        i
      ];
    const judged = judgeRun(
      [env],
      stepOf(0, 10, 6, (i) => pattern(i)!(150, 1350)),
    );
    assert.equal(judged.environments[0]?.outcome, 'rolled-back');
    assert.deepEqual(
      judged.samples.map((s) => s.outcome),
      ['failing', 'inconclusive', 'inconclusive', 'failing', 'inconclusive', 'failing'],
    );
    assert.equal(judged.samples.at(-1)?.rule, 'consecutive');
    assert.match(judged.samples.at(-1)?.reason ?? '', /^3 failing samples in a row \(limit 3\)/);
  });

  it('a healthy sample ends the row, never the run: the budget counts failures across steps', () => {
    const env = environment();
    // Two failing samples in each step, the rest healthy: never 3 in a row; the 5th failure is in step 3.
    const measurements = [0, 1, 2].flatMap((step) =>
      stepOf(step, DEFAULT_CANARY_STEPS[step]!.weight, SAMPLES_PER_STEP, (i) =>
        (i === 3 || i === 8 ? SHAPES.failing : healthy)(150 * (step + 1), 1350),
      ),
    );
    const judged = judgeRun([env], measurements);
    assert.deepEqual(
      judged.steps.map((s) => [s.step, s.verdict, s.rule]),
      [
        [0, 'pass', undefined],
        [1, 'pass', undefined],
        [2, 'fail', 'budget'],
      ],
    );
    const stop = judged.environments[0];
    assert.equal(stop?.cause?.kind, 'failure-limit');
    assert.deepEqual(stop?.cause?.kind === 'failure-limit' && [stop.cause.failing, stop.cause.limit], [5, 5]);
    assert.match(stop?.reason ?? '', /5 failing or unmeasurable samples in this run of production \(failureLimit 5/);
  });

  it('a critical sample rolls back at once, with the lower bound of its error rate in the evidence', () => {
    const judged = judgeRun(
      [environment()],
      stepOf(0, 10, 3, () => ({ canary: window('1.2.0', 150, 30), stable: window('1.0.0', 1350, 7) })),
    );
    const stop = judged.environments[0];
    assert.equal(stop?.cause?.kind, 'critical');
    assert.equal(judged.samples[0]?.action, 'rollback');
    assert.equal(judged.samples[0]?.rule, 'critical');
  });

  it('8 errors in 150 requests is no proof of a 5 % error rate: a warning, not critical', () => {
    const judged = judgeRun(
      [environment()],
      stepOf(0, 10, 1, () => ({ canary: window('1.1.0', 150, 8), stable: window('1.0.0', 1350, 27) })),
    );
    assert.equal(judged.samples[0]?.outcome, 'warning');
  });
});

describe('low traffic', () => {
  it('no traffic is never a pass: the step waits to its max bake, then pauses for a person', () => {
    const judged = judgeRun(
      [environment()],
      stepOf(0, 10, 50, () => ({ canary: window('1.1.0', 0, 0), stable: window('1.0.0', 1500, 7) })),
    );
    const step = judged.steps[0];
    assert.equal(step?.verdict, 'inconclusive');
    assert.equal(step?.rule, 'max-bake');
    assert.equal(step?.elapsedMs, 1_350_000, '3 × the 7.5-minute bake');
    assert.equal(
      judged.samples.findIndex((s) => s.action !== 'continue'),
      44,
    );
    assert.equal(judged.samples[44]?.action, 'pause');
    assert.equal(judged.environments[0]?.outcome, 'paused');
    assert.match(
      judged.environments[0]?.reason ?? '',
      /step at 10 % is inconclusive: 0 requests after 1350 s, fewer than the 750/,
    );
  });

  it('onInconclusive: rollback rolls back at the max bake instead', () => {
    const judged = judgeRun(
      [environment({ onInconclusive: 'rollback' })],
      stepOf(0, 10, 50, () => ({ canary: window('1.1.0', 0, 0), stable: window('1.0.0', 1500, 7) })),
    );
    const stop = judged.environments[0];
    assert.equal(stop?.outcome, 'rolled-back');
    assert.equal(causeRule(stop?.cause), 'max-bake');
    assert.equal(causeKey('rolled-back', stop?.cause), 'no-data');
  });

  it('a low-traffic step extends its bake until the canary has served minRequests for each sample of its bake', () => {
    // 20 requests a sample, under the 50 a sample needs: every sample is inconclusive, none counts against the run.
    const judged = judgeRun(
      [environment()],
      stepOf(0, 10, 50, () => ({ canary: window('1.1.0', 20, 0), stable: window('1.0.0', 1500, 7) })),
    );
    const step = judged.steps[0];
    assert.equal(step?.minRequests, 750, '50 requests × 15 samples of the bake');
    assert.equal(step?.verdict, 'pass');
    assert.equal(step?.canaryRequests, 760);
    assert.equal(step?.elapsedMs, 38 * INTERVAL, 'extended from 15 samples to 38');
    assert.ok(judged.samples.slice(0, 37).every((s) => s.outcome === 'inconclusive' && s.action === 'continue'));
  });

  it('minStepRequests sets the bar itself', () => {
    const judged = judgeRun(
      [environment({ minStepRequests: 400 })],
      stepOf(0, 10, 50, () => ({ canary: window('1.1.0', 20, 0), stable: window('1.0.0', 1500, 7) })),
    );
    assert.equal(judged.steps[0]?.elapsedMs, 20 * INTERVAL);
  });

  it('a stable version with no traffic skips the comparison, and says so in the evidence', () => {
    const judged = judgeRun(
      [environment()],
      stepOf(3, 100, 15, () => ({ canary: window('1.1.0', 1500, 3), stable: window('1.0.0', 0, 0) })),
    );
    const step = judged.steps[0];
    assert.equal(step?.verdict, 'pass');
    const comparison = step?.checks.find((c) => c.kind === 'comparison');
    assert.equal(comparison?.verdict, 'skipped');
    assert.equal(comparison?.skipped, 'no-stable-traffic');
    assert.match(step?.reason ?? '', /error rate vs stable skipped: stable took no traffic/);
  });
});

describe('each step judged on its whole window', () => {
  it('samples that each look fine add up to a release worse than stable: the step rolls back on the comparison', () => {
    // 3.3 % errors against stable's 0.5 %: 5 of a sample's 150 are short of 99.9 % (Fisher's exact test, too few
    // errors for the z-test); the step's 75 in 2,250 put the difference beyond the 1-point tolerance at 95 %.
    const judged = judgeRun(
      [environment()],
      stepOf(0, 10, 15, () => ({ canary: window('1.1.0', 150, 5), stable: window('1.0.0', 1350, 7) })),
    );
    assert.ok(judged.samples.slice(0, 14).every((s) => s.outcome === 'warning' && s.action === 'continue'));
    const step = judged.steps[0];
    assert.equal(step?.verdict, 'fail');
    assert.equal(step?.rule, 'comparison');
    const comparison = step?.checks.find((c) => c.metric === 'errorRate vs stable');
    assert.equal(comparison?.test, 'two-proportion');
    assert.ok((comparison?.pValue ?? 1) < 1e-6, 'significant over the whole window');
    assert.ok(Math.abs((comparison?.effectSize ?? 0) - (75 / 2250 - 105 / 20250)) < 1e-9, 'effect: the difference');
    assert.ok((comparison?.ci95?.[0] ?? 0) > 0.01, `interval ${comparison?.ci95} wholly above the 1-point tolerance`);
    assert.ok((comparison?.confidence ?? 0) > 0.999999);
    const stop = judged.environments[0];
    assert.equal(causeKey('rolled-back', stop?.cause), 'error-rate-vs-stable');
    assert.match(stop?.reason ?? '', /^step at 10 % is worse than stable over its whole window \(2250 requests\)/);
  });

  it('a window whose difference could still be within the tolerance is not failed for it', () => {
    // 2 % against 0.5 % over the step: 1.5 points worse, but the interval reaches below the 1-point tolerance.
    const judged = judgeRun(
      [environment()],
      stepOf(0, 10, 15, () => ({ canary: window('1.1.0', 150, 3), stable: window('1.0.0', 1350, 7) })),
    );
    const comparison = judged.steps[0]?.checks.find((c) => c.metric === 'errorRate vs stable');
    assert.equal(comparison?.verdict, 'warning');
    assert.ok((comparison?.ci95?.[0] ?? 1) < 0.01);
    assert.equal(judged.steps[0]?.verdict, 'pass');
  });

  it('a threshold crossed over the whole window fails the step (cumulative-threshold)', () => {
    // Each sample's 5 errors in 60 (8.3 %) are not critical with 99.9 % confidence; the step's 75 in 900 are, at 95 %.
    const judged = judgeRun(
      [environment()],
      stepOf(3, 100, 15, () => ({ canary: window('1.1.0', 60, 5), stable: window('1.0.0', 0, 0) })),
    );
    assert.ok(judged.samples.slice(0, 14).every((s) => s.outcome === 'warning' && s.action === 'continue'));
    assert.equal(judged.steps[0]?.rule, 'cumulative-threshold');
    assert.equal(judged.environments[0]?.outcome, 'rolled-back');
    assert.equal(causeKey('rolled-back', judged.environments[0]?.cause), 'error-rate');
  });

  it('a marginal score pauses for a person; below marginal it rolls back on the score', () => {
    // At 100 % (no stable to share the blame): error rate and p95 both over warn, neither critical: 2 of 4 halves.
    const step = () => stepOf(3, 100, 15, () => ({ canary: window('1.1.0', 1500, 30, 2_500), stable: null }));
    const marginal = judgeRun([environment()], step());
    assert.equal(marginal.steps[0]?.score, 50);
    assert.equal(marginal.steps[0]?.verdict, 'marginal');
    assert.equal(marginal.samples.at(-1)?.action, 'pause');
    assert.equal(marginal.samples.at(-1)?.rule, 'score');
    const strict = judgeRun([environment({ score: { pass: 90, marginal: 60 } })], step());
    assert.equal(strict.steps[0]?.verdict, 'fail');
    assert.equal(causeRule(strict.environments[0]?.cause), 'score');
    assert.match(strict.environments[0]?.reason ?? '', /score 50, below marginal 60/);
  });

  it('warnings stable shares are not the canary’s: full credit in the score', () => {
    const judged = judgeRun(
      [environment()],
      stepOf(0, 10, 15, () => ({ canary: window('1.1.0', 150, 3, 2_500), stable: window('1.0.0', 1350, 27, 2_500) })),
    );
    assert.equal(judged.steps[0]?.verdict, 'pass');
    assert.equal(judged.steps[0]?.score, 100);
  });
});

describe('latency on distributions', () => {
  const config = analysisConfigSchema.parse({});
  const h = (counts: number[]): LatencyHistogram => ({ boundsMs: [...LATENCY_BUCKETS_MS], counts });
  const withLatency = (version: string, latency: LatencyHistogram): MetricsWindow => ({
    version,
    requests: latency.counts.reduce((a, b) => a + b, 0),
    errors: 0,
    p95Ms: histogramQuantile(latency, 0.95),
    p99Ms: histogramQuantile(latency, 0.99),
    latency,
  });
  const stable = withLatency('1.0.0', h([300, 600, 300, 150, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  const latencyCheck = (canary: MetricsWindow, look: 'sample' | 'step', against: MetricsWindow | null = stable) =>
    judgeWindow(canary, against, config, look, 50).checks.find((c) => c.metric === 'latencyP95 vs stable');

  it('Mann–Whitney on the histograms: a canary slower across the board fails, with its effect size', () => {
    const check = latencyCheck(withLatency('1.1.0', h([0, 0, 20, 40, 60, 30, 0, 0, 0, 0, 0, 0, 0])), 'sample');
    assert.equal(check?.test, 'mann-whitney');
    assert.equal(check?.verdict, 'failing');
    assert.ok((check?.effectSize ?? 0) > 0.9, `P(canary slower) ${check?.effectSize}`);
    assert.ok((check?.pValue ?? 1) < 0.001);
    assert.equal(check?.confidence, 1 - (check?.pValue ?? 1));
  });

  it('a p95 past the rule from a few slow requests needs the whole step to be significant', () => {
    // 9 of 150 requests at 1–2 s: p95 moves past stable's limit; the ranks move a little.
    const tail = withLatency('1.1.0', h([30, 60, 30, 15, 6, 0, 0, 0, 9, 0, 0, 0, 0]));
    const sample = latencyCheck(tail, 'sample');
    assert.ok((sample?.value ?? 0) > (sample?.limit ?? Infinity), 'p95 is past the limit');
    assert.equal(sample?.verdict, 'healthy', `one sample: p ${sample?.pValue}, not below 0.001`);
    assert.equal(latencyCheck(tail, 'step')?.verdict, 'failing', 'the step, judged once at 95 %');
  });

  it('the same latencies: healthy, effect size one half', () => {
    const check = latencyCheck(withLatency('1.1.0', h([30, 60, 30, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0])), 'step');
    assert.equal(check?.verdict, 'healthy');
    assert.ok(Math.abs((check?.effectSize ?? 0) - 0.5) < 1e-9);
  });

  it('without histograms the p95 rule decides, as before', () => {
    const check = latencyCheck(window('1.1.0', 150, 0, 400), 'sample', window('1.0.0', 1350, 0, 200));
    assert.equal(check?.test, 'p95-rule');
    assert.equal(check?.verdict, 'failing');
  });
});

describe('judgeRun', () => {
  it('promotes a ramp whose every step passes, and keeps one verdict per step', () => {
    const judged = judgeRun([environment()], ramp(['healthy']));
    assert.deepEqual(judged.environments, [{ environment: 'production', outcome: 'promoted' }]);
    assert.deepEqual(
      judged.steps.map((s) => [s.weight, s.verdict, s.score, s.samples]),
      [
        [10, 'pass', 100, 15],
        [25, 'pass', 100, 15],
        [50, 'pass', 100, 15],
        [100, 'pass', 100, 15],
      ],
    );
  });

  it('re-judged with looser settings, shows where the verdict changes', () => {
    const measurements = ramp(['failing', 'healthy']);
    const strict = judgeRun([environment()], measurements);
    const loose = judgeRun([environment({ failureLimit: 100, consecutiveFailureLimit: 100 })], measurements);
    assert.equal(strict.environments[0]?.outcome, 'rolled-back');
    // The budget no longer stops it; the first step's whole window still does, at its end.
    assert.equal(loose.environments[0]?.outcome, 'rolled-back');
    assert.equal(
      loose.samples.findIndex((s) => s.action === 'rollback'),
      14,
    );
    assert.equal(causeRule(loose.environments[0]?.cause), 'comparison');
  });

  it('a measurement left when the samples ran out leaves the environment unfinished, the step pending', () => {
    const judged = judgeRun([environment()], ramp(['healthy'], 20));
    assert.equal(judged.environments[0]?.outcome, 'unfinished');
    assert.equal(judged.steps.at(-1)?.verdict, 'pending');
  });
});

describe('settings', () => {
  it('defaults: failureLimit 5 in the run, 3 in a row; steps need minRequests per sample of their bake, up to 3 × bake', () => {
    const a: AnalysisConfig = analysisConfigSchema.parse({});
    assert.deepEqual(
      [a.failureLimit, a.consecutiveFailureLimit, a.minStepRequests, a.maxBakeFactor, a.onInconclusive, a.score],
      [5, 3, undefined, 3, 'pause', { pass: 75, marginal: 50 }],
    );
  });

  it('failureLimit alone keeps its old meaning (in a row), with a one-line note; the run-wide budget takes its default', () => {
    const old = { failureLimit: 2 };
    const a = analysisConfigSchema.parse(old);
    assert.deepEqual([a.failureLimit, a.consecutiveFailureLimit], [5, 2]);
    const note = legacyFailureLimitNote(old, 'environments.production');
    assert.equal(
      note,
      'environments.production.analysis: failureLimit 2 read as consecutiveFailureLimit (its meaning before the ' +
        'run-wide budget); failureLimit, failing samples of the whole run, takes 5. Set both to silence this.',
    );
    assert.equal(note?.split('\n').length, 1);
    // A large old limit: the budget is never below the consecutive limit.
    assert.deepEqual(
      [
        analysisConfigSchema.parse({ failureLimit: 8 }).failureLimit,
        analysisConfigSchema.parse({ failureLimit: 8 }).consecutiveFailureLimit,
      ],
      [8, 8],
    );
  });

  it('both set, or only the new one: no note, each as given', () => {
    assert.equal(legacyFailureLimitNote({ failureLimit: 6, consecutiveFailureLimit: 2 }, 'x'), undefined);
    assert.equal(legacyFailureLimitNote({ consecutiveFailureLimit: 2 }, 'x'), undefined);
    assert.equal(legacyFailureLimitNote({}, 'x'), undefined);
    const a = analysisConfigSchema.parse({ failureLimit: 6, consecutiveFailureLimit: 2 });
    assert.deepEqual([a.failureLimit, a.consecutiveFailureLimit], [6, 2]);
  });

  it('the loader says so in one line per environment, and reads the old number as the consecutive limit', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-analysis-'));
    try {
      writeFileSync(
        path.join(dir, 'opsflow.yaml'),
        stringify({
          project: 'test',
          services: {
            hello: {
              target: { kind: 'local', command: ['node', 'server.js'], versions: ['1.0.0'], initialVersion: '1.0.0' },
            },
          },
          environments: {
            staging: { strategy: 'direct', analysis: { failureLimit: 4, consecutiveFailureLimit: 2 } },
            production: {
              strategy: 'canary',
              approval: { required: true, approvers: ['alice'] },
              analysis: { failureLimit: 3 },
            },
          },
        }),
      );
      const printed: string[] = [];
      const { config, notes } = loadConfig(undefined, dir, (note) => printed.push(note));
      assert.deepEqual(printed, notes);
      assert.equal(notes.length, 1);
      assert.match(
        notes[0] ?? '',
        /^environments\.production\.analysis: failureLimit 3 read as consecutiveFailureLimit/,
      );
      const production = config.environments['production']?.analysis;
      assert.deepEqual([production?.failureLimit, production?.consecutiveFailureLimit], [5, 3]);
      const staging = config.environments['staging']?.analysis;
      assert.deepEqual([staging?.failureLimit, staging?.consecutiveFailureLimit], [4, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a marginal score above pass', () => {
    assert.throws(
      () => analysisConfigSchema.parse({ score: { pass: 50, marginal: 75 } }),
      /marginal must not be above pass/,
    );
  });
});

describe("Fisher's exact test, for error counts too small for the z-test", () => {
  it("gives Fisher's lady tasting tea: 3 of 4 cups right, p = 17/70 (Fisher, The Design of Experiments, 1935, §2)", () => {
    assert.ok(Math.abs(fisherExactGreater({ events: 3, trials: 4 }, { events: 1, trials: 4 }) - 17 / 70) < 1e-12);
  });

  it('one error in 8 canary requests against none in 109 of stable is p = 8/117, no evidence at all', () => {
    assert.ok(Math.abs(fisherExactGreater({ events: 1, trials: 8 }, { events: 0, trials: 109 }) - 8 / 117) < 1e-12);
    const check = judgeWindow(
      window('1.1.0', 8, 1),
      window('1.0.0', 109, 0),
      analysisConfigSchema.parse({}),
      'sample',
      5,
    ).checks.find((c) => c.metric === 'errorRate vs stable');
    assert.equal(check?.test, 'fisher-exact');
    assert.equal(check?.verdict, 'healthy');
  });

  it('no errors anywhere, or none in the canary: p = 1', () => {
    assert.equal(fisherExactGreater({ events: 0, trials: 100 }, { events: 0, trials: 900 }), 1);
    assert.equal(fisherExactGreater({ events: 0, trials: 100 }, { events: 9, trials: 900 }), 1);
  });
});
