/**
 * Is a share of the canary's requests (errors, or requests slower than the tolerance) greater than stable's? The
 * two-proportion z-test, or Fisher's exact test where too few events are expected for its normal approximation.
 */
import { lnChoose } from '../exact-rank-test';
import { twoProportionTest, type ProportionTest } from '../statistics';

/**
 * One-sided Fisher's exact test: the probability, with the errors of both versions fixed, that the canary holds at
 * least as many of them as it does (the hypergeometric upper tail; Agresti, Categorical Data Analysis, 3rd ed., §3.5).
 * For counts too small for the z-test's normal approximation: 1 error in 8 canary requests against none in 109 of
 * stable's is p = 8 / 117 = 0.068 here, where the z-test would say 0.0001.
 */
export function fisherExactGreater(
  canary: { events: number; trials: number },
  stable: { events: number; trials: number },
) {
  const n = Math.round(canary.trials);
  const x = Math.round(canary.events);
  const total = n + Math.round(stable.trials);
  const events = x + Math.round(stable.events);
  if (n <= 0 || total <= n || x <= 0) return 1;
  const top = Math.min(events, n);
  const lnDenominator = lnChoose(total, n);
  let pmf = Math.exp(lnChoose(events, x) + lnChoose(total - events, n - x) - lnDenominator);
  let p = 0;
  for (let k = x; k <= top; k++) {
    p += pmf;
    pmf *= ((events - k) * (n - k)) / ((k + 1) * (total - events - n + k + 1));
  }
  return Math.min(1, Math.max(0, p));
}

/**
 * Cochran's rule: the z-test's normal approximation needs 5 or more expected in every cell of the 2×2 table; below
 * that, Fisher's exact test.
 */
export function cochranSmall(
  canary: { events: number; trials: number },
  stable: { events: number; trials: number },
): boolean {
  const total = canary.trials + stable.trials;
  const events = canary.events + stable.events;
  const expected = [
    (canary.trials * events) / total,
    (stable.trials * events) / total,
    (canary.trials * (total - events)) / total,
    (stable.trials * (total - events)) / total,
  ];
  return expected.some((e) => e < 5);
}

/** The canary's share against stable's, one-sided, by the test Cochran's rule picks. */
export function greaterShare(
  canary: { events: number; trials: number },
  stable: { events: number; trials: number },
): ProportionTest & { test: 'fisher-exact' | 'two-proportion' } {
  const proportions = twoProportionTest(canary, stable);
  if (!cochranSmall(canary, stable)) return { ...proportions, test: 'two-proportion' };
  return { ...proportions, pValue: fisherExactGreater(canary, stable), test: 'fisher-exact' };
}
