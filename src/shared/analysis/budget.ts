import { MEASUREMENT_ERROR_DEFAULTS, type AnalysisConfig } from '../analysis-config';
import type { JudgedOutcome } from '../analysis';
import { JUDGEMENT_RULES } from './rules';

/** The failure counts of one environment's run, carried from sample to sample and from step to step. */
export interface FailureCounts {
  /** Failing and unmeasurable samples of the whole run (the budget, failureLimit). */
  failures: number;
  /** Of those, how many could not be measured. */
  unmeasured: number;
  /** Failing and unmeasurable samples in a row (consecutiveFailureLimit): a healthy or warning sample ends the row. */
  consecutiveFailures: number;
  consecutiveUnmeasured: number;
  /** Samples in a row without the data to judge (for want of traffic aside). */
  consecutiveInconclusive: number;
  /**
   * Under the rules that keep measurement errors apart: samples of the run that could not be measured, and how many in
   * a row (any measured sample ends the row). Absent from a status recorded before those rules.
   */
  errors?: number;
  consecutiveErrors?: number;
}

/** No sample yet. */
export function noFailures(): FailureCounts {
  return {
    failures: 0,
    unmeasured: 0,
    consecutiveFailures: 0,
    consecutiveUnmeasured: 0,
    consecutiveInconclusive: 0,
    errors: 0,
    consecutiveErrors: 0,
  };
}

/** The settings the budgets read. */
export type BudgetConfig = Pick<
  AnalysisConfig,
  'failureLimit' | 'consecutiveFailureLimit' | 'inconclusiveLimit' | 'consecutiveErrorLimit' | 'onMeasurementErrors'
>;

/** The measurement-error limit and its action, with their defaults where the config leaves them unset. */
export function measurementErrorLimit(config: BudgetConfig): { limit: number; action: 'pause' | 'rollback' } {
  return {
    limit: config.consecutiveErrorLimit ?? MEASUREMENT_ERROR_DEFAULTS.consecutiveErrorLimit,
    action: config.onMeasurementErrors ?? MEASUREMENT_ERROR_DEFAULTS.onMeasurementErrors,
  };
}

/** What one sample does to the run, by the per-sample rules. */
export type BudgetDecision =
  | { action: 'continue' }
  | { action: 'rollback'; rule: 'critical' }
  | { action: 'rollback'; rule: 'consecutive' | 'budget'; failing: number; unmeasured: number; limit: number }
  | { action: 'pause'; rule: 'inconclusive'; inconclusive: number; limit: number }
  | { action: 'pause' | 'rollback'; rule: 'measurement-errors'; errors: number; limit: number };

/**
 * Folds one sample into the run's counts by the given revision of the rules (src/shared/analysis/rules.ts). From
 * `errorsApart` on, a sample that could not be measured is no evidence about the canary: it counts only on the
 * measurement-error limit (`consecutiveErrorLimit` in a row applies `onMeasurementErrors`), neither ends nor adds to a
 * row of failures, and any measured sample ends the row of errors. The first revision counts it as a failing sample.
 * A sample in the canary's warm-up (from `latencyConfidence`) counts on nothing.
 */
export function countSample(
  outcome: JudgedOutcome,
  lowTraffic: boolean,
  counts: FailureCounts,
  config: BudgetConfig,
  rules: number,
): { counts: FailureCounts; decision: BudgetDecision } {
  // A warm-up sample (only from latencyConfidence) is measured, so it ends a row of errors, and is no evidence.
  if (outcome === 'warm-up') return { counts: { ...counts, consecutiveErrors: 0 }, decision: { action: 'continue' } };
  if (rules < JUDGEMENT_RULES.errorsApart) return countEvidence(outcome, lowTraffic, counts, config);
  if (outcome !== 'unmeasured') {
    return countEvidence(outcome, lowTraffic, { ...counts, consecutiveErrors: 0 }, config);
  }
  const consecutiveErrors = (counts.consecutiveErrors ?? 0) + 1;
  const next: FailureCounts = { ...counts, errors: (counts.errors ?? 0) + 1, consecutiveErrors };
  const { limit, action } = measurementErrorLimit(config);
  if (consecutiveErrors >= limit) {
    return { counts: next, decision: { action, rule: 'measurement-errors', errors: consecutiveErrors, limit } };
  }
  return { counts: next, decision: { action: 'continue' } };
}

/**
 * Folds one sample into the run's counts as evidence. Critical rolls back at once. A failing sample (and, by the first
 * revision of the rules, an unmeasurable one) counts toward both budgets: `consecutiveFailureLimit` in a row, or `failureLimit` in the whole run, rolls back, whichever comes
 * first. A healthy or warning sample ends a row of failures; an inconclusive one neither ends it nor adds to it, and
 * never touches the run's count. Inconclusive samples for want of traffic are the step's business (it waits for its
 * requests, up to its max bake); other inconclusive samples (data missing) `inconclusiveLimit` in a row pause.
 */
function countEvidence(
  outcome: Exclude<JudgedOutcome, 'warm-up'>,
  lowTraffic: boolean,
  counts: FailureCounts,
  config: BudgetConfig,
): { counts: FailureCounts; decision: BudgetDecision } {
  switch (outcome) {
    case 'critical':
      return { counts, decision: { action: 'rollback', rule: 'critical' } };
    case 'failing':
    case 'unmeasured': {
      const unmeasured = outcome === 'unmeasured' ? 1 : 0;
      const next: FailureCounts = {
        ...counts,
        failures: counts.failures + 1,
        unmeasured: counts.unmeasured + unmeasured,
        consecutiveFailures: counts.consecutiveFailures + 1,
        consecutiveUnmeasured: counts.consecutiveUnmeasured + unmeasured,
        consecutiveInconclusive: 0,
      };
      if (next.consecutiveFailures >= config.consecutiveFailureLimit) {
        const { consecutiveFailures: n, consecutiveUnmeasured: u } = next;
        return {
          counts: next,
          decision: {
            action: 'rollback',
            rule: 'consecutive',
            failing: n - u,
            unmeasured: u,
            limit: config.consecutiveFailureLimit,
          },
        };
      }
      if (next.failures >= config.failureLimit) {
        return {
          counts: next,
          decision: {
            action: 'rollback',
            rule: 'budget',
            failing: next.failures - next.unmeasured,
            unmeasured: next.unmeasured,
            limit: config.failureLimit,
          },
        };
      }
      return { counts: next, decision: { action: 'continue' } };
    }
    case 'inconclusive': {
      if (lowTraffic) return { counts, decision: { action: 'continue' } };
      const next = { ...counts, consecutiveInconclusive: counts.consecutiveInconclusive + 1 };
      if (next.consecutiveInconclusive >= config.inconclusiveLimit) {
        return {
          counts: next,
          decision: {
            action: 'pause',
            rule: 'inconclusive',
            inconclusive: next.consecutiveInconclusive,
            limit: config.inconclusiveLimit,
          },
        };
      }
      return { counts: next, decision: { action: 'continue' } };
    }
    case 'warning':
    case 'healthy':
      return {
        counts: { ...counts, consecutiveFailures: 0, consecutiveUnmeasured: 0, consecutiveInconclusive: 0 },
        decision: { action: 'continue' },
      };
  }
}
