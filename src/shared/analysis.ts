import type { AnalysisConfig } from './analysis-config';
import { formatValue } from './format';
import type { CostFigures } from './cost';
import type { LatencyHistogram } from './statistics';

/** What the metrics provider measured for one version over one window. */
export interface MetricsWindow {
  version: string;
  requests: number;
  errors: number;
  /** Latencies in milliseconds; null when there were no requests. */
  p95Ms: number | null;
  p99Ms: number | null;
  /** Values of the analysis's custom metrics by name; null when the provider had no data. */
  custom?: Record<string, number | null>;
  /** Request latencies over the window as a small fixed-bucket histogram, when the provider measures them. */
  latency?: LatencyHistogram;
  /** What the version cost over the window, from the worker's cost source (rules revision cost). */
  cost?: CostFigures;
  /** Why cost was asked and not measured (no source on the worker, the source failed). */
  costError?: string;
}

/**
 * How a sample is judged, mildest first. `warning` crosses an alerting threshold (an alert, not a reason to stop);
 * `failing` is worse than the stable version by more than the tolerance, or crosses a custom metric's warn level,
 * and counts toward the failure limit; `critical` rolls back at once.
 */
export type Verdict = 'healthy' | 'inconclusive' | 'warning' | 'failing' | 'critical';

/**
 * The rule of the analysis that decided a stop or a pause: `critical` (a sample beyond a critical threshold),
 * `consecutive` (failing or unmeasurable samples in a row), `budget` (failing or unmeasurable samples in the run),
 * and, on a step's cumulative window, `cumulative-threshold`, `comparison` (worse than stable), `score` (below
 * pass) and `max-bake` (too little traffic to judge by the step's max bake).
 */
export type DecisionRule =
  | 'budget'
  | 'consecutive'
  | 'cumulative-threshold'
  | 'comparison'
  | 'score'
  | 'critical'
  | 'max-bake'
  | 'measurement-errors'
  | 'cost';

/** One metric of one sample: against its thresholds, or against the stable version over the same window. */
export interface MetricCheck {
  metric: string;
  kind: 'threshold' | 'comparison';
  unit: 'ratio' | 'ms' | 'value';
  /** The canary's value; null when it was not measured. */
  value: number | null;
  warn?: number;
  critical?: number;
  /** Comparisons: stable's value over the same window, and the largest canary value tolerated. */
  baseline?: number | null;
  limit?: number;
  verdict: Verdict | 'skipped';
  /** Why a comparison was skipped, or the statistics behind it. */
  note?: string;
  /** Why a comparison was skipped, as a fact. */
  skipped?: 'disabled' | 'no-stable-traffic' | 'too-few-stable-requests';
  /**
   * How the verdict was reached: the two-proportion z-test (error rates), Fisher's exact test (error rates with too
   * few errors expected for the z-test), Mann–Whitney U on latency histograms, the p95 rule (no histograms), or a
   * Wilson lower bound (a threshold crossed with confidence); from the rules revision latencyConfidence, Mann–Whitney's
   * exact conditional test where few requests lie outside the most common bucket (see `rankTest`).
   */
  test?: 'two-proportion' | 'fisher-exact' | 'mann-whitney' | 'mann-whitney-exact' | 'p95-rule' | 'wilson';
  /** One-sided p-value of "the canary is worse than stable"; the comparison can fail only when it is below `alpha`. */
  pValue?: number;
  alpha?: number;
  /** 1 − pValue: how sure the evidence is that the canary is worse. */
  confidence?: number;
  /**
   * How much worse: the error-rate difference (canary − stable) for the two-proportion test; for Mann–Whitney the
   * probability that a canary request is slower than a stable one (0.5: no difference).
   */
  effectSize?: number;
  /** 95 % interval of the error-rate difference (Newcombe). */
  ci95?: [number, number];
  /** A threshold judged with confidence: the lower confidence bound of the canary's value. */
  lowerBound?: number;
  /** A latency quantile judged with confidence: the share of requests slower than the limit, and its bound. */
  quantile?: QuantileBound;
  /**
   * Why the latency comparison took its test: the observations outside the most common bucket of both versions and
   * how many of the smaller version's were expected there (the exact test below 5); `tooSpread` when the exact test
   * was due but its tail too spread to enumerate, so the approximation decided.
   */
  rankTest?: { tail: number; expectedInTail: number; tooSpread?: boolean };
  /** The latency comparison's tail: more of the canary's requests than stable's slower than the tolerance. */
  tail?: TailTest;
}

/**
 * More of the canary's requests than stable's slower than `limitMs` (the tolerance; counts interpolated within its
 * bucket and rounded), one-sided, by the two-proportion z-test or Fisher's exact test (Cochran's rule), as error
 * rates are.
 */
export interface TailTest {
  limitMs: number;
  canary: { events: number; trials: number };
  stable: { events: number; trials: number };
  test: 'fisher-exact' | 'two-proportion';
  pValue: number;
}

/**
 * "The q-quantile lies above `limit`", judged with confidence: `above` of `total` requests were slower than the limit
 * (interpolated within the bucket that holds it), `lowerBound` is the lower end of the one-sided Wilson interval of
 * that share at the look's confidence, and `beyond` says it is above 1 − q.
 */
export interface QuantileBound {
  q: number;
  limit: number;
  above: number;
  total: number;
  share: number;
  lowerBound: number;
  beyond: boolean;
}

/**
 * Why a sample fell in the canary's warm-up (rules revision latencyConfidence): measured and recorded, its checks kept
 * for people, but not judged. Its window began within `durationMs` of the step's start, and/or the canary had served
 * fewer than `requests` in the step before it (`servedBefore`), so it holds some of the first requests of a process
 * that has just started or of processes a scale-up added.
 */
export interface WarmUpFact {
  by: ('duration' | 'requests')[];
  durationMs: number;
  requests: number;
  servedBefore: number;
  /** What the sample's checks said, kept and never counted. */
  verdict: Verdict;
}

/** A sample as kept in the workflow: what was measured, against what, and what it means. */
export interface AnalysisSample {
  /** ISO time the sample was judged (workflow time). */
  at: string;
  environment: string;
  /** Canary step index (0-based), or -1 for a verification outside a canary. */
  step: number;
  weight: number;
  windowMs: number;
  canary: MetricsWindow;
  stable: MetricsWindow | null;
  errorRate: number | null;
  checks: MetricCheck[];
  /** `warm-up`: taken in the canary's warm-up and not judged (see `warmUp`). */
  verdict: Verdict | 'warm-up';
  reason: string;
  /** Present when the sample fell in the canary's warm-up. */
  warmUp?: WarmUpFact;
  /** Milliseconds since its step began (workflow time); absent in samples recorded before steps were judged whole. */
  elapsedMs?: number;
}

const ORDER: Record<Verdict, number> = { healthy: 0, inconclusive: 1, warning: 2, failing: 3, critical: 4 };

/** One-sided 95 % for the two-proportion z-test: the canary's error rate is higher than stable's by chance < 5 %. */
export const SIGNIFICANT_Z = 1.645;

type Judged = Pick<AnalysisSample, 'checks' | 'reason' | 'errorRate'> & { verdict: Verdict };
type Thresholds = { warn: number; critical: number };

function judge(value: number, t: Thresholds, direction: 'above' | 'below' = 'above'): Verdict {
  const beyond = (limit: number) => (direction === 'above' ? value > limit : value < limit);
  if (beyond(t.critical)) return 'critical';
  if (beyond(t.warn)) return 'warning';
  return 'healthy';
}

function show(value: number, unit: MetricCheck['unit']): string {
  return formatValue(value, unit, unit === 'ratio' && value >= 0.1 ? 1 : 2);
}

function thresholdCheck(metric: string, unit: MetricCheck['unit'], value: number | null, t: Thresholds): MetricCheck {
  return {
    metric,
    kind: 'threshold',
    unit,
    value,
    warn: t.warn,
    critical: t.critical,
    verdict: value === null ? 'inconclusive' : judge(value, t),
  };
}

/**
 * z statistic of "the canary's error proportion is higher than stable's" (pooled two-proportion test). Zero when
 * neither version had an error, or there is no variance to speak of.
 */
export function errorRateZ(canary: { requests: number; errors: number }, stable: { requests: number; errors: number }) {
  const p1 = canary.errors / canary.requests;
  const p2 = stable.errors / stable.requests;
  const pooled = (canary.errors + stable.errors) / (canary.requests + stable.requests);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / canary.requests + 1 / stable.requests));
  if (se === 0) return p1 > p2 ? Infinity : 0;
  return (p1 - p2) / se;
}

/**
 * The canary against stable over the same window, so a canary is judged on what it changed: a shared downstream
 * outage raises both and is not the canary's fault. Skipped (with the reason) when stable has too little traffic to
 * compare with, which is the case at 100 % weight.
 */
function comparisonChecks(
  canary: MetricsWindow,
  stable: MetricsWindow | null,
  config: Pick<AnalysisConfig, 'minRequests' | 'compare'>,
): MetricCheck[] {
  const { compare } = config;
  if (!compare.enabled || !stable) return [];
  const canaryRate = canary.errors / canary.requests;
  if (stable.requests < config.minRequests) {
    const note =
      stable.requests === 0
        ? 'stable took no traffic'
        : `stable had ${stable.requests} requests, fewer than the ${config.minRequests} needed to compare`;
    return [
      { metric: 'errorRate vs stable', kind: 'comparison', unit: 'ratio', value: canaryRate, verdict: 'skipped', note },
    ];
  }
  const stableRate = stable.errors / stable.requests;
  const z = errorRateZ(canary, stable);
  const errorLimit = stableRate + compare.errorRateIncrease;
  const errorWorse = canaryRate > errorLimit && z >= SIGNIFICANT_Z;
  const checks: MetricCheck[] = [
    {
      metric: 'errorRate vs stable',
      kind: 'comparison',
      unit: 'ratio',
      value: canaryRate,
      baseline: stableRate,
      limit: errorLimit,
      verdict: errorWorse ? 'failing' : 'healthy',
      note: `z = ${Number.isFinite(z) ? z.toFixed(2) : '∞'}`,
    },
  ];
  if (canary.p95Ms !== null && stable.p95Ms !== null) {
    const latencyLimit = Math.max(stable.p95Ms * compare.latencyRatio, stable.p95Ms + compare.latencyIncrease);
    checks.push({
      metric: 'latencyP95 vs stable',
      kind: 'comparison',
      unit: 'ms',
      value: canary.p95Ms,
      baseline: stable.p95Ms,
      limit: latencyLimit,
      verdict: canary.p95Ms > latencyLimit ? 'failing' : 'healthy',
    });
  }
  return checks;
}

/**
 * Judges one window of canary metrics, against the thresholds and against stable over the same window. Too few
 * requests is inconclusive, never success: a canary that receives no traffic proves nothing. Above critical on any
 * metric is critical; worse than stable beyond the tolerance is failing.
 */
export function analyseWindow(
  canary: MetricsWindow,
  config: Pick<AnalysisConfig, 'minRequests' | 'errorRate' | 'latencyP95' | 'latencyP99' | 'custom' | 'compare'>,
  stable: MetricsWindow | null = null,
): Judged {
  if (canary.requests < config.minRequests) {
    return {
      checks: [],
      errorRate: canary.requests > 0 ? canary.errors / canary.requests : null,
      verdict: 'inconclusive',
      reason: `${canary.requests} requests, fewer than the ${config.minRequests} needed to judge`,
    };
  }
  const errorRate = canary.errors / canary.requests;
  const checks: MetricCheck[] = [
    thresholdCheck('errorRate', 'ratio', errorRate, config.errorRate),
    thresholdCheck('latencyP95', 'ms', canary.p95Ms, config.latencyP95),
  ];
  if (config.latencyP99) checks.push(thresholdCheck('latencyP99', 'ms', canary.p99Ms, config.latencyP99));
  checks.push(...customChecks(canary, config.custom));
  checks.push(...comparisonChecks(canary, stable, config));
  const verdict = checks.reduce<Verdict>(
    (worst, c) => (c.verdict !== 'skipped' && ORDER[c.verdict] > ORDER[worst] ? c.verdict : worst),
    'healthy',
  );
  return { checks, errorRate, verdict, reason: describeChecks(checks, verdict, canary.requests) };
}

/**
 * The custom metrics' checks of one window. A custom metric is the user's own health signal: its warn level fails,
 * not just alerts; a metric without data is inconclusive.
 */
export function customChecks(canary: Pick<MetricsWindow, 'custom'>, custom: AnalysisConfig['custom']): MetricCheck[] {
  return custom.map((metric) => {
    const value = canary.custom?.[metric.name] ?? null;
    const verdict = value === null ? 'inconclusive' : judge(value, metric, metric.direction);
    return {
      metric: metric.name,
      kind: 'threshold',
      unit: 'value',
      value,
      warn: metric.warn,
      critical: metric.critical,
      verdict: verdict === 'warning' ? 'failing' : verdict,
    };
  });
}

const LABELS: Record<string, string> = {
  errorRate: 'error rate',
  latencyP95: 'p95',
  latencyP99: 'p99',
  'errorRate vs stable': 'error rate vs stable',
  'latencyP95 vs stable': 'p95 vs stable',
};

/** The statistics of a check for people: "p 0.001, +3.0 pts" or "p 0.02, P(slower) 0.61". */
function describeStatistics(c: MetricCheck): string {
  if (c.pValue === undefined) return '';
  const exact = c.test === 'mann-whitney-exact' ? 'exact ' : '';
  const p = c.pValue < 0.001 ? `${exact}p < 0.001` : `${exact}p ${c.pValue.toFixed(3)}`;
  if (c.effectSize === undefined) return `, ${p}`;
  const effect =
    c.test === 'mann-whitney' || c.test === 'mann-whitney-exact'
      ? `P(slower) ${c.effectSize.toFixed(2)}`
      : `${c.effectSize >= 0 ? '+' : ''}${(c.effectSize * 100).toFixed(2)} pts`;
  return `, ${p}, ${effect}`;
}

/** The tail test for people: ", 20/102 past 180 ms vs 1/110, p < 0.001". */
function describeTail(c: MetricCheck): string {
  const t = c.tail;
  if (!t) return '';
  const p = t.pValue < 0.001 ? 'p < 0.001' : `p ${t.pValue.toFixed(3)}`;
  return `, ${t.canary.events}/${t.canary.trials} past ${show(t.limitMs, 'ms')} vs ${t.stable.events}/${t.stable.trials}, ${p}`;
}

/** A quantile bound for people: ", 9.4 % over 150 ms (≥ 6.2 %)". */
function describeQuantile(c: MetricCheck): string {
  const b = c.quantile;
  if (!b) return '';
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return `, ${pct(b.share)} over ${show(b.limit, 'ms')} (≥ ${pct(b.lowerBound)})`;
}

function describeCheck(check: MetricCheck): string {
  const c = { ...check, metric: LABELS[check.metric] ?? check.metric };
  if (c.value === null) return `${check.metric} missing`;
  const value = show(c.value, c.unit);
  if (c.kind === 'comparison') {
    if (c.verdict === 'skipped') return `${c.metric} skipped: ${c.note ?? ''}`;
    const baseline = c.baseline === null || c.baseline === undefined ? '?' : show(c.baseline, c.unit);
    const limit = c.limit === undefined ? '' : `, limit ${show(c.limit, c.unit)}`;
    return `${c.metric}: ${value} vs ${baseline}${limit}${c.note ? `, ${c.note}` : ''}${describeStatistics(c)}${describeTail(c)}${describeQuantile(c)}`;
  }
  if (c.verdict === 'critical') {
    return `${c.metric} ${value} > critical ${show(c.critical ?? 0, c.unit)}${describeQuantile(c)}`;
  }
  if (c.verdict === 'warning' || c.verdict === 'failing') {
    const over = c.quantile && c.value > (c.critical ?? Infinity) ? describeQuantile(c) : '';
    return `${c.metric} ${value} > warn ${show(c.warn ?? 0, c.unit)}${over}`;
  }
  return `${c.metric} ${value}`;
}

/**
 * What decided the verdict, so a reason stays one readable line (every check is kept in `checks`): all checks when
 * healthy; the checks at the sample's verdict otherwise, and for a warning the comparisons that cleared the canary.
 */
export function describeChecks(checks: MetricCheck[], verdict: Verdict, requests: number): string {
  const shown =
    verdict === 'healthy'
      ? checks
      : checks.filter((c) => c.verdict === verdict || (verdict === 'warning' && c.kind === 'comparison'));
  return `${shown.map(describeCheck).join('; ')} over ${requests} requests`;
}

/** What the canary loop does after a sample, given the consecutive counts so far. */
export type AnalysisDecision =
  | ({ action: 'continue' } & AnalysisCounts)
  | { action: 'rollback'; cause: 'critical'; reason: string }
  | { action: 'rollback'; cause: 'failure-limit'; reason: string; failing: number; unmeasured: number; limit: number }
  | { action: 'pause'; reason: string };

/** A sample's outcome as the loop sees it: a verdict, or a measurement that could not be taken. */
export type SampleOutcome = Verdict | 'unmeasured';

/** A sample's outcome as the judgement sees it: from the rules revision latencyConfidence, also a warm-up sample. */
export type JudgedOutcome = SampleOutcome | 'warm-up';

/** The consecutive counts the canary loop carries from one sample to the next. */
export interface AnalysisCounts {
  /** Failing and unmeasurable samples in a row. */
  consecutiveFailures: number;
  consecutiveInconclusive: number;
  /** Of the consecutive failures, how many could not be measured. */
  consecutiveUnmeasured?: number;
}

/**
 * Folds one sample into the running counts. A critical sample rolls back at once (the spec's IMMEDIATE ROLLBACK).
 * A warning is an alert, recorded and reported, not a reason to stop. Failing samples and samples that could not be
 * measured count toward the failure limit: a canary that is worse than stable, or that nobody can see, is rolled
 * back. Too many inconclusive samples in a row pause the canary for a person: it neither promotes nor rolls back.
 */
export function decide(
  outcome: SampleOutcome,
  counts: AnalysisCounts,
  config: Pick<AnalysisConfig, 'failureLimit' | 'inconclusiveLimit'>,
  reason: string,
): AnalysisDecision {
  switch (outcome) {
    case 'critical':
      return { action: 'rollback', cause: 'critical', reason: `critical: ${reason}` };
    case 'failing':
    case 'unmeasured': {
      const consecutiveFailures = counts.consecutiveFailures + 1;
      const consecutiveUnmeasured = (counts.consecutiveUnmeasured ?? 0) + (outcome === 'unmeasured' ? 1 : 0);
      const what = outcome === 'failing' ? 'failing samples' : 'samples that could not be measured';
      if (consecutiveFailures >= config.failureLimit) {
        return {
          action: 'rollback',
          cause: 'failure-limit',
          reason: `${consecutiveFailures} ${what} in a row (limit ${config.failureLimit}): ${reason}`,
          failing: consecutiveFailures - consecutiveUnmeasured,
          unmeasured: consecutiveUnmeasured,
          limit: config.failureLimit,
        };
      }
      return { action: 'continue', consecutiveFailures, consecutiveInconclusive: 0, consecutiveUnmeasured };
    }
    case 'inconclusive': {
      const consecutiveInconclusive = counts.consecutiveInconclusive + 1;
      if (consecutiveInconclusive >= config.inconclusiveLimit) {
        return {
          action: 'pause',
          reason: `${consecutiveInconclusive} inconclusive samples in a row (limit ${config.inconclusiveLimit}): ${reason}`,
        };
      }
      return { action: 'continue', consecutiveFailures: 0, consecutiveInconclusive, consecutiveUnmeasured: 0 };
    }
    case 'warning':
    case 'healthy':
      return { action: 'continue', consecutiveFailures: 0, consecutiveInconclusive: 0, consecutiveUnmeasured: 0 };
  }
}
