import type { AnalysisConfig } from '../analysis-config';
import { customChecks, describeChecks, type MetricCheck, type Verdict } from '../analysis';
import { mannWhitneyHistograms, twoProportionTest, type LatencyHistogram } from '../statistics';
import { ALPHA, SMALL_EFFECT, wilsonLower, Z, type Look } from './confidence';
import { latencyComparisonChecks, latencyThresholdChecks, p95RuleCheck } from './latency';
import { cochranSmall, fisherExactGreater } from './proportions';
import { JUDGEMENT_RULES } from './rules';

export { ALPHA, SMALL_EFFECT, wilsonLower, type Look } from './confidence';
export { fisherExactGreater } from './proportions';

/**
 * What one version served over a window, as the judgement reads it: one sample's window, or a step's cumulative one
 * (whose p95 is the merged histogram's, or the request-weighted mean of the samples' p95s without histograms).
 */
export interface WindowTotals {
  requests: number;
  errors: number;
  p95Ms: number | null;
  p99Ms: number | null;
  latency?: LatencyHistogram;
  custom?: Record<string, number | null>;
}

type Config = Pick<AnalysisConfig, 'errorRate' | 'latencyP95' | 'latencyP99' | 'custom' | 'compare'>;
type Thresholds = { warn: number; critical: number };

const ORDER: Record<Verdict, number> = { healthy: 0, inconclusive: 1, warning: 2, failing: 3, critical: 4 };

/** The worst verdict of some checks (skipped ones aside); healthy when there are none. */
export function worstVerdict(checks: readonly MetricCheck[]): Verdict {
  return checks.reduce<Verdict>(
    (worst, c) => (c.verdict !== 'skipped' && ORDER[c.verdict] > ORDER[worst] ? c.verdict : worst),
    'healthy',
  );
}

function judge(value: number, t: Thresholds, direction: 'above' | 'below' = 'above'): Verdict {
  const beyond = (limit: number) => (direction === 'above' ? value > limit : value < limit);
  if (beyond(t.critical)) return 'critical';
  if (beyond(t.warn)) return 'warning';
  return 'healthy';
}

/**
 * The error rate against its thresholds. Critical only when the rate is above critical with the look's confidence
 * (the Wilson lower bound above it): 8 errors in 150 requests, which a release erring 2 % of the time shows about
 * once in 80 samples, are a warning, while 30 in 150 roll back at once.
 */
function errorRateCheck(canary: WindowTotals, t: Thresholds, look: Look): MetricCheck {
  const rate = canary.errors / canary.requests;
  const lowerBound = wilsonLower(canary.errors, canary.requests, Z[look]);
  const verdict = rate > t.critical && lowerBound > t.critical ? 'critical' : rate > t.warn ? 'warning' : 'healthy';
  return {
    metric: 'errorRate',
    kind: 'threshold',
    unit: 'ratio',
    value: rate,
    warn: t.warn,
    critical: t.critical,
    verdict,
    test: 'wilson',
    lowerBound,
  };
}

function latencyCheck(metric: string, value: number | null, t: Thresholds): MetricCheck {
  return {
    metric,
    kind: 'threshold',
    unit: 'ms',
    value,
    warn: t.warn,
    critical: t.critical,
    verdict: value === null ? 'inconclusive' : judge(value, t),
  };
}

function skippedComparison(canary: WindowTotals, stable: WindowTotals | null, minRequests: number): MetricCheck {
  const none = !stable || stable.requests === 0;
  return {
    metric: 'errorRate vs stable',
    kind: 'comparison',
    unit: 'ratio',
    value: canary.errors / canary.requests,
    verdict: 'skipped',
    skipped: none ? 'no-stable-traffic' : 'too-few-stable-requests',
    note: none
      ? 'stable took no traffic'
      : `stable had ${stable.requests} requests, fewer than the ${minRequests} needed to compare`,
  };
}

/** The z-test's normal approximation needs 5 or more expected in every cell (Cochran's rule); else the exact test. */
function smallCounts(canary: WindowTotals, stable: WindowTotals): boolean {
  return cochranSmall(
    { events: canary.errors, trials: canary.requests },
    { events: stable.errors, trials: stable.requests },
  );
}

/**
 * The canary's error rate against stable's, by the two-proportion z-test (Fisher's exact test when too few errors are
 * expected for it). A sample fails when the canary is worse by more than the tolerance and the difference is
 * significant at 99.9 %. A step's whole window fails only when the 95 % interval of the difference (Newcombe's) lies
 * wholly above the tolerance: worse than stable by more than `errorRateIncrease` with 97.5 % confidence, so a healthy
 * release whose window is small enough for chance to carry it a point above stable is not failed for it. Significantly
 * worse without failing is a warning.
 */
function errorComparison(canary: WindowTotals, stable: WindowTotals, config: Config, look: Look): MetricCheck {
  const c = { events: canary.errors, trials: canary.requests };
  const s = { events: stable.errors, trials: stable.requests };
  const proportions = twoProportionTest(c, s);
  const exact = smallCounts(canary, stable);
  const test = exact ? { ...proportions, pValue: fisherExactGreater(c, s) } : proportions;
  const { errorRateIncrease } = config.compare;
  const limit = test.stableRate + errorRateIncrease;
  const significant = test.pValue < ALPHA[look];
  const failing = look === 'step' ? test.ci95[0] > errorRateIncrease : significant && test.canaryRate > limit;
  return {
    metric: 'errorRate vs stable',
    kind: 'comparison',
    unit: 'ratio',
    value: test.canaryRate,
    baseline: test.stableRate,
    limit,
    verdict: failing ? 'failing' : significant ? 'warning' : 'healthy',
    test: exact ? 'fisher-exact' : 'two-proportion',
    pValue: test.pValue,
    alpha: ALPHA[look],
    confidence: 1 - test.pValue,
    effectSize: test.difference,
    ci95: test.ci95,
  };
}

/**
 * The canary's latency against stable's. With both histograms: Mann–Whitney U on the buckets (is the canary
 * stochastically slower?), failing when significant and the canary's p95 is beyond the tolerance (so a 3 → 6 ms
 * change on a fast service is no failure however sure), a warning when significant with at least a small effect.
 * Without histograms: the p95 rule alone, as samples were judged before.
 */
function latencyComparison(canary: WindowTotals, stable: WindowTotals, config: Config, look: Look): MetricCheck[] {
  const check = p95RuleCheck(canary, stable, config);
  if (!check) return [];
  if (!canary.latency || !stable.latency) return [check];
  const rank = mannWhitneyHistograms(canary.latency, stable.latency);
  const significant = rank.pValue < ALPHA[look];
  const verdict: Verdict = !significant
    ? 'healthy'
    : check.verdict === 'failing'
      ? 'failing'
      : rank.effectSize >= SMALL_EFFECT
        ? 'warning'
        : 'healthy';
  return [
    {
      ...check,
      verdict,
      test: 'mann-whitney',
      pValue: rank.pValue,
      alpha: ALPHA[look],
      confidence: 1 - rank.pValue,
      effectSize: rank.effectSize,
    },
  ];
}

/** A window judged: every check, the worst verdict, a line for people, and whether traffic was too low to judge. */
export interface JudgedWindow {
  checks: MetricCheck[];
  verdict: Verdict;
  reason: string;
  errorRate: number | null;
  /** Fewer requests than the look needs: inconclusive for want of traffic, not for want of data. */
  lowTraffic: boolean;
}

/**
 * Judges a window of the canary against its thresholds and against stable over the same window, with the statistics
 * of the look: a sample (tests at 99 %) or a step's cumulative window (tests at 95 %). Fewer than `minRequests` is
 * inconclusive, never healthy; a stable version with fewer skips the comparison, said in the check.
 */
export function judgeWindow(
  canary: WindowTotals,
  stable: WindowTotals | null,
  config: Config,
  look: Look,
  minRequests: number,
  rules: number = JUDGEMENT_RULES.original,
): JudgedWindow {
  if (canary.requests < minRequests) {
    return {
      checks: [],
      errorRate: canary.requests > 0 ? canary.errors / canary.requests : null,
      verdict: 'inconclusive',
      reason: `${canary.requests} requests, fewer than the ${minRequests} needed to judge`,
      lowTraffic: true,
    };
  }
  // From revision latencyConfidence, latency quantiles are judged with confidence and ties get the exact test.
  const confident = rules >= JUDGEMENT_RULES.latencyConfidence;
  const checks: MetricCheck[] = [errorRateCheck(canary, config.errorRate, look)];
  if (confident) {
    checks.push(...latencyThresholdChecks(canary, config, look));
  } else {
    checks.push(latencyCheck('latencyP95', canary.p95Ms, config.latencyP95));
    if (config.latencyP99) checks.push(latencyCheck('latencyP99', canary.p99Ms, config.latencyP99));
  }
  checks.push(...customChecks(canary, config.custom));
  if (config.compare.enabled && stable) {
    if (stable.requests < minRequests) {
      checks.push(skippedComparison(canary, stable, minRequests));
    } else {
      checks.push(errorComparison(canary, stable, config, look));
      checks.push(
        ...(confident
          ? latencyComparisonChecks(canary, stable, config, look)
          : latencyComparison(canary, stable, config, look)),
      );
    }
  }
  const verdict = worstVerdict(checks);
  return {
    checks,
    errorRate: canary.errors / canary.requests,
    verdict,
    reason: describeChecks(checks, verdict, canary.requests),
    lowTraffic: false,
  };
}
