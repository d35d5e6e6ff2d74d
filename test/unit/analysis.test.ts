import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  analyseWindow,
  decide,
  errorRateZ,
  type MetricsWindow,
  type SampleOutcome,
  type Verdict,
} from '../../src/shared/analysis';
import { analysisConfigSchema } from '../../src/shared/analysis-config';

const config = analysisConfigSchema.parse({ minRequests: 50, failureLimit: 2, inconclusiveLimit: 3 });
const window = (requests: number, errors: number, p95Ms: number | null) => ({
  version: '1.1.0',
  requests,
  errors,
  p95Ms,
  p99Ms: p95Ms,
});

describe('analyseWindow: the spec thresholds', () => {
  const cases: [string, ReturnType<typeof window>, Verdict, RegExp][] = [
    ['no errors, fast', window(100, 0, 40), 'healthy', /error rate 0\.00 %; p95 40 ms over 100 requests/],
    ['exactly 1 % is not above warn', window(100, 1, 40), 'healthy', /error rate 1\.00 %/],
    ['2 % warns', window(100, 2, 40), 'warning', /> warn 1\.00 %/],
    ['exactly 5 % is not above critical', window(100, 5, 40), 'warning', /error rate 5\.00 %/],
    ['6 % is critical', window(100, 6, 40), 'critical', /> critical 5\.00 %/],
    ['p95 of 2.5 s warns', window(100, 0, 2_500), 'warning', /p95 2500 ms > warn 2000 ms/],
    ['p95 of 5.1 s is critical', window(100, 0, 5_100), 'critical', /p95 5100 ms > critical 5000 ms/],
    ['worst metric wins', window(100, 2, 6_000), 'critical', /^p95 6000 ms > critical 5000 ms over 100 requests$/],
    [
      'too few requests is inconclusive, never healthy',
      window(49, 0, 10),
      'inconclusive',
      /49 requests, fewer than the 50/,
    ],
    ['no traffic at all is inconclusive', window(0, 0, null), 'inconclusive', /0 requests/],
    ['missing latency is inconclusive', window(100, 0, null), 'inconclusive', /latencyP95 missing/],
  ];
  for (const [name, sample, verdict, reason] of cases) {
    it(name, () => {
      const judged = analyseWindow(sample, config);
      assert.equal(judged.verdict, verdict);
      assert.match(judged.reason, reason);
    });
  }
});

describe('decide: what the consecutive-only loop of deploys recorded before the failure budget does next', () => {
  const zero = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
  // Those deploys' failureLimit meant "in a row": their input now reads it as consecutiveFailureLimit.
  const limits = { failureLimit: config.consecutiveFailureLimit, inconclusiveLimit: config.inconclusiveLimit };
  const run = (outcomes: SampleOutcome[]) => {
    let counts = zero;
    for (const [i, outcome] of outcomes.entries()) {
      const d = decide(outcome, counts, limits, `sample ${i}`);
      if (d.action !== 'continue') return d;
      counts = d;
    }
    return { action: 'continue' as const, ...counts };
  };

  it('rolls back on the first critical sample', () => {
    assert.deepEqual(run(['healthy', 'critical']), {
      action: 'rollback',
      cause: 'critical',
      reason: 'critical: sample 1',
    });
  });
  it('continues through warnings', () => {
    assert.equal(run(['warning', 'warning', 'warning', 'warning']).action, 'continue');
  });
  it('rolls back when samples cannot be measured failureLimit times in a row', () => {
    assert.equal(run(['unmeasured']).action, 'continue');
    const d = run(['unmeasured', 'unmeasured']);
    assert.equal(d.action, 'rollback');
    assert.match((d as { reason: string }).reason, /2 samples that could not be measured in a row \(limit 2\)/);
  });
  it('a measured sample resets the unmeasured count', () => {
    assert.equal(run(['unmeasured', 'healthy', 'unmeasured']).action, 'continue');
  });
  it('pauses for a person after inconclusiveLimit inconclusive samples in a row', () => {
    assert.equal(run(['inconclusive', 'inconclusive', 'healthy', 'inconclusive', 'inconclusive']).action, 'continue');
    const d = run(['inconclusive', 'inconclusive', 'inconclusive']);
    assert.equal(d.action, 'pause');
    assert.match((d as { reason: string }).reason, /3 inconclusive samples in a row \(limit 3\)/);
  });
  it('rolls back after failureLimit failing samples in a row; a warning in between resets the count', () => {
    assert.equal(run(['failing', 'warning', 'failing']).action, 'continue');
    const d = run(['healthy', 'failing', 'failing']);
    assert.deepEqual(d, {
      action: 'rollback',
      cause: 'failure-limit',
      reason: '2 failing samples in a row (limit 2): sample 2',
      failing: 2,
      unmeasured: 0,
      limit: 2,
    });
  });
  it('failing and unmeasured samples count together toward the limit, and the decision says how many of each', () => {
    const d = run(['failing', 'unmeasured']);
    assert.equal(d.action, 'rollback');
    assert.deepEqual(d.action === 'rollback' && d.cause === 'failure-limit' && [d.failing, d.unmeasured], [1, 1]);
  });
  it('an inconclusive sample resets the failure count, a failing one the inconclusive count', () => {
    assert.equal(run(['failing', 'inconclusive', 'failing']).action, 'continue');
    assert.equal(run(['inconclusive', 'inconclusive', 'failing', 'inconclusive', 'inconclusive']).action, 'continue');
  });
});

describe('analyseWindow: the canary against stable over the same window', () => {
  const win = (requests: number, errors: number, p95Ms: number | null, version = '1.1.0'): MetricsWindow => ({
    version,
    requests,
    errors,
    p95Ms,
    p99Ms: p95Ms,
  });
  const stable = (requests: number, errors: number, p95Ms: number | null) => win(requests, errors, p95Ms, '1.0.0');
  const cases: [string, MetricsWindow, MetricsWindow | null, Verdict, RegExp][] = [
    [
      'same as stable is healthy',
      win(400, 0, 40),
      stable(3600, 0, 38),
      'healthy',
      /error rate vs stable: 0\.00 % vs 0\.00 %/,
    ],
    [
      'slightly worse than a stable with zero errors, within the 1-point tolerance: healthy',
      win(400, 3, 40),
      stable(3600, 0, 40),
      'healthy',
      /error rate vs stable: 0\.75 % vs 0\.00 %, limit 1\.00 %/,
    ],
    [
      '3 points worse than stable and significant: failing, though only a warning on its own',
      win(400, 12, 40),
      stable(3600, 0, 40),
      'failing',
      /^error rate vs stable: 3\.00 % vs 0\.00 %, limit 1\.00 %, z = 10\.41 over 400 requests$/,
    ],
    [
      "a shared downstream problem raises both: a warning, not the canary's fault",
      win(400, 12, 40),
      stable(3600, 110, 40),
      'warning',
      /error rate vs stable: 3\.00 % vs 3\.06 %/,
    ],
    [
      'too few requests for the difference to be significant: not failing',
      win(60, 1, 40),
      stable(60, 0, 40),
      'warning',
      /error rate vs stable: 1\.67 % vs 0\.00 %, limit 1\.00 %, z = 1\.00/,
    ],
    [
      'stable with zero traffic (100 % weight): comparison skipped, absolute thresholds judge',
      win(400, 0, 40),
      stable(0, 0, null),
      'healthy',
      /error rate vs stable skipped: stable took no traffic/,
    ],
    [
      'stable with too few requests: skipped',
      win(400, 0, 40),
      stable(10, 0, 40),
      'healthy',
      /stable had 10 requests, fewer than the 50 needed to compare/,
    ],
    [
      'p95 1.5× stable and 100 ms slower: failing',
      win(400, 0, 400),
      stable(3600, 0, 200),
      'failing',
      /p95 vs stable: 400 ms vs 200 ms, limit 300 ms/,
    ],
    [
      'p95 doubled on a fast service (3 → 6 ms) is within the 100 ms allowance',
      win(400, 0, 6),
      stable(3600, 0, 3),
      'healthy',
      /p95 vs stable: 6 ms vs 3 ms, limit 103 ms/,
    ],
    [
      'no stable version at all: no comparison',
      win(400, 0, 40),
      null,
      'healthy',
      /^error rate 0\.00 %; p95 40 ms over 400/,
    ],
    [
      'critical stays critical whatever stable does',
      win(400, 40, 40),
      stable(3600, 360, 40),
      'critical',
      /^critical|error rate 10\.0 % > critical/,
    ],
  ];
  for (const [name, canary, base, verdict, reason] of cases) {
    it(name, () => {
      const judged = analyseWindow(canary, config, base);
      assert.equal(judged.verdict, verdict, judged.reason);
      assert.match(judged.reason, reason);
    });
  }

  it('can be switched off', () => {
    const off = analysisConfigSchema.parse({ minRequests: 50, compare: { enabled: false } });
    assert.equal(analyseWindow(win(400, 0, 400), off, stable(3600, 0, 40)).verdict, 'healthy');
  });

  it('the z statistic: zero without errors, infinite when only the canary errs with no variance, symmetric sign', () => {
    assert.equal(errorRateZ({ requests: 100, errors: 0 }, { requests: 100, errors: 0 }), 0);
    assert.ok(errorRateZ({ requests: 100, errors: 10 }, { requests: 1000, errors: 10 }) > 3);
    assert.ok(errorRateZ({ requests: 1000, errors: 10 }, { requests: 100, errors: 10 }) < -3);
  });
});

describe('analyseWindow: p99 and custom metrics', () => {
  const full = analysisConfigSchema.parse({
    provider: 'prometheus',
    minRequests: 10,
    latencyP99: { warn: '1s', critical: '3s' },
    custom: [
      { name: 'saturation', query: 'q1', warn: 0.8, critical: 0.95 },
      { name: 'success', query: 'q2', warn: 0.99, critical: 0.95, direction: 'below' },
    ],
  });
  const sample = (p99Ms: number | null, custom: Record<string, number | null>): MetricsWindow => ({
    version: '1.1.0',
    requests: 100,
    errors: 0,
    p95Ms: 50,
    p99Ms,
    custom,
  });
  const cases: [string, MetricsWindow, Verdict, RegExp][] = [
    [
      'all within',
      sample(500, { saturation: 0.5, success: 0.999 }),
      'healthy',
      /p99 500 ms; saturation 0\.5; success 0\.999/,
    ],
    [
      'p99 above warn warns',
      sample(1500, { saturation: 0.5, success: 0.999 }),
      'warning',
      /p99 1500 ms > warn 1000 ms/,
    ],
    ['p99 above critical', sample(3500, { saturation: 0.5, success: 0.999 }), 'critical', /p99 3500 ms > critical/],
    [
      'a custom metric above warn fails the sample',
      sample(500, { saturation: 0.9, success: 0.999 }),
      'failing',
      /saturation 0\.9 > warn 0\.8/,
    ],
    [
      'a below-metric under critical',
      sample(500, { saturation: 0.5, success: 0.9 }),
      'critical',
      /success 0\.9 > critical 0\.95/,
    ],
    [
      'missing custom data is inconclusive',
      sample(500, { saturation: null, success: 0.999 }),
      'inconclusive',
      /saturation missing/,
    ],
    [
      'missing p99 is inconclusive',
      sample(null, { saturation: 0.5, success: 0.999 }),
      'inconclusive',
      /latencyP99 missing/,
    ],
  ];
  for (const [name, s, verdict, reason] of cases) {
    it(name, () => {
      const judged = analyseWindow(s, full);
      assert.equal(judged.verdict, verdict, judged.reason);
      assert.match(judged.reason, reason);
    });
  }

  it('refuses custom metrics without Prometheus, and thresholds in the wrong order for their direction', () => {
    assert.throws(
      () => analysisConfigSchema.parse({ custom: [{ name: 'x', query: 'q', warn: 1, critical: 2 }] }),
      /provider: prometheus/,
    );
    assert.throws(
      () =>
        analysisConfigSchema.parse({
          provider: 'prometheus',
          custom: [{ name: 'x', query: 'q', warn: 0.9, critical: 0.95, direction: 'below' }],
        }),
      /warn must come before critical/,
    );
  });
});
