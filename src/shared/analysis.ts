import type { AnalysisConfig } from './config';

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
}

export type Verdict = 'healthy' | 'warning' | 'critical' | 'inconclusive';

/** One metric of one sample against its thresholds. */
export interface MetricCheck {
  metric: 'errorRate' | 'latencyP95';
  value: number | null;
  warn: number;
  critical: number;
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
  verdict: Verdict;
  reason: string;
}

const ORDER: Record<Verdict, number> = { healthy: 0, inconclusive: 1, warning: 2, critical: 3 };

function judge(value: number, warn: number, critical: number): Verdict {
  if (value > critical) return 'critical';
  if (value > warn) return 'warning';
  return 'healthy';
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 2 : 1)} %`;
}

/**
 * Judges one window of canary metrics against the thresholds. Too few requests is inconclusive, never
 * success: a canary that receives no traffic proves nothing. Above critical on any metric is critical.
 */
export function analyseWindow(
  canary: MetricsWindow,
  config: Pick<AnalysisConfig, 'minRequests' | 'errorRate' | 'latencyP95'>,
): Pick<AnalysisSample, 'checks' | 'verdict' | 'reason' | 'errorRate'> {
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
    {
      metric: 'errorRate',
      value: errorRate,
      warn: config.errorRate.warn,
      critical: config.errorRate.critical,
      verdict: judge(errorRate, config.errorRate.warn, config.errorRate.critical),
    },
  ];
  if (canary.p95Ms === null) {
    checks.push({
      metric: 'latencyP95',
      value: null,
      warn: config.latencyP95.warn,
      critical: config.latencyP95.critical,
      verdict: 'inconclusive',
    });
  } else {
    checks.push({
      metric: 'latencyP95',
      value: canary.p95Ms,
      warn: config.latencyP95.warn,
      critical: config.latencyP95.critical,
      verdict: judge(canary.p95Ms, config.latencyP95.warn, config.latencyP95.critical),
    });
  }
  const verdict = checks.reduce<Verdict>(
    (worst, c) => (ORDER[c.verdict] > ORDER[worst] ? c.verdict : worst),
    'healthy',
  );
  return { checks, errorRate, verdict, reason: describeChecks(checks, canary.requests) };
}

function describeChecks(checks: MetricCheck[], requests: number): string {
  const parts = checks.map((c) => {
    if (c.value === null) return `${c.metric} missing`;
    const shown = c.metric === 'errorRate' ? percent(c.value) : `${Math.round(c.value)} ms`;
    const limit =
      c.verdict === 'critical'
        ? ` > critical ${c.metric === 'errorRate' ? percent(c.critical) : `${c.critical} ms`}`
        : c.verdict === 'warning'
          ? ` > warn ${c.metric === 'errorRate' ? percent(c.warn) : `${c.warn} ms`}`
          : '';
    return `${c.metric === 'errorRate' ? 'error rate' : 'p95'} ${shown}${limit}`;
  });
  return `${parts.join(', ')} over ${requests} requests`;
}

/** What the canary loop does after a sample, given the consecutive counts so far. */
export type AnalysisDecision =
  | { action: 'continue'; consecutiveFailures: number; consecutiveInconclusive: number }
  | { action: 'rollback'; cause: 'critical' | 'failure-limit'; reason: string }
  | { action: 'give-up'; reason: string };

/** A sample's outcome as the loop sees it: a verdict, or a measurement that could not be taken. */
export type SampleOutcome = Verdict | 'unmeasured';

/**
 * Folds one sample into the running counts. A critical sample rolls back at once (the spec's IMMEDIATE
 * ROLLBACK). A warning is an alert, recorded and reported, not a reason to stop. Samples that could not
 * be measured count toward the failure limit: a canary nobody can see is rolled back. Too many
 * inconclusive samples in a row stop the canary without promoting it.
 */
export function decide(
  outcome: SampleOutcome,
  counts: { consecutiveFailures: number; consecutiveInconclusive: number },
  config: Pick<AnalysisConfig, 'failureLimit' | 'inconclusiveLimit'>,
  reason: string,
): AnalysisDecision {
  switch (outcome) {
    case 'critical':
      return { action: 'rollback', cause: 'critical', reason: `critical: ${reason}` };
    case 'unmeasured': {
      const consecutiveFailures = counts.consecutiveFailures + 1;
      if (consecutiveFailures >= config.failureLimit) {
        return {
          action: 'rollback',
          cause: 'failure-limit',
          reason: `${consecutiveFailures} samples in a row could not be measured (limit ${config.failureLimit}): ${reason}`,
        };
      }
      return { action: 'continue', consecutiveFailures, consecutiveInconclusive: counts.consecutiveInconclusive };
    }
    case 'inconclusive': {
      const consecutiveInconclusive = counts.consecutiveInconclusive + 1;
      if (consecutiveInconclusive >= config.inconclusiveLimit) {
        return {
          action: 'give-up',
          reason: `${consecutiveInconclusive} inconclusive samples in a row (limit ${config.inconclusiveLimit}): ${reason}`,
        };
      }
      return { action: 'continue', consecutiveFailures: 0, consecutiveInconclusive };
    }
    case 'warning':
    case 'healthy':
      return { action: 'continue', consecutiveFailures: 0, consecutiveInconclusive: 0 };
  }
}
