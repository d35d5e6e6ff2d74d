import { ApplicationFailure } from '@temporalio/common';
import type { AnalysisSample, DecisionRule, MetricCheck } from '../analysis';
import { applicationFailure, ErrorType, failureMessage } from '../errors';
import {
  POLICY_REFUSALS,
  type DecidingCheck,
  type DeployResult,
  type DeployStatus,
  type EnvironmentResult,
  type Outcome,
  type PolicyRefusal,
  type SampleCounts,
  type StopCause,
} from './status';

/** No samples yet. */
export function emptySampleCounts(): SampleCounts {
  return { healthy: 0, inconclusive: 0, warning: 0, failing: 0, critical: 0, unmeasured: 0 };
}

/** The checks of a sample that gave it its verdict (the worst ones), as the facts of a decision. */
export function decidingChecks(sample: Pick<AnalysisSample, 'checks' | 'verdict'>): DecidingCheck[] {
  return asDecidingChecks(sample.checks.filter((c) => c.verdict === sample.verdict));
}

/** Checks as the facts of a decision: each with its own verdict, value, the limit it crossed, and its statistics. */
export function asDecidingChecks(checks: readonly MetricCheck[]): DecidingCheck[] {
  return checks.flatMap((c) => {
    if (c.verdict === 'skipped') return [];
    const limit =
      c.kind === 'comparison' ? (c.limit ?? null) : ((c.verdict === 'critical' ? c.critical : c.warn) ?? null);
    return [
      {
        metric: c.metric,
        kind: c.kind,
        verdict: c.verdict,
        value: c.value,
        limit,
        ...(c.pValue !== undefined ? { pValue: c.pValue } : {}),
        ...(c.effectSize !== undefined ? { effectSize: c.effectSize } : {}),
      },
    ];
  });
}

const METRIC_KEYS: Record<string, string> = {
  errorRate: 'error-rate',
  latencyP95: 'latency',
  latencyP99: 'latency-p99',
  'errorRate vs stable': 'error-rate-vs-stable',
  'latencyP95 vs stable': 'latency-vs-stable',
};

/** A metric's name as a cause key: the built-in ones by their short names, a custom metric by its own. */
function metricKey(metric: string): string {
  return METRIC_KEYS[metric] ?? `metric-${metric}`;
}

/**
 * A short, stable key for a cause, so the agent can count repeats ("hello/error-rate" twice → a runbook note):
 * critical, failure-limit and step-judgement causes by the metric that decided them (`error-rate`, `latency`,
 * `latency-p99`, `error-rate-vs-stable`, `latency-vs-stable`, `metric-<custom>`), `unmeasured` when only unmeasurable
 * samples counted (or a pause for measurement errors timed out), `score` for a step whose score alone failed it, `no-data` for a step without the traffic to judge
 * or an inconclusive pause that timed out, `marginal` for a marginal step's pause that timed out, `paused`,
 * `aborted`, `error`, `cancelled`, `rejected`, `approval-timeout`; `other` for a result recorded before causes were
 * facts.
 */
export function causeKey(outcome: Outcome, cause: StopCause | undefined): string | null {
  if (outcome === 'promoted') return null;
  if (!cause)
    return outcome === 'rejected' ? 'rejected' : outcome === 'approval-timed-out' ? 'approval-timeout' : 'other';
  switch (cause.kind) {
    case 'critical':
      return cause.checks[0] ? metricKey(cause.checks[0].metric) : 'critical';
    case 'failure-limit':
      if (cause.failing === 0) return 'unmeasured';
      return cause.checks[0] ? metricKey(cause.checks[0].metric) : 'failing';
    case 'step-judgement':
      if (cause.rule === 'max-bake') return 'no-data';
      if (cause.rule === 'cost') return cause.cost?.verdict === 'unmeasured' ? 'cost-unmeasured' : 'cost';
      return cause.checks[0] ? metricKey(cause.checks[0].metric) : cause.rule === 'score' ? 'score' : 'failing';
    case 'pause-timeout':
      if (cause.pause === 'unmeasured') return 'unmeasured';
      return cause.pause === 'inconclusive' ? 'no-data' : cause.pause === 'marginal' ? 'marginal' : 'paused';
    case 'abort':
      return 'aborted';
    case 'error':
      return 'error';
    case 'cancelled':
      return 'cancelled';
    case 'rejected':
      return 'rejected';
    case 'approval-timeout':
      return 'approval-timeout';
  }
}

/** The analysis rule behind a stop, for every cause the analysis decided; undefined for the others. */
export function causeRule(cause: StopCause | undefined): DecisionRule | undefined {
  if (cause?.kind === 'critical') return 'critical';
  if (cause?.kind === 'failure-limit') return cause.rule ?? 'consecutive';
  if (cause?.kind === 'step-judgement') return cause.rule;
  return undefined;
}

/** From the first harm (or the decision to roll back) to the new version taking no traffic; null when not both. */
export function restoreMs(result: EnvironmentResult): number | null {
  if (!result.failingSince || !result.restoredAt) return null;
  return Math.max(0, Date.parse(result.restoredAt) - Date.parse(result.failingSince));
}

/** Time spent waiting for people to approve, over all environments. */
export function approvalWaitMs(results: readonly EnvironmentResult[]): number {
  return results.reduce((total, r) => {
    if (!r.approval?.decidedAt) return total;
    return total + Math.max(0, Date.parse(r.approval.decidedAt) - Date.parse(r.approval.requestedAt));
  }, 0);
}

/** The environment where the deploy stopped short of promotion: rolled back or failed there. */
export function stoppedEnvironment(results: readonly EnvironmentResult[]): EnvironmentResult | undefined {
  return results.find((r) => r.outcome === 'rolled-back' || r.outcome === 'failed');
}

/** Sample counts over all environments. */
export function totalSamples(results: readonly EnvironmentResult[]): SampleCounts {
  const total = emptySampleCounts();
  for (const r of results) {
    for (const key of Object.keys(total) as Exclude<keyof SampleCounts, 'warm-up'>[]) total[key] += r.samples[key];
    if (r.samples['warm-up']) total['warm-up'] = (total['warm-up'] ?? 0) + r.samples['warm-up'];
  }
  return total;
}

/** The per-environment facts of a status; empty for a status recorded before they existed. */
export function resultsOf(
  status: Pick<DeployStatus, 'results'> | Pick<DeployResult, 'environments'>,
): EnvironmentResult[] {
  return ('results' in status ? status.results : 'environments' in status ? status.environments : undefined) ?? [];
}

/**
 * The result a failed deploy carries in its failure (an ApplicationFailure of type DeployFailed, wrapped by a
 * ChildWorkflowFailure or a client's WorkflowFailedError), or undefined when the failure is of another kind.
 */
export function resultFromFailure(err: unknown): DeployResult | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type === ErrorType.DeployFailed) {
      const carried: unknown = e.details?.[0];
      return isDeployResult(carried) ? carried : undefined;
    }
  }
  return undefined;
}

function isDeployResult(value: unknown): value is DeployResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<DeployResult>;
  return typeof v.deployId === 'string' && typeof v.outcome === 'string' && typeof v.phase === 'string';
}

/** The details a PolicyRefused failure carries so the deploy records why, as a fact: `refusalDetails('loosening')`. */
export function refusalDetails(refusal: PolicyRefusal): { refusal: PolicyRefusal } {
  return { refusal };
}

/**
 * The stop cause of a failed operation: its error type and message, and for a PolicyRefused failure the refusal its
 * details name (one not in {@link POLICY_REFUSALS} is left out: anyone can complete an activity with any details).
 */
export function errorCause(err: unknown): Extract<StopCause, { kind: 'error' }> {
  const failure = applicationFailure(err);
  const carried: unknown = failure?.type === ErrorType.PolicyRefused ? failure.details?.[0] : undefined;
  const named =
    typeof carried === 'object' && carried !== null ? (carried as { refusal?: unknown }).refusal : undefined;
  const refusal = POLICY_REFUSALS.find((r) => r === named);
  return {
    kind: 'error',
    errorType: failure?.type ?? null,
    message: failureMessage(err),
    ...(refusal ? { refusal } : {}),
  };
}
