import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyseWindow, decide, type SampleOutcome, type Verdict } from '../../src/shared/analysis';
import { analysisConfigSchema } from '../../src/shared/config';

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
    ['no errors, fast', window(100, 0, 40), 'healthy', /error rate 0\.00 %, p95 40 ms over 100 requests/],
    ['exactly 1 % is not above warn', window(100, 1, 40), 'healthy', /error rate 1\.00 %/],
    ['2 % warns', window(100, 2, 40), 'warning', /> warn 1\.00 %/],
    ['exactly 5 % is not above critical', window(100, 5, 40), 'warning', /error rate 5\.00 %/],
    ['6 % is critical', window(100, 6, 40), 'critical', /> critical 5\.00 %/],
    ['p95 of 2.5 s warns', window(100, 0, 2_500), 'warning', /p95 2500 ms > warn 2000 ms/],
    ['p95 of 5.1 s is critical', window(100, 0, 5_100), 'critical', /p95 5100 ms > critical 5000 ms/],
    ['worst metric wins', window(100, 2, 6_000), 'critical', /error rate 2\.00 % > warn.*p95 6000 ms > critical/],
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

describe('decide: what the canary loop does next', () => {
  const zero = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
  const run = (outcomes: SampleOutcome[]) => {
    let counts = zero;
    for (const [i, outcome] of outcomes.entries()) {
      const d = decide(outcome, counts, config, `sample ${i}`);
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
    assert.match((d as { reason: string }).reason, /2 samples in a row could not be measured \(limit 2\)/);
  });
  it('a measured sample resets the unmeasured count', () => {
    assert.equal(run(['unmeasured', 'healthy', 'unmeasured']).action, 'continue');
  });
  it('gives up after inconclusiveLimit inconclusive samples in a row', () => {
    assert.equal(run(['inconclusive', 'inconclusive', 'healthy', 'inconclusive', 'inconclusive']).action, 'continue');
    const d = run(['inconclusive', 'inconclusive', 'inconclusive']);
    assert.equal(d.action, 'give-up');
  });
});
