/**
 * Mann–Whitney's exact conditional test on bucketed latencies, for the tails where its normal approximation is far too
 * confident. Latencies arrive as histograms, so most observations tie; when few lie outside the most common bucket,
 * the distribution of U is a handful of lumps, not a bell, and the normal approximation's p-value can be orders of
 * magnitude too small (3 slow canary requests of 50 against none of stable's 200: 2.6e-4 where the exact p is 0.0076).
 * Pure and deterministic, as the rest of the judgement, so a replayed history gives the same figures.
 */
import { mannWhitneyHistograms, normalizeHistogram, onCommonBounds, type LatencyHistogram } from './statistics';

/** ln Γ(x) for x > 0: Lanczos' approximation (g = 7, 9 terms), about 15 significant digits. */
export function lnGamma(x: number): number {
  const c = [
    0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406,
    12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** ln of the binomial coefficient n choose k (whole numbers, 0 ≤ k ≤ n). */
export function lnChoose(n: number, k: number): number {
  return lnGamma(n + 1) - lnGamma(k + 1) - lnGamma(n - k + 1);
}

/**
 * The rule that chooses the exact test, Cochran's as for the error rate's Fisher test, on the 2×2 table of "in the most
 * common bucket or not": the exact test when fewer than this many of the smaller version's observations are expected
 * outside the most common bucket.
 */
export const EXACT_EXPECTED_TAIL = 5;

/**
 * Most states (canary counts and rank sums so far) the exact computation keeps. A tail spread so widely over the
 * buckets that its arrangements exceed this keeps the normal approximation (said in the check); it takes tens of
 * observations spread over most of the 13 buckets, a tail whose approximation is fair.
 */
export const EXACT_STATE_LIMIT = 200_000;

/** Which rank test a pair of histograms gets, and why, as facts. */
export interface RankTestChoice {
  /** Observations (both versions, counts rounded) outside the most common bucket of the two together. */
  tail: number;
  /** How many of the smaller version's observations are expected among them: n_small × tail / N. */
  expectedInTail: number;
  /** The rule: expectedInTail below {@link EXACT_EXPECTED_TAIL}. */
  exact: boolean;
}

/** A rank test of canary latencies against stable's: the normal approximation or the exact conditional test. */
export interface LatencyRankTest {
  test: 'mann-whitney' | 'mann-whitney-exact';
  /** One-sided: the canary stochastically slower. */
  pValue: number;
  /** P(canary slower) + ½ P(tied), 0.5 = no difference. */
  effectSize: number;
  choice: RankTestChoice;
  /** The rule chose the exact test but its tail was too spread to enumerate: the approximation was used. */
  tooSpread?: boolean;
}

/** Whole counts per bucket of two histograms on common bounds (the exact test counts requests). */
function wholeCounts(canary: LatencyHistogram, stable: LatencyHistogram): [number[], number[]] {
  const [a, b] = onCommonBounds(normalizeHistogram(canary), normalizeHistogram(stable));
  return [a.counts.map((c) => Math.round(c)), b.counts.map((c) => Math.round(c))];
}

/** The rule that picks the test, applied to two histograms. */
export function rankTestChoice(canary: LatencyHistogram, stable: LatencyHistogram): RankTestChoice {
  const [a, b] = wholeCounts(canary, stable);
  const n1 = a.reduce((s, c) => s + c, 0);
  const n2 = b.reduce((s, c) => s + c, 0);
  const n = n1 + n2;
  const largest = a.reduce((max, c, i) => Math.max(max, c + (b[i] ?? 0)), 0);
  const tail = n - largest;
  const expectedInTail = n > 0 ? (Math.min(n1, n2) * tail) / n : 0;
  return { tail, expectedInTail, exact: expectedInTail < EXACT_EXPECTED_TAIL };
}

/**
 * The exact conditional p-value of Mann–Whitney's U (one-sided: the canary slower), given the ties: with the bucket
 * totals of both versions together fixed, every way of choosing which observations are the canary's is equally likely
 * under "no difference" (the permutation distribution, as StatXact and R's coin::wilcox_test(distribution = "exact")
 * compute it). U is a sum of midranks, one per bucket, so the arrangements are enumerated bucket by bucket over the
 * smaller version's counts; those in the most common bucket follow from the rest. Counts are rounded to whole
 * requests. With two occupied buckets it is Fisher's exact test of the share in the upper one. undefined when the
 * arrangements exceed {@link EXACT_STATE_LIMIT}; 1 when either side is empty.
 */
export function mannWhitneyExact(canary: LatencyHistogram, stable: LatencyHistogram): number | undefined {
  const [a, b] = wholeCounts(canary, stable);
  const n1 = a.reduce((s, c) => s + c, 0);
  const n2 = b.reduce((s, c) => s + c, 0);
  if (n1 === 0 || n2 === 0) return 1;
  const n = n1 + n2;
  // Twice each bucket's midrank: whole numbers, so rank sums compare exactly.
  const buckets: { own: number; total: number; rank2: number }[] = [];
  const smallIsCanary = n1 <= n2;
  let below = 0;
  a.forEach((c1, i) => {
    const c2 = b[i] ?? 0;
    const total = c1 + c2;
    if (total === 0) return;
    buckets.push({ own: smallIsCanary ? c1 : c2, total, rank2: 2 * below + total + 1 });
    below += total;
  });
  const small = smallIsCanary ? n1 : n2;
  let main = 0;
  buckets.forEach((x, i) => {
    if (x.total > buckets[main]!.total) main = i;
  });
  const centre = buckets[main]!;
  const tail = buckets.filter((_, i) => i !== main).map((x) => ({ ...x, shift: x.rank2 - centre.rank2 }));
  // The smaller version's rank sum, less its count times the main bucket's rank: Σ count × shift over the tail.
  const observed = tail.reduce((s, x) => s + x.own * x.shift, 0);

  // states[m]: rank-sum shift → probability of it among arrangements putting m of the smaller version in the tail so far.
  let states: Map<number, number>[] = [new Map([[0, 1]])];
  let seen = 0;
  for (const { total, shift } of tail) {
    const next: Map<number, number>[] = [];
    let kept = 0;
    states.forEach((sums, m) => {
      for (let c = 0; c <= Math.min(total, small - m); c += 1) {
        // P(c of these | m of the earlier `seen`), hypergeometric in the tail seen so far.
        const weight = Math.exp(lnChoose(total, c) + lnChoose(seen, m) - lnChoose(seen + total, m + c));
        const into = (next[m + c] ??= new Map());
        for (const [sum, p] of sums) {
          const key = sum + c * shift;
          into.set(key, (into.get(key) ?? 0) + p * weight);
        }
      }
    });
    for (const sums of next) kept += sums?.size ?? 0;
    if (kept > EXACT_STATE_LIMIT) return undefined;
    states = next;
    seen += total;
  }

  const slowerIsAbove = smallIsCanary;
  // Summed against the whole (1 but for rounding in the binomial coefficients), so p = 1 comes out exactly 1.
  let p = 0;
  let whole = 0;
  states.forEach((sums, m) => {
    const inMain = small - m;
    if (!sums || inMain < 0 || inMain > centre.total) return;
    const hyper = Math.exp(lnChoose(seen, m) + lnChoose(centre.total, inMain) - lnChoose(n, small));
    for (const [sum, q] of sums) {
      whole += hyper * q;
      // The canary slower: its rank sum at least the observed, or the stable's at most its observed.
      if (slowerIsAbove ? sum >= observed : sum <= observed) p += hyper * q;
    }
  });
  return whole > 0 ? Math.min(1, Math.max(0, p / whole)) : 1;
}

/**
 * Mann–Whitney on two histograms by the rule: the exact conditional test when fewer than {@link EXACT_EXPECTED_TAIL}
 * of the smaller version's observations are expected outside the most common bucket, the tie-corrected normal
 * approximation otherwise (and when the exact one's tail is too spread to enumerate). The effect size is U / (n1·n2).
 */
export function latencyRankTest(canary: LatencyHistogram, stable: LatencyHistogram): LatencyRankTest {
  const approximate = mannWhitneyHistograms(canary, stable);
  const choice = rankTestChoice(canary, stable);
  if (!choice.exact) {
    return { test: 'mann-whitney', pValue: approximate.pValue, effectSize: approximate.effectSize, choice };
  }
  const exact = mannWhitneyExact(canary, stable);
  if (exact === undefined) {
    return {
      test: 'mann-whitney',
      pValue: approximate.pValue,
      effectSize: approximate.effectSize,
      choice,
      tooSpread: true,
    };
  }
  return { test: 'mann-whitney-exact', pValue: exact, effectSize: approximate.effectSize, choice };
}
