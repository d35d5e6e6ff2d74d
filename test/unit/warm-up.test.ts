/**
 * The canary's warm-up (issue 24, item 1): by the rules revision latencyConfidence the first samples of each step are
 * measured and recorded but not judged, so a cold start is not read as a regression. The case, at the example's
 * own settings (opsflow.yaml production: a sample every 2 s, 6-s steps), was rolled back at 10 % by revision 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load';
import type { MetricsWindow } from '../../src/shared/analysis';
import { analysisConfigSchema } from '../../src/shared/analysis-config';
import { type JudgedEnvironment, type Measurement } from '../../src/shared/analysis/judge';
import { judgeRun } from '../../src/shared/analysis/judge-run';
import { JUDGEMENT_RULES } from '../../src/shared/analysis/rules';
import { warmUpOf } from '../../src/shared/analysis/warm-up';
import { causeRule } from '../../src/shared/deploy';
import { histogramQuantile, LATENCY_BUCKETS_MS, type LatencyHistogram } from '../../src/shared/statistics';

const { latencyConfidence: V3, errorsApart: V2 } = JUDGEMENT_RULES;

/** production in opsflow.yaml: 10 → 25 → 50 → 100 %, 6 s each, a sample every 2 s. */
const EXAMPLE = {
  interval: '2s',
  minRequests: 8,
  failureLimit: 4,
  consecutiveFailureLimit: 2,
  inconclusiveLimit: 5,
  compare: { enabled: true, errorRateIncrease: 0.01, latencyRatio: 1.5, latencyIncrease: '100ms' },
};
const STEPS = [10, 25, 50, 100].map((weight) => ({ weight, bake: 6_000 }));

function environment(rules: number, analysis: Record<string, unknown> = {}, strategy = 'canary'): JudgedEnvironment {
  return {
    name: 'production',
    strategy: strategy as JudgedEnvironment['strategy'],
    steps: STEPS,
    verifyMs: 6_000,
    blueGreen: { verifyMs: 6_000, keepBlueMs: 6_000 },
    analysis: analysisConfigSchema.parse({ ...EXAMPLE, ...analysis }),
    rules,
  };
}

function h(byBound: Record<number, number>): LatencyHistogram {
  return { boundsMs: [...LATENCY_BUCKETS_MS], counts: LATENCY_BUCKETS_MS.map((b) => byBound[b] ?? 0) };
}

function windowOf(version: string, latency: LatencyHistogram, errors = 0): MetricsWindow {
  const requests = latency.counts.reduce((a, b) => a + b, 0);
  return {
    version,
    requests,
    errors,
    p95Ms: histogramQuantile(latency, 0.95),
    p99Ms: histogramQuantile(latency, 0.99),
    latency,
  };
}

/**
 * A release as fast as stable once warm (requests at 5–10 ms), whose one new process answers its first `cold`
 * requests in 250–500 ms; `rps` requests a second split by weight; every step sampled up to its max bake (18 s).
 */
function coldStart(rps: number, cold = 5, canaryErrors = () => 0): Measurement[] {
  const measurements: Measurement[] = [];
  let served = 0;
  STEPS.forEach(({ weight }, step) => {
    for (let i = 1; i <= 9; i++) {
      const requests = (rps * 2 * weight) / 100;
      const slow = Math.max(0, Math.min(requests, cold - served));
      served += requests;
      const stable = rps * 2 - requests;
      measurements.push({
        environment: 'production',
        step,
        weight,
        elapsedMs: i * 2_000,
        windowMs: 2_000,
        canary: windowOf('1.1.0', h({ 10: requests - slow, 500: slow }), canaryErrors()),
        stable: stable > 0 ? windowOf('1.0.0', h({ 10: stable })) : null,
      });
    }
  });
  return measurements;
}

const production = (judged: ReturnType<typeof judgeRun>) => judged.environments[0];

describe('the issue: a release identical to stable, with a cold start of 5 requests in 400 ms', () => {
  const measurements = coldStart(80);

  it('was rolled back at 10 % by revision 2: the first sample failing, then the step on the comparison', () => {
    const judged = judgeRun([environment(V2)], measurements);
    assert.equal(judged.samples[0]?.outcome, 'failing');
    assert.equal(production(judged)?.outcome, 'rolled-back');
    assert.equal(causeRule(production(judged)?.cause), 'comparison');
    assert.equal(judged.steps[0]?.weight, 10);
  });

  it('is promoted by revision 3: the first sample of each step is its warm-up, recorded and not judged', () => {
    const judged = judgeRun([environment(V3)], measurements);
    assert.equal(production(judged)?.outcome, 'promoted');
    const first = judged.samples[0];
    assert.deepEqual([first?.outcome, first?.action], ['warm-up', 'continue']);
    assert.match(
      first?.reason ?? '',
      /^warm-up, not judged \(its window began in the step's first 2\.0s; 0 of the step's first 10 requests served before it\): .*p95 vs stable/,
    );
    assert.deepEqual(
      judged.steps.map((s) => [s.weight, s.verdict, s.warmUp]),
      STEPS.map(({ weight }) => [weight, 'pass', { samples: 1, requests: (160 * weight) / 100 }]),
    );
    // The cold requests stay out of the step's window.
    assert.equal(judged.steps[0]?.canaryRequests, 32);
  });

  it('the exact test and the quantile bound alone do not save it: without a warm-up, revision 3 rolls it back too', () => {
    const judged = judgeRun([environment(V3, { warmUp: { duration: 0, requests: 0 } })], measurements);
    assert.equal(production(judged)?.outcome, 'rolled-back');
  });
});

describe('the warm-up', () => {
  it('lasts, by requests, until the canary has served them in the step: the sample that holds the last is left out', () => {
    // 4 canary requests a sample at 10 %: the 10th is in the third sample.
    const judged = judgeRun([environment(V3)], coldStart(20, 0));
    const step0 = judged.samples.filter((s) => s.step === 0);
    assert.deepEqual(
      step0.slice(0, 4).map((s) => s.outcome),
      ['warm-up', 'warm-up', 'warm-up', 'inconclusive'],
    );
    assert.match(step0[1]?.reason ?? '', /^warm-up, not judged \(4 of the step's first 10 requests served before it\)/);
    assert.deepEqual(judged.steps[0]?.warmUp, { samples: 3, requests: 12 });
  });

  it('rolls back at once a release that fails outright: a critical error rate is judged in the warm-up too', () => {
    const judged = judgeRun(
      [environment(V3)],
      coldStart(80, 5, () => 8),
    );
    assert.deepEqual([judged.samples[0]?.outcome, judged.samples[0]?.action], ['critical', 'rollback']);
    assert.equal(causeRule(production(judged)?.cause), 'critical');
  });

  it('counts on nothing: no failure, and a measured sample that ends a row of measurement errors', () => {
    const measurements = coldStart(80).slice(0, 3);
    const errors = [0, 1, 2].map((i) => ({
      ...measurements[0]!,
      elapsedMs: 0,
      canary: null,
      stable: null,
      error: `down ${i}`,
    }));
    const judged = judgeRun(
      [environment(V3, { consecutiveErrorLimit: 4 })],
      [...errors, measurements[0]!, ...errors, ...measurements.slice(1)],
    );
    assert.ok(
      judged.samples.every((s) => s.action === 'continue' || s.action === 'pass'),
      'no pause: the row broke',
    );
    assert.equal(judged.samples[3]?.outcome, 'warm-up');
  });

  it("begins every canary step, a direct deploy's verification and blue-green's switch; not blue-green's keep-blue window", () => {
    const direct = judgeRun(
      [environment(V3, {}, 'direct')],
      coldStart(80)
        .slice(0, 3)
        .map((m) => ({ ...m, step: -1, weight: 100 })),
    );
    assert.equal(direct.samples[0]?.outcome, 'warm-up');
    const blueGreen = judgeRun(
      [environment(V3, {}, 'blue-green')],
      coldStart(80, 0)
        .slice(0, 6)
        .map((m, i) => ({ ...m, step: i < 3 ? 0 : 1, weight: 100, elapsedMs: ((i % 3) + 1) * 2_000, stable: null })),
    );
    assert.deepEqual(
      blueGreen.samples.map((s) => s.outcome),
      ['warm-up', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy'],
    );
  });

  it('is configured per environment; left unset its defaults apply where it is read, never written into the plan', () => {
    const unset = analysisConfigSchema.parse({ interval: '30s' });
    assert.ok(!('warmUp' in unset));
    assert.deepEqual(warmUpOf(unset), { durationMs: 30_000, requests: 10 });
    assert.deepEqual(warmUpOf(analysisConfigSchema.parse({ warmUp: { duration: '45s' } })), {
      durationMs: 45_000,
      requests: 10,
    });
    assert.equal(analysisConfigSchema.safeParse({ warmUp: { requests: -1 } }).success, false);
    assert.equal(analysisConfigSchema.safeParse({ warmUp: { duration: '2h' } }).success, false);
    assert.equal(analysisConfigSchema.safeParse({ warmUp: { seconds: 5 } }).success, false);
  });

  it('longer than a step can wait for its requests is refused in one line that says what to fix', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-warm-up-'));
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
            staging: { strategy: 'direct' },
            production: {
              strategy: 'canary',
              approval: { required: true, approvers: ['alice'] },
              canary: {
                steps: [
                  { weight: 10, bake: '6s' },
                  { weight: 100, bake: '6s' },
                ],
              },
              analysis: { ...EXAMPLE, warmUp: { duration: '20s' } },
            },
          },
        }),
      );
      assert.throws(
        () => loadConfig(undefined, dir, () => undefined),
        (err: Error) =>
          /environments\.production\.analysis\.warmUp\.duration: 20s leaves nothing to judge: a step of 6\.0s waits at most 18s for its requests \(maxBakeFactor 3\); make it shorter$/.test(
            err.message,
          ) && !err.message.includes('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
