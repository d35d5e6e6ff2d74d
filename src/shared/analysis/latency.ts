/**
 * Latency judged with confidence (rules revision `latencyConfidence`): a quantile threshold is crossed only when
 * significantly more of the requests than the quantile allows are slower than it; the comparison with stable fails
 * on the canary's tail (more of its requests past the tolerance than stable's, by the test the error rate uses) and
 * warns on Mann–Whitney, exact where its normal approximation fails (src/shared/exact-rank-test.ts).
 */
import type { AnalysisConfig } from '../analysis-config';
import type { MetricCheck, QuantileBound, TailTest, Verdict } from '../analysis';
import { latencyRankTest } from '../exact-rank-test';
import { histogramCountAbove, histogramTotal, type LatencyHistogram } from '../statistics';
import type { WindowTotals } from './checks';
import { ALPHA, SMALL_EFFECT, wilsonLower, Z, type Look } from './confidence';
import { greaterShare } from './proportions';

type Thresholds = { warn: number; critical: number };
type Config = Pick<AnalysisConfig, 'latencyP95' | 'latencyP99' | 'compare'>;

/** The quantile each latency metric is: p95 allows 5 % of requests slower than its threshold, p99 1 %. */
const QUANTILE = { latencyP95: 0.95, latencyP99: 0.99 } as const;

/**
 * "More than 1 − q of the requests slower than `limit`", with the look's confidence: the share above the limit from
 * the histogram (interpolated within the bucket that holds it, as the quantile is) and the lower end of its one-sided
 * Wilson interval. The quantile lies above the limit with confidence when that lower end is above 1 − q. undefined
 * for an empty histogram.
 */
export function quantileBound(
  latency: LatencyHistogram,
  q: number,
  limit: number,
  look: Look,
): QuantileBound | undefined {
  const total = histogramTotal(latency);
  if (!(total > 0)) return undefined;
  const above = Math.min(total, histogramCountAbove(latency, limit));
  const lowerBound = wilsonLower(above, total, Z[look]);
  return { q, limit, above, total, share: above / total, lowerBound, beyond: lowerBound > 1 - q };
}

function judge(value: number, t: Thresholds): Verdict {
  return value > t.critical ? 'critical' : value > t.warn ? 'warning' : 'healthy';
}

/**
 * A latency quantile against its thresholds. Critical only when the quantile is above critical with the look's
 * confidence (significantly more than 5 % of requests slower than critical, for p95), as the error rate's critical
 * needs its Wilson bound: a warning is an alert and stays on the estimate. Without a histogram nothing can be bounded:
 * the estimate alone, as before.
 */
function thresholdCheck(metric: keyof typeof QUANTILE, canary: WindowTotals, t: Thresholds, look: Look): MetricCheck {
  const value = metric === 'latencyP95' ? canary.p95Ms : canary.p99Ms;
  const check: MetricCheck = {
    metric,
    kind: 'threshold',
    unit: 'ms',
    value,
    warn: t.warn,
    critical: t.critical,
    verdict: value === null ? 'inconclusive' : judge(value, t),
  };
  if (value === null || !canary.latency) return check;
  const bound = quantileBound(canary.latency, QUANTILE[metric], t.critical, look);
  if (!bound) return check;
  const verdict: Verdict = value > t.critical && bound.beyond ? 'critical' : value > t.warn ? 'warning' : 'healthy';
  return { ...check, verdict, test: 'wilson', quantile: bound };
}

/** The latency thresholds of a window: p95, and p99 when configured. */
export function latencyThresholdChecks(canary: WindowTotals, config: Config, look: Look): MetricCheck[] {
  const checks = [thresholdCheck('latencyP95', canary, config.latencyP95, look)];
  if (config.latencyP99) checks.push(thresholdCheck('latencyP99', canary, config.latencyP99, look));
  return checks;
}

/**
 * Does the canary have more requests slower than the tolerance than stable? Each version's requests past `limit`,
 * interpolated within the bucket that holds it (as the quantile estimate and its bound are) and rounded to whole
 * requests, compared as the error rates are: the two-proportion z-test, or Fisher's exact test by Cochran's rule.
 * Whole buckets would make the counts exact but count the bucket's requests under the tolerance too, and a healthy
 * canary with a few more of them than stable in a step of 25 requests was then failed.
 */
export function tailTest(canary: LatencyHistogram, stable: LatencyHistogram, limit: number): TailTest {
  const count = (h: LatencyHistogram) => ({
    events: Math.round(histogramCountAbove(h, limit)),
    trials: Math.round(histogramTotal(h)),
  });
  const c = count(canary);
  const s = count(stable);
  const share = greaterShare(c, s);
  return { limitMs: limit, canary: c, stable: s, test: share.test, pValue: share.pValue };
}

/**
 * The canary's p95 against stable's tolerance (`latencyRatio` times stable's p95, or stable's + `latencyIncrease`,
 * whichever allows more): the check every revision of the latency comparison starts from. Undefined when either p95
 * is missing.
 */
export function p95RuleCheck(
  canary: WindowTotals,
  stable: WindowTotals,
  config: Pick<AnalysisConfig, 'compare'>,
): (MetricCheck & { limit: number }) | undefined {
  const { compare } = config;
  if (canary.p95Ms === null || stable.p95Ms === null) return undefined;
  const limit = Math.max(stable.p95Ms * compare.latencyRatio, stable.p95Ms + compare.latencyIncrease);
  return {
    metric: 'latencyP95 vs stable',
    kind: 'comparison',
    unit: 'ms',
    value: canary.p95Ms,
    baseline: stable.p95Ms,
    limit,
    verdict: canary.p95Ms > limit ? 'failing' : 'healthy',
    test: 'p95-rule',
  };
}

/**
 * The canary's latency against stable's. Failing when more of its requests than stable's are slower than the
 * tolerance (1.5 × stable's p95, or stable's + 100 ms: {@link tailTest}, significant at the look's α) and
 * significantly more than 5 % of them are (a Wilson bound). A warning when
 * Mann–Whitney says it is slower across the board (its exact conditional test when fewer than 5 of the smaller
 * version's requests are expected outside the most common bucket) with at least a small effect. Mann–Whitney alone
 * does not fail a canary: a release slow on one request in five moves the ranks little (P(slower) 0.55) and its test
 * misses it at a step's size, while its tail is plain. Without histograms: the p95 rule alone, as before.
 */
export function latencyComparisonChecks(
  canary: WindowTotals,
  stable: WindowTotals,
  config: Config,
  look: Look,
): MetricCheck[] {
  const check = p95RuleCheck(canary, stable, config);
  if (!check) return [];
  const { limit } = check;
  if (!canary.latency || !stable.latency) return [check];
  const rank = latencyRankTest(canary.latency, stable.latency);
  const tail = tailTest(canary.latency, stable.latency, limit);
  const bound = quantileBound(canary.latency, QUANTILE.latencyP95, limit, look);
  const verdict: Verdict =
    tail.pValue < ALPHA[look] && bound?.beyond
      ? 'failing'
      : rank.pValue < ALPHA[look] && rank.effectSize >= SMALL_EFFECT
        ? 'warning'
        : 'healthy';
  const { expectedInTail } = rank.choice;
  return [
    {
      ...check,
      verdict,
      test: rank.test,
      pValue: rank.pValue,
      alpha: ALPHA[look],
      confidence: 1 - rank.pValue,
      effectSize: rank.effectSize,
      rankTest: { tail: rank.choice.tail, expectedInTail, ...(rank.tooSpread ? { tooSpread: true } : {}) },
      tail,
      ...(bound ? { quantile: bound } : {}),
    },
  ];
}
