/**
 * Latency judged without crying wolf (issue 24), items 2 and 3: Mann–Whitney's exact conditional test where its normal
 * approximation fails under heavy ties, the comparison's tail past stable's tolerance tested as error rates are, and
 * latency quantiles past a threshold only with confidence. Each verdict is
 * shown by the rules revision latencyConfidence (3) and, where the issue says it went wrong, by revision 1.
 *
 * The expected figures were computed independently with scipy 1.17.1 (pip install scipy):
 *   from scipy import stats
 *   stats.fisher_exact([[3, 47], [0, 200]], alternative='greater').pvalue          # 0.0076175670423630016
 *   stats.hypergeom.sf(3 - 1, 50 + 200, 3, 50)                                     # the same
 *   stats.mannwhitneyu([500] * 3 + [50] * 47, [50] * 200, alternative='greater',
 *                      method='asymptotic').pvalue                                 # 0.0002580085057432568
 *   # several buckets: the exhaustive permutation distribution of U
 *   U = lambda x, y, axis=-1: stats.mannwhitneyu(x, y, alternative='greater', axis=axis).statistic
 *   stats.permutation_test((canary, stable), U, permutation_type='independent', alternative='greater',
 *                          n_resamples=np.inf, vectorized=True).pvalue
 *   # Wilson bounds: the lower end of the two-sided (1 − 2α) interval is the one-sided (1 − α) bound
 *   stats.binomtest(9, 96).proportion_ci(confidence_level=0.90, method='wilson').low    # 0.055359684469323545
 * With two occupied buckets the exact conditional rank test is Fisher's exact test of the share in the upper one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricCheck, MetricsWindow } from '../../src/shared/analysis';
import { analysisConfigSchema } from '../../src/shared/analysis-config';
import { judgeWindow, type Look } from '../../src/shared/analysis/checks';
import { JUDGEMENT_RULES } from '../../src/shared/analysis/rules';
import {
  EXACT_EXPECTED_TAIL,
  latencyRankTest,
  mannWhitneyExact,
  rankTestChoice,
} from '../../src/shared/exact-rank-test';
import {
  histogramOf,
  histogramQuantile,
  LATENCY_BUCKETS_MS,
  mannWhitneyHistograms,
  type LatencyHistogram,
} from '../../src/shared/statistics';

const config = analysisConfigSchema.parse({});

/** A histogram on the providers' buckets from counts by upper bound: { 50: 47, 500: 3 }. */
function h(byBound: Record<number, number>): LatencyHistogram {
  return { boundsMs: [...LATENCY_BUCKETS_MS], counts: LATENCY_BUCKETS_MS.map((b) => byBound[b] ?? 0) };
}

function windowOf(version: string, latency: LatencyHistogram): MetricsWindow {
  return {
    version,
    requests: latency.counts.reduce((a, b) => a + b, 0),
    errors: 0,
    p95Ms: histogramQuantile(latency, 0.95),
    p99Ms: histogramQuantile(latency, 0.99),
    latency,
  };
}

/** Canary requests at 25–50 ms but `slow` of `n` at 250–500 ms; stable `m` at 25–50 ms. */
const tail = (slow: number, n: number, m: number) => ({
  canary: windowOf('1.1.0', h({ 50: n - slow, 500: slow })),
  stable: windowOf('1.0.0', h({ 50: m })),
});

function check(metric: string, canary: MetricsWindow, stable: MetricsWindow | null, look: Look, rules: number) {
  const found = judgeWindow(canary, stable, config, look, 5, rules).checks.find((c) => c.metric === metric);
  assert.ok(found, `a ${metric} check`);
  return found;
}
const comparison = (w: { canary: MetricsWindow; stable: MetricsWindow }, look: Look, rules: number): MetricCheck =>
  check('latencyP95 vs stable', w.canary, w.stable, look, rules);

const close = (actual: number | undefined, expected: number, relative = 1e-9) =>
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) <= relative * expected,
    `${actual} is not ${expected} (to ${relative} relative)`,
  );

/** The table: canary slow / n, stable slow / m, the look, scipy's asymptotic and exact p, the verdict today. */
const TABLE = [
  { slow: 3, n: 50, m: 200, look: 'sample', approximate: 0.0002580085057432568, exact: 0.0076175670423630016 },
  { slow: 4, n: 60, m: 240, look: 'sample', approximate: 2.9593181656945423e-5, exact: 0.0014741475494320546 },
  { slow: 3, n: 50, m: 50, look: 'step', approximate: 0.04109215308638653, exact: 0.12121212121212122 },
  { slow: 2, n: 50, m: 5000, look: 'sample', approximate: 1.0444464912896835e-45, exact: 9.608804017656668e-5 },
] as const;

describe("Mann–Whitney's exact conditional test, where the normal approximation fails (the issue's table)", () => {
  for (const row of TABLE) {
    it(`${row.slow}/${row.n} slow against 0/${row.m}: approximation ${row.approximate.toPrecision(2)}, exact ${row.exact.toPrecision(2)}`, () => {
      const { canary, stable } = tail(row.slow, row.n, row.m);
      close(mannWhitneyHistograms(canary.latency!, stable.latency!).pValue, row.approximate, 1e-9);
      close(mannWhitneyExact(canary.latency!, stable.latency!), row.exact, 1e-9);
      const choice = rankTestChoice(canary.latency!, stable.latency!);
      assert.equal(choice.tail, row.slow);
      assert.ok(choice.exact && choice.expectedInTail < EXACT_EXPECTED_TAIL);
      const test = latencyRankTest(canary.latency!, stable.latency!);
      assert.equal(test.test, 'mann-whitney-exact');
      close(test.pValue, row.exact, 1e-9);
    });
  }

  it('rows 1 to 3 were failing by revision 1 (the approximation) and are healthy by revision 3 (the exact test)', () => {
    for (const row of TABLE.slice(0, 3)) {
      const w = tail(row.slow, row.n, row.m);
      assert.equal(comparison(w, row.look, JUDGEMENT_RULES.original).verdict, 'failing', `${row.slow}/${row.n}`);
      const now = comparison(w, row.look, JUDGEMENT_RULES.latencyConfidence);
      assert.equal(now.verdict, 'healthy', `${row.slow}/${row.n}`);
      assert.equal(now.test, 'mann-whitney-exact');
      // The tail past the tolerance is the same 2×2 table: Fisher's exact test gives the same p.
      assert.equal(now.tail?.test, 'fisher-exact');
      close(now.tail?.pValue, row.exact, 1e-9);
      assert.deepEqual(now.rankTest, {
        tail: row.slow,
        expectedInTail: (row.slow * Math.min(row.n, row.m)) / (row.n + row.m),
      });
      close(now.pValue, row.exact, 1e-9);
    }
  });

  it('real evidence stays evidence: 2 slow of 50 against none of 5,000 is significant exactly too (p 9.6e-5)', () => {
    assert.equal(comparison(tail(2, 50, 5000), 'sample', JUDGEMENT_RULES.original).verdict, 'healthy');
    const now = comparison(tail(2, 50, 5000), 'sample', JUDGEMENT_RULES.latencyConfidence);
    assert.ok((now.pValue ?? 1) < 0.001);
    // Significant, but 4 % of requests slow leave the p95 where stable's is: no failure, and too small an effect to warn.
    assert.equal(now.verdict, 'healthy');
  });

  it('several buckets: the exhaustive permutation distribution of U, either version the smaller', () => {
    const canary = histogramOf([25, 25, 25, 25, 25, 25, 50, 50, 100, 250]);
    const stable = histogramOf([10, 10, 10, 25, 25, 25, 25, 25, 25, 25, 25, 50]);
    close(mannWhitneyExact(canary, stable), 0.021671826625386997, 1e-9);
    close(mannWhitneyExact(stable, canary), 0.9969040247678018, 1e-9);
    // scipy's asymptotic p for the same: 0.014382740742395254.
    close(mannWhitneyHistograms(canary, stable).pValue, 0.014382740742395254, 1e-9);
  });

  it('the rule keeps the approximation for a wide tail, and for a tail too spread to enumerate', () => {
    const wide = latencyRankTest(h({ 25: 40, 50: 60, 100: 30, 250: 20 }), h({ 25: 300, 50: 500, 100: 200, 250: 100 }));
    assert.equal(wide.test, 'mann-whitney');
    assert.ok(wide.choice.expectedInTail >= EXACT_EXPECTED_TAIL);
    const spread = [0, 0, 46, 400, 3, 2, 1, 1, 1, 1, 1, 1, 1];
    const stableSpread = [0, 0, 400, 4000, 3, 2, 2, 2, 2, 2, 2, 2, 2];
    const hist = (counts: number[]) => ({ boundsMs: [...LATENCY_BUCKETS_MS], counts });
    assert.equal(mannWhitneyExact(hist(spread), hist(stableSpread)), undefined, 'over the state limit');
  });

  it('is total: an empty side or every value tied gives p = 1', () => {
    assert.equal(mannWhitneyExact(h({}), h({ 50: 10 })), 1);
    assert.equal(mannWhitneyExact(h({ 50: 10 }), h({ 50: 90 })), 1);
    assert.equal(latencyRankTest(h({ 50: 10 }), h({ 50: 90 })).pValue, 1);
  });
});

describe('latency quantiles with confidence: "p95 above X" is "significantly more than 5 % slower than X"', () => {
  // Stable: 864 requests at 5–10 ms, a p95 of 9.75 ms, so the limit is stable's + 100 ms = 109.75 ms.
  const against = (slow: number) => ({
    canary: windowOf('1.1.0', h({ 10: 96 - slow, 500: slow })),
    stable: windowOf('1.0.0', h({ 10: 864 })),
  });

  it('5 of 96 slow flipped the p95 rule by revision 1; by revision 3 the share above the limit must be significant', () => {
    assert.equal(comparison(against(4), 'step', JUDGEMENT_RULES.original).verdict, 'healthy');
    assert.equal(comparison(against(5), 'step', JUDGEMENT_RULES.original).verdict, 'failing');
    for (const slow of [5, 8]) {
      const now = comparison(against(slow), 'step', JUDGEMENT_RULES.latencyConfidence);
      assert.ok((now.pValue ?? 1) < 0.05, 'slower, significantly');
      assert.equal(now.quantile?.beyond, false, `${slow} of 96: not significantly more than 5 %`);
      assert.notEqual(now.verdict, 'failing');
    }
    const nine = comparison(against(9), 'step', JUDGEMENT_RULES.latencyConfidence);
    assert.equal(nine.verdict, 'failing');
    assert.deepEqual(
      [nine.quantile?.above, nine.quantile?.total, nine.quantile?.limit, nine.quantile?.q],
      [9, 96, 109.75, 0.95],
    );
    close(nine.quantile?.lowerBound, 0.055359684469323545, 1e-9);
    close(comparison(against(8), 'step', JUDGEMENT_RULES.latencyConfidence).quantile?.lowerBound, 0.04759203726080326);
    assert.match(
      judgeWindow(against(9).canary, against(9).stable, config, 'step', 5, JUDGEMENT_RULES.latencyConfidence).reason,
      /p95 vs stable: .*, 9\.4 % over 110 ms \(≥ 5\.5 %\)/,
    );
  });

  it('a release slow on one request in five fails on its tail, which Mann–Whitney misses (revision 1 passed it)', () => {
    // Stable's p95 is 79.17 ms, so the limit is 179.17 ms, in the 100–250 ms bucket.
    const w = {
      canary: windowOf('1.1.0', h({ 5: 20, 10: 36, 25: 20, 50: 5, 100: 1, 500: 20 })),
      stable: windowOf('1.0.0', h({ 5: 16, 10: 39, 25: 33, 50: 13, 100: 6, 250: 3 })),
    };
    const before = comparison(w, 'step', JUDGEMENT_RULES.original);
    // scipy: mannwhitneyu(..., alternative='greater', method='asymptotic').pvalue = 0.46857809383691884
    close(before.pValue, 0.46857809383691884);
    assert.equal(before.verdict, 'healthy', 'not slower across the board: P(slower) about one half');
    const now = comparison(w, 'step', JUDGEMENT_RULES.latencyConfidence);
    assert.equal(now.verdict, 'failing');
    // Stable's 3 requests at 100–250 ms count as 3 × (250 − 179.17) / 150 = 1.42 past the limit: 1 request.
    assert.deepEqual(now.tail && [now.tail.canary, now.tail.stable, now.tail.test], [
      { events: 20, trials: 102 },
      { events: 1, trials: 110 },
      'two-proportion',
    ]);
    close(now.tail?.limitMs, 179.16666666666669);
    // 10 slow requests expected in each version: the z-test, as statsmodels' proportions_ztest computes it; with
    // scipy, the pooled z = 4.553555716252616 and norm.sf(z) = 2.637334660457855e-06.
    close(now.tail?.pValue, 2.637334660457855e-6);
    // scipy: binomtest(20, 102).proportion_ci(confidence_level=0.90, method='wilson').low
    close(now.quantile?.lowerBound, 0.13962918952806597);
  });

  it("a p95 past critical rolls back at once only with confidence, as the error rate's critical does", () => {
    // 150 requests at 25–50 ms but some at 5–10 s: 9 of them put the p95 estimate past 5 s.
    const slowOf = (slow: number) => windowOf('1.1.0', h({ 50: 150 - slow, 10_000: slow }));
    const p95 = (slow: number, rules: number) => check('latencyP95', slowOf(slow), null, 'sample', rules);
    assert.ok((slowOf(9).p95Ms ?? 0) > 5_000);
    assert.equal(p95(9, JUDGEMENT_RULES.original).verdict, 'critical');
    const nine = p95(9, JUDGEMENT_RULES.latencyConfidence);
    assert.equal(nine.verdict, 'warning', 'past warn on the estimate, not critically with 99.9 % confidence');
    close(nine.quantile?.lowerBound, 0.022544561831575924);
    const sixteen = p95(16, JUDGEMENT_RULES.latencyConfidence);
    assert.equal(sixteen.verdict, 'critical');
    close(sixteen.quantile?.lowerBound, 0.0511040698620199);
  });

  it('without histograms nothing can be bounded: the estimate decides, as before', () => {
    const canary: MetricsWindow = { version: '1.1.0', requests: 150, errors: 0, p95Ms: 400, p99Ms: 6_000 };
    const stable: MetricsWindow = { version: '1.0.0', requests: 1350, errors: 0, p95Ms: 200, p99Ms: 300 };
    const now = comparison({ canary, stable }, 'sample', JUDGEMENT_RULES.latencyConfidence);
    assert.equal(now.test, 'p95-rule');
    assert.equal(now.verdict, 'failing');
  });
});
