import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  histogramOf,
  histogramQuantile,
  histogramTotal,
  LATENCY_BUCKETS_MS,
  type LatencyHistogram,
  mannWhitneyHistograms,
  mannWhitneyU,
  mergeHistograms,
  normalizeHistogram,
  normalSf,
  type RankTest,
  twoProportionTest,
} from '../../src/shared/statistics';

/** |actual - expected| ≤ tolerance, with both numbers in the message. */
function near(actual: number, expected: number, tolerance: number, what = 'value'): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual} is not within ${tolerance} of ${expected} (off by ${Math.abs(actual - expected)})`,
  );
}

/** mulberry32: a small seeded PRNG, so the property tests are the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const int = (random: () => number, below: number) => Math.floor(random() * below);

describe('normalSf', () => {
  // Reference values: the C library's erfc (Python's math.erfc(z / sqrt(2)) / 2), to double precision.
  const reference: [number, number][] = [
    [0, 0.5],
    [1, 0.15865525393145707],
    [1.6448536269514722, 0.05],
    [1.96, 0.024997895148220435],
    [3, 0.0013498980316300957],
    [5, 2.866515718791946e-7],
    [10, 7.619853024160593e-24],
    [-1.96, 0.9750021048517795],
  ];
  for (const [z, expected] of reference) {
    it(`Q(${z}) = ${expected} to 1e-12 relative`, () => near(normalSf(z), expected, 1e-12 * expected));
  }

  it('is 1 at -Infinity, 0 at +Infinity, and decreasing', () => {
    assert.equal(normalSf(-Infinity), 1);
    assert.equal(normalSf(Infinity), 0);
    let previous = 1;
    for (let z = -10; z <= 40; z += 0.05) {
      const q = normalSf(z);
      assert.ok(q <= previous && q >= 0, `Q(${z}) = ${q} after ${previous}`);
      previous = q;
    }
  });
});

describe('mannWhitneyU: published worked examples', () => {
  it("Wikipedia's tortoise and hare: U_T = 11, U_H = 25", () => {
    // https://en.wikipedia.org/wiki/Mann%E2%80%93Whitney_U_test#Illustration_of_calculation_methods
    // Finishing order T H H H H H T T T T T H: times 1..12 in that order (a larger time is slower).
    const tortoises = [1, 7, 8, 9, 10, 11];
    const hares = [2, 3, 4, 5, 6, 12];
    // U counts the pairs where the first sample is slower: the hares each tortoise beats is the hares' U here.
    assert.equal(mannWhitneyU(hares, tortoises).u, 11);
    assert.equal(mannWhitneyU(tortoises, hares).u, 25);
  });

  it("scipy's mannwhitneyu example: U1 = 17, asymptotic two-sided p = 0.11134688653314041", () => {
    // https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.mannwhitneyu.html (Examples: males, females)
    const result = mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    assert.equal(result.u, 17);
    assert.equal(result.n1, 5);
    assert.equal(result.n2, 4);
    // Same continuity correction as scipy: the two-sided p is twice our one-sided one.
    near(2 * result.pValue, 0.11134688653314041, 1e-14, 'two-sided p');
    near(result.z, 1.5921683328090657, 1e-14, 'z');
    assert.equal(mannWhitneyU([20, 11, 17, 12], [19, 22, 16, 29, 24]).u, 3);
  });

  it("ClickHouse's mannWhitneyUTest('greater') example: (9, 0.04042779918503192)", () => {
    // https://clickhouse.com/docs/sql-reference/aggregate-functions/reference/mannwhitneyutest
    const result = mannWhitneyU([10, 11, 12], [1, 2, 3]);
    assert.equal(result.u, 9);
    near(result.pValue, 0.04042779918503192, 1e-13, 'p');
    assert.equal(result.effectSize, 1);
  });

  it("NAG g08ahf's example with ties: U = 86, normal statistic -2.8039, tail probability 0.0025", () => {
    // https://support.nag.com/numeric/cl/nagdoc_fl26.2/examples/baseresults/g08ahfe.r.html
    const group1 = [13, 6, 12, 7, 12, 7, 10, 7, 10, 7, 16, 7, 10, 8, 9, 8];
    const group2 = [17, 6, 10, 8, 15, 8, 15, 10, 15, 10, 14, 10, 14, 11, 14, 11, 13, 12, 13, 12, 13, 12, 12];
    assert.equal(mannWhitneyU(group1, group2).u, 86);
    // NAG reports the lower tail of group 1; the same test read from group 2 is our upper tail.
    const result = mannWhitneyU(group2, group1);
    assert.equal(result.u, 16 * 23 - 86);
    near(result.z, 2.8039, 5e-5, 'z');
    near(result.pValue, 0.0025, 5e-5, 'p');
  });
});

describe('twoProportionTest: published worked examples', () => {
  it("statsmodels' proportions_ztest example: 5/83 vs 12/99, z = -1.4078304151258787, two-sided p 0.159", () => {
    // https://www.statsmodels.org/stable/generated/statsmodels.stats.proportion.proportions_ztest.html (Examples);
    // the full digits are statsmodels' own test of it (test_proportion.py, test_default_values, GH 2969).
    const result = twoProportionTest({ events: 5, trials: 83 }, { events: 12, trials: 99 });
    near(result.z, -1.4078304151258787, 1e-14, 'z');
    near(2 * (1 - result.pValue), 0.15918129181156992, 1e-12, 'two-sided p');
    near(result.canaryRate, 5 / 83, 1e-15);
    near(result.stableRate, 12 / 99, 1e-15);
    near(result.difference, 5 / 83 - 12 / 99, 1e-15);
  });

  // Newcombe RG, "Interval estimation for the difference between independent proportions: comparison of eleven
  // methods", Statistics in Medicine 17 (1998) 873-890, Table II, method 10: (lower, upper) to 4 decimals.
  const table2: [number, number, number, number, number, number][] = [
    [56, 70, 48, 80, 0.0524, 0.3339],
    [9, 10, 3, 10, 0.1705, 0.809],
    [6, 7, 2, 7, 0.0582, 0.8062],
    [5, 56, 0, 29, -0.0381, 0.1926],
    [0, 10, 0, 20, -0.1611, 0.2775],
    [0, 10, 0, 10, -0.2775, 0.2775],
    [10, 10, 0, 20, 0.6791, 1],
    [10, 10, 0, 10, 0.6075, 1],
  ];
  for (const [x1, n1, x2, n2, lower, upper] of table2) {
    it(`Newcombe 1998 Table II, method 10: ${x1}/${n1} - ${x2}/${n2} → (${lower}, ${upper})`, () => {
      const { ci95 } = twoProportionTest({ events: x1, trials: n1 }, { events: x2, trials: n2 });
      near(ci95[0], lower, 5e-5, 'lower');
      near(ci95[1], upper, 5e-5, 'upper');
    });
  }
});

describe('edge cases: defined answers, never NaN', () => {
  const noEvidence = { z: 0, pValue: 1 };

  it('no trials on either side: no evidence, the interval [-1, 1]', () => {
    assert.deepEqual(twoProportionTest({ events: 0, trials: 0 }, { events: 0, trials: 0 }), {
      canaryRate: 0,
      stableRate: 0,
      difference: 0,
      ...noEvidence,
      ci95: [-1, 1],
    });
  });

  it('a stable version without traffic: no evidence, and an interval as wide as stable is unknown', () => {
    const result = twoProportionTest({ events: 3, trials: 10 }, { events: 0, trials: 0 });
    assert.equal(result.pValue, 1);
    assert.equal(result.z, 0);
    assert.ok(result.ci95[0] < -0.8 && result.ci95[1] > 0.5 && result.ci95[1] < 1, String(result.ci95));
  });

  it('no errors anywhere, or only errors: no evidence', () => {
    assert.deepEqual(twoProportionTest({ events: 0, trials: 500 }, { events: 0, trials: 5_000 }).pValue, 1);
    assert.deepEqual(twoProportionTest({ events: 50, trials: 50 }, { events: 9, trials: 9 }).pValue, 1);
  });

  it('clamps impossible counts instead of throwing', () => {
    const result = twoProportionTest({ events: 12, trials: 10 }, { events: -3, trials: Number.NaN });
    assert.equal(result.canaryRate, 1);
    assert.equal(result.stableRate, 0);
    assert.equal(result.pValue, 1);
  });

  it('an empty side: u 0, pValue 1, effect size 0.5', () => {
    const empty: RankTest = { u: 0, z: 0, pValue: 1, effectSize: 0.5, n1: 0, n2: 3 };
    assert.deepEqual(mannWhitneyU([], [1, 2, 3]), empty);
    assert.deepEqual(mannWhitneyU([1, 2, 3], []), { ...empty, n1: 3, n2: 0 });
    assert.deepEqual(mannWhitneyU([], []), { ...empty, n2: 0 });
    const nothing = { boundsMs: [10, Infinity], counts: [0, 0] };
    assert.deepEqual(mannWhitneyHistograms(nothing, nothing), { ...empty, n2: 0 });
  });

  it('all values tied: pValue 1, effect size 0.5', () => {
    assert.deepEqual(mannWhitneyU([4, 4, 4], [4, 4]), { u: 3, z: 0, pValue: 1, effectSize: 0.5, n1: 3, n2: 2 });
    const oneBucket = { boundsMs: [10, 20, Infinity], counts: [0, 40, 0] };
    const result = mannWhitneyHistograms(oneBucket, { ...oneBucket, counts: [0, 7, 0] });
    assert.equal(result.pValue, 1);
    assert.equal(result.effectSize, 0.5);
  });

  it('drops NaN latencies', () => {
    assert.deepEqual(mannWhitneyU([Number.NaN, 3], [1, Number.NaN]), mannWhitneyU([3], [1]));
  });

  it('a histogram that went through JSON (Infinity became null) gives the same answers', () => {
    const canary = { boundsMs: [10, 100, Infinity], counts: [5, 20, 3] };
    const stable = { boundsMs: [10, 100, Infinity], counts: [30, 10, 0] };
    const parsed = JSON.parse(JSON.stringify({ canary, stable })) as {
      canary: LatencyHistogram;
      stable: LatencyHistogram;
    };
    assert.equal(parsed.canary.boundsMs[2], null);
    assert.deepEqual(mannWhitneyHistograms(parsed.canary, parsed.stable), mannWhitneyHistograms(canary, stable));
    assert.equal(histogramQuantile(parsed.canary, 0.99), histogramQuantile(canary, 0.99));
    assert.deepEqual(normalizeHistogram(parsed.canary), canary);
  });
});

describe('histograms', () => {
  const h = { boundsMs: [10, 20, Infinity], counts: [10, 10, 0] };

  it('interpolates quantiles within a bucket like histogram_quantile', () => {
    assert.equal(histogramQuantile(h, 0.5), 10);
    assert.equal(histogramQuantile(h, 0.75), 15);
    assert.equal(histogramQuantile(h, 0.25), 5);
    assert.equal(histogramQuantile(h, 1), 20);
    assert.equal(histogramQuantile({ boundsMs: [10, 20, 30], counts: [0, 4, 0] }, 0.5), 15);
  });

  it('answers the highest finite bound for a quantile in the overflow bucket', () => {
    assert.equal(histogramQuantile({ boundsMs: [10, 20, Infinity], counts: [1, 1, 8] }, 0.95), 20);
  });

  it('has no quantile when empty or when q is outside [0, 1]', () => {
    assert.equal(histogramQuantile({ boundsMs: [10, Infinity], counts: [0, 0] }, 0.5), null);
    assert.equal(histogramQuantile({ boundsMs: [], counts: [] }, 0.5), null);
    assert.equal(histogramQuantile(h, 1.5), null);
    assert.equal(histogramQuantile(h, Number.NaN), null);
  });

  it('merges by summing, and to the common bounds when they differ', () => {
    assert.deepEqual(mergeHistograms(h, h), { boundsMs: [10, 20, Infinity], counts: [20, 20, 0] });
    const other = { boundsMs: [5, 20, 50, Infinity], counts: [1, 2, 3, 4] };
    assert.deepEqual(mergeHistograms(h, other), { boundsMs: [20, Infinity], counts: [23, 7] });
    assert.equal(histogramTotal(mergeHistograms(h, other)), histogramTotal(h) + histogramTotal(other));
  });

  it('counts latencies into the fixed buckets, bounds inclusive', () => {
    const counted = histogramOf([0.4, 5, 5.01, 10, 2_600, 60_000]);
    assert.equal(counted.boundsMs.length, 13);
    assert.deepEqual(counted.boundsMs, [...LATENCY_BUCKETS_MS]);
    assert.deepEqual(counted.counts, [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
  });
});

describe('properties (seeded)', () => {
  /** Latencies drawn from a few hundred distinct values, so that ties occur. */
  const latencies = (random: () => number, n: number, shift = 0) =>
    Array.from({ length: n }, () => Math.round((random() * 300 + shift) * 10) / 10);

  it('U1 + U2 = n1·n2, U is the pair count, effect sizes add up to 1, p-values in [0, 1]', () => {
    const random = prng(1);
    for (let run = 0; run < 300; run += 1) {
      const a = latencies(random, int(random, 40));
      const b = latencies(random, int(random, 40), random() * 50);
      const ab = mannWhitneyU(a, b);
      const ba = mannWhitneyU(b, a);
      assert.equal(ab.u + ba.u, a.length * b.length);
      let pairs = 0;
      for (const x of a) for (const y of b) pairs += x > y ? 1 : x === y ? 0.5 : 0;
      assert.equal(ab.u, pairs);
      if (a.length && b.length) near(ab.effectSize + ba.effectSize, 1, 1e-12, 'effect sizes');
      for (const r of [ab, ba]) {
        assert.ok(r.pValue >= 0 && r.pValue <= 1, `p ${r.pValue}`);
        assert.ok(Number.isFinite(r.z) && Number.isFinite(r.effectSize));
      }
      // With the continuity correction both one-sided tails overlap, as P(U ≥ u) + P(U ≤ u) = 1 + P(U = u).
      assert.ok(ab.pValue + ba.pValue >= 1 - 1e-12);
    }
  });

  it('the histogram test equals the raw test when each observation sits at a bucket bound', () => {
    const random = prng(2);
    const bounds = [...LATENCY_BUCKETS_MS];
    const finite = bounds.filter(Number.isFinite);
    for (let run = 0; run < 300; run += 1) {
      const draw = (n: number, skew: number) =>
        Array.from({ length: n }, () => finite[Math.min(finite.length - 1, int(random, finite.length) + skew)]!);
      const a = draw(int(random, 60), int(random, 3));
      const b = draw(int(random, 60), 0);
      const raw = mannWhitneyU(a, b);
      const bucketed = mannWhitneyHistograms(histogramOf(a, bounds), histogramOf(b, bounds));
      assert.equal(bucketed.u, raw.u);
      assert.equal(bucketed.n1, raw.n1);
      near(bucketed.z, raw.z, 1e-9, 'z');
      near(bucketed.pValue, raw.pValue, 1e-12, 'p');
      near(bucketed.effectSize, raw.effectSize, 1e-12, 'effect size');
    }
  });

  it('the histogram test on differing bounds equals the test on the histograms merged to common bounds', () => {
    const random = prng(3);
    for (let run = 0; run < 100; run += 1) {
      const a = histogramOf(latencies(random, 50), [10, 50, 100, 200, Infinity]);
      const b = histogramOf(latencies(random, 50), [25, 50, 150, 200, Infinity]);
      const onCommon = (x: LatencyHistogram) =>
        mergeHistograms(x, { boundsMs: [50, 200, Infinity], counts: [0, 0, 0] });
      assert.deepEqual(mannWhitneyHistograms(a, b), mannWhitneyHistograms(onCommon(a), onCommon(b)));
    }
  });

  it('twoProportionTest: p-values in [0, 1], the interval holds the difference within [-1, 1], z has its sign', () => {
    const random = prng(4);
    for (let run = 0; run < 1_000; run += 1) {
      const n1 = int(random, 200);
      const n2 = int(random, 2_000);
      const result = twoProportionTest(
        { events: int(random, n1 + 1), trials: n1 },
        { events: int(random, n2 + 1), trials: n2 },
      );
      const [lower, upper] = result.ci95;
      assert.ok(result.pValue >= 0 && result.pValue <= 1, `p ${result.pValue}`);
      assert.ok(-1 <= lower && lower <= result.difference + 1e-12, `${lower} ≤ ${result.difference}`);
      assert.ok(result.difference <= upper + 1e-12 && upper <= 1, `${result.difference} ≤ ${upper}`);
      assert.ok(Math.sign(result.z) === Math.sign(result.difference) || result.z === 0);
    }
  });

  it('under the null hypothesis about 5 % of runs have p < 0.05 (the tests are calibrated, not just defined)', () => {
    const random = prng(5);
    let rankHits = 0;
    let proportionHits = 0;
    const runs = 2_000;
    for (let run = 0; run < runs; run += 1) {
      if (mannWhitneyU(latencies(random, 40), latencies(random, 60)).pValue < 0.05) rankHits += 1;
      const errors = (n: number) => Array.from({ length: n }, () => random() < 0.1).filter(Boolean).length;
      if (
        twoProportionTest({ events: errors(400), trials: 400 }, { events: errors(4_000), trials: 4_000 }).pValue < 0.05
      ) {
        proportionHits += 1;
      }
    }
    // Binomial(2000, 0.05): mean 100, sd 9.7; the continuity correction makes the rank test slightly conservative.
    assert.ok(rankHits >= 65 && rankHits <= 130, `rank test: ${rankHits} of ${runs}`);
    assert.ok(proportionHits >= 65 && proportionHits <= 135, `proportion test: ${proportionHits} of ${runs}`);
  });

  it('detects a slower canary from histograms alone', () => {
    const random = prng(6);
    const stable = histogramOf(latencies(random, 500));
    const canary = histogramOf(latencies(random, 100, 150));
    const result = mannWhitneyHistograms(canary, stable);
    assert.ok(result.pValue < 1e-6 && result.effectSize > 0.7, JSON.stringify(result));
    assert.ok(mannWhitneyHistograms(stable, canary).pValue > 0.99);
  });
});
