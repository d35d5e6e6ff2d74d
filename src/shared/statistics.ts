/**
 * The statistics under the canary judgement: a two-proportion test for error rates and a Mann–Whitney U test for
 * latencies, on raw observations or on bucketed histograms. Pure and deterministic, with no imports, so it runs in the
 * workflow sandbox and a replayed history gives the same figures. Every function is total: bad input (NaN, negative
 * counts, no data) gives a documented, well-defined answer instead of NaN or an exception, because an exception in
 * workflow code would retry the workflow task forever.
 */

/**
 * A latency distribution: counts per bucket (NOT cumulative); boundsMs[i] is bucket i's upper bound (inclusive); the
 * last bucket may be Infinity.
 *
 * Counts may be fractional (Prometheus' increase() extrapolates); they are used as weights. Infinity is not JSON: in
 * an activity result, in history and over HTTP it arrives as null, and every function here reads a null (or NaN)
 * bound as Infinity. Use {@link normalizeHistogram} to get the bounds back as numbers.
 */
export interface LatencyHistogram {
  boundsMs: number[];
  counts: number[];
}

/**
 * The fixed latency buckets (ms) the providers report, the same as the local platform's Prometheus histogram: 12
 * bounds and an overflow bucket, fine where latency thresholds sit and small enough that every sample's histogram can
 * travel in history.
 */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1_000,
  2_000,
  2_500,
  5_000,
  10_000,
  Infinity,
];

/** A comparison of the canary's error rate (events / trials) with stable's. */
export interface ProportionTest {
  /** events / trials; 0 when there were no trials. */
  canaryRate: number;
  stableRate: number;
  /** canaryRate - stableRate. */
  difference: number;
  /** The pooled two-proportion z statistic; 0 when either side had no trials or nothing varied. */
  z: number;
  /** one-sided: P(a difference this large | canary no worse); 1 when there is no evidence either way. */
  pValue: number;
  /**
   * 95 % CI of the difference: Newcombe's hybrid score interval (method 10 of Newcombe 1998), built from the two
   * Wilson intervals. Unlike the Wald interval it stays in [-1, 1] and is not a point at zero events.
   */
  ci95: [number, number];
}

/** A Mann–Whitney U test of canary latencies against stable's. */
export interface RankTest {
  /** U of the canary: pairs (canary, stable) with the canary slower, plus half the tied pairs. */
  u: number;
  /** (u - n1·n2/2 - 0.5) / σ, σ tie-corrected; 0 when either side is empty or every value ties. */
  z: number;
  /** one-sided: canary stochastically greater (slower); 1 when either side is empty or every value ties. */
  pValue: number;
  /** P(canary > stable) + 0.5 P(equal): the common-language effect size, 0.5 = no difference. */
  effectSize: number;
  n1: number;
  n2: number;
}

/** The two-sided 97.5 % point of the standard normal, for 95 % intervals. */
const Z95 = 1.959963984540054;

/** ln(√(2π)), for the normal density. */
const LN_SQRT_2PI = 0.9189385332046728;

/**
 * Upper tail of the standard normal, P(Z > z), to about 1e-12 relative (checked against erfc): Marsaglia's Taylor series of Φ for |z| ≤ 3
 * (G. Marsaglia, "Evaluating the Normal Distribution", J. Stat. Software 11(4), 2004) and Laplace's continued fraction
 * beyond, where 1 - Φ would cancel. NaN gives NaN.
 */
export function normalSf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z < 0) return 1 - normalSf(-z);
  if (z === Infinity) return 0;
  const q = z * z;
  const density = Math.exp(-0.5 * q - LN_SQRT_2PI);
  if (z <= 3) {
    // Φ(z) - 1/2 = φ(z) · (z + z³/3 + z⁵/(3·5) + ...): positive terms, no cancellation.
    let sum = z;
    let term = z;
    for (let i = 3; i < 200; i += 2) {
      term *= q / i;
      const next = sum + term;
      if (next === sum) break;
      sum = next;
    }
    return 0.5 - sum * density;
  }
  if (density === 0) return 0;
  // Q(z) = φ(z) / (z + 1/(z + 2/(z + 3/(z + ...)))), evaluated from the tail; 60 levels converge for z > 3.
  let fraction = z;
  for (let k = 60; k >= 1; k -= 1) fraction = z + k / fraction;
  return density / fraction;
}

/** A count as the tests use it: finite and non-negative, anything else 0. */
function count(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** The Wilson score interval of events / trials at 95 %; [0, 1] with no trials. */
function wilson(events: number, trials: number): [number, number] {
  if (trials <= 0) return [0, 1];
  const p = events / trials;
  const z2 = Z95 * Z95;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (Z95 * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * Is the canary's error rate higher than stable's? The pooled two-proportion z-test (the textbook test, as
 * statsmodels' proportions_ztest computes it, no continuity correction), one-sided, with Newcombe's interval of the
 * difference. Counts may be fractional; events are clamped to [0, trials] and a negative or NaN count is 0.
 *
 * No trials on either side: z 0 and pValue 1 (no evidence), and ci95 is what the other side alone allows ([-1, 1]
 * with no trials at all). No variation at all (no events anywhere, or only events): z 0, pValue 1.
 */
export function twoProportionTest(
  canary: { events: number; trials: number },
  stable: { events: number; trials: number },
): ProportionTest {
  const n1 = count(canary.trials);
  const n2 = count(stable.trials);
  const x1 = Math.min(n1, count(canary.events));
  const x2 = Math.min(n2, count(stable.events));
  const canaryRate = n1 > 0 ? x1 / n1 : 0;
  const stableRate = n2 > 0 ? x2 / n2 : 0;
  const difference = canaryRate - stableRate;
  const [l1, u1] = wilson(x1, n1);
  const [l2, u2] = wilson(x2, n2);
  if (n1 === 0 || n2 === 0) {
    // An empty side's rate may be anything in [0, 1]: plain interval arithmetic on the two Wilson intervals.
    return { canaryRate, stableRate, difference, z: 0, pValue: 1, ci95: [l1 - u2, u1 - l2] };
  }
  const ci95: [number, number] = [
    Math.max(-1, difference - Math.hypot(canaryRate - l1, u2 - stableRate)),
    Math.min(1, difference + Math.hypot(u1 - canaryRate, stableRate - l2)),
  ];
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (!(se > 0)) return { canaryRate, stableRate, difference, z: 0, pValue: 1, ci95 };
  const z = difference / se;
  return { canaryRate, stableRate, difference, z, pValue: normalSf(z), ci95 };
}

/** Counts of canary and stable at one value (or in one bucket), in ascending order of value. */
type Group = readonly [canary: number, stable: number];

/**
 * The Mann–Whitney statistics from tie groups in ascending order: U of the canary, midranks for ties (each tie gives
 * half a pair to each side), and the tie-corrected normal approximation with a continuity correction of 0.5 towards
 * the upper tail, as scipy's mannwhitneyu(alternative='greater') computes it.
 */
function rankTest(groups: Iterable<Group>): RankTest {
  let n1 = 0;
  let n2 = 0;
  let u = 0;
  let ties = 0;
  for (const [c1, c2] of groups) {
    u += c1 * (n2 + 0.5 * c2);
    n1 += c1;
    n2 += c2;
    const t = c1 + c2;
    ties += t * t * t - t;
  }
  const pairs = n1 * n2;
  if (!(pairs > 0)) return { u: 0, z: 0, pValue: 1, effectSize: 0.5, n1, n2 };
  const n = n1 + n2;
  const spread = n + 1 - ties / (n * (n - 1));
  // Every value tied (spread 0 but for rounding), or fractional counts under 1 observation: nothing to rank.
  if (!(n > 1) || !(spread > 1e-9 * (n + 1))) return { u, z: 0, pValue: 1, effectSize: u / pairs, n1, n2 };
  const sigma = Math.sqrt((pairs / 12) * spread);
  const z = (u - pairs / 2 - 0.5) / sigma;
  return { u, z, pValue: normalSf(z), effectSize: u / pairs, n1, n2 };
}

/**
 * Mann–Whitney U of raw latencies: is the canary stochastically slower than stable? Ties get midranks and the
 * variance is tie-corrected; the normal approximation has a continuity correction of 0.5 (scipy's default), so
 * p-values for tiny samples are approximate (below ~8 per side an exact test would be better). NaN values are
 * dropped. Either side empty: u 0, z 0, pValue 1, effectSize 0.5. Every value tied: z 0, pValue 1, effectSize 0.5.
 */
export function mannWhitneyU(canary: readonly number[], stable: readonly number[]): RankTest {
  const a = Float64Array.from(canary.filter((v) => !Number.isNaN(v))).sort();
  const b = Float64Array.from(stable.filter((v) => !Number.isNaN(v))).sort();
  return rankTest(mergeSorted(a, b));
}

/** Walks two sorted arrays together, one group per distinct value. */
function* mergeSorted(a: Float64Array, b: Float64Array): Generator<Group> {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const value = Math.min(a[i] ?? Infinity, b[j] ?? Infinity);
    let c1 = 0;
    let c2 = 0;
    for (; i < a.length && a[i] === value; i += 1) c1 += 1;
    for (; j < b.length && b[j] === value; j += 1) c2 += 1;
    yield [c1, c2];
  }
}

/**
 * The same test on bucketed latencies: all values in one bucket are ties. Histograms with different bounds are first
 * merged to their common bounds (coarser, exact: no bucket is split). Coarse buckets lose power, never validity: two
 * versions whose latencies differ within one bucket look the same. Empty histograms: as {@link mannWhitneyU}.
 */
export function mannWhitneyHistograms(canary: LatencyHistogram, stable: LatencyHistogram): RankTest {
  const [a, b] = onCommonBounds(canary, stable);
  return rankTest(a.counts.map((c, i): Group => [c, b.counts[i] ?? 0]));
}

/** Buckets of two histograms side by side: the same sorted bounds, sums for cumulative step windows. */
export function mergeHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  const [x, y] = onCommonBounds(a, b);
  return { boundsMs: x.boundsMs, counts: x.counts.map((c, i) => c + (y.counts[i] ?? 0)) };
}

/**
 * A histogram as the functions here read it: bounds ascending and distinct (a null or NaN bound is Infinity; equal
 * bounds are merged), counts finite and non-negative (anything else 0); pairs beyond the shorter array are dropped.
 */
export function normalizeHistogram(h: LatencyHistogram): LatencyHistogram {
  const length = Math.min(h.boundsMs.length, h.counts.length);
  const pairs: [number, number][] = [];
  for (let i = 0; i < length; i += 1) {
    const bound = h.boundsMs[i] as number | null;
    pairs.push([bound === null || Number.isNaN(bound) ? Infinity : bound, count(h.counts[i] ?? 0)]);
  }
  pairs.sort((p, q) => p[0] - q[0] || 0);
  const boundsMs: number[] = [];
  const counts: number[] = [];
  for (const [bound, c] of pairs) {
    if (boundsMs.length > 0 && boundsMs[boundsMs.length - 1] === bound) {
      counts[counts.length - 1]! += c;
    } else {
      boundsMs.push(bound);
      counts.push(c);
    }
  }
  return { boundsMs, counts };
}

/** Both histograms on the bounds they share (plus the larger top bound), each bucket moved up to the next of them. */
export function onCommonBounds(a: LatencyHistogram, b: LatencyHistogram): [LatencyHistogram, LatencyHistogram] {
  const x = normalizeHistogram(a);
  const y = normalizeHistogram(b);
  if (sameBounds(x.boundsMs, y.boundsMs)) return [x, y];
  const inY = new Set(y.boundsMs);
  const common = x.boundsMs.filter((bound) => inY.has(bound));
  const top = Math.max(x.boundsMs.at(-1) ?? -Infinity, y.boundsMs.at(-1) ?? -Infinity);
  if (top > -Infinity && common.at(-1) !== top) common.push(top);
  return [rebin(x, common), rebin(y, common)];
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((bound, i) => bound === b[i]);
}

/** Moves every bucket of a normalized histogram into the first of `bounds` at or above its own bound. */
function rebin(h: LatencyHistogram, bounds: number[]): LatencyHistogram {
  const counts = bounds.map(() => 0);
  let target = 0;
  h.boundsMs.forEach((bound, i) => {
    while (target < bounds.length - 1 && bounds[target]! < bound) target += 1;
    counts[target]! += h.counts[i] ?? 0;
  });
  return { boundsMs: [...bounds], counts };
}

/** Counts latencies into buckets with the given upper bounds (inclusive); values above the last bound are dropped. */
export function histogramOf(
  valuesMs: readonly number[],
  boundsMs: readonly number[] = LATENCY_BUCKETS_MS,
): LatencyHistogram {
  const counts = boundsMs.map(() => 0);
  for (const value of valuesMs) {
    if (Number.isNaN(value)) continue;
    const i = boundsMs.findIndex((bound) => value <= bound);
    if (i >= 0) counts[i]! += 1;
  }
  return { boundsMs: [...boundsMs], counts };
}

/** How many observations a histogram holds. */
export function histogramTotal(h: LatencyHistogram): number {
  return normalizeHistogram(h).counts.reduce((sum, c) => sum + c, 0);
}

/**
 * The q-quantile (0 ≤ q ≤ 1) by linear interpolation within the bucket where it falls, as Prometheus'
 * histogram_quantile does: the first bucket starts at 0 (or at its bound if that is ≤ 0), and a quantile in the
 * overflow bucket (bound Infinity) is the highest finite bound. null for an empty histogram or q outside [0, 1].
 */
export function histogramQuantile(h: LatencyHistogram, q: number): number | null {
  if (!(q >= 0 && q <= 1)) return null;
  const { boundsMs, counts } = normalizeHistogram(h);
  const total = counts.reduce((sum, c) => sum + c, 0);
  if (!(total > 0)) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const inBucket = counts[i]!;
    const upper = boundsMs[i]!;
    // The last bucket takes what rounding leaves over.
    if (below + inBucket < rank && i < counts.length - 1) {
      below += inBucket;
      continue;
    }
    if (upper === Infinity) return i > 0 ? boundsMs[i - 1]! : null;
    if (i === 0 && upper <= 0) return upper;
    const lower = i > 0 ? boundsMs[i - 1]! : 0;
    if (!(inBucket > 0)) return lower;
    return lower + (upper - lower) * Math.min(1, Math.max(0, (rank - below) / inBucket));
  }
  return null;
}

/**
 * How many observations lie above `x` (ms): the buckets wholly above it, and the share of the bucket that holds it by
 * linear interpolation, as {@link histogramQuantile} places observations within a bucket; so the share above x exceeds
 * 1 − q exactly when the q-quantile lies above x. The overflow bucket counts as above x only when x is below its lower
 * bound (beyond the last finite bound nothing is known, and no quantile is placed there). 0 for an empty histogram.
 */
export function histogramCountAbove(h: LatencyHistogram, x: number): number {
  const { boundsMs, counts } = normalizeHistogram(h);
  let above = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const upper = boundsMs[i]!;
    const lower = i > 0 ? boundsMs[i - 1]! : Math.min(0, upper);
    const inBucket = counts[i]!;
    if (x < lower) above += inBucket;
    else if (x < upper && upper !== Infinity && upper > lower) above += (inBucket * (upper - x)) / (upper - lower);
  }
  return above;
}
