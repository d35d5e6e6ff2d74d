import type { AnalysisConfig } from '../analysis-config';
import type { MetricCheck } from '../analysis';

/** The rule of the cumulative judgement that decided a step, when one did. */
export type StepRule = 'cumulative-threshold' | 'comparison' | 'score';

/** What the cumulative window of a step says: pass, pause for a person (marginal), roll back, or nothing yet. */
export interface StepScore {
  /** 0 to 100; null when no check could be judged. */
  score: number | null;
  verdict: 'pass' | 'marginal' | 'fail' | 'inconclusive';
  /** Absent on a pass. */
  rule?: StepRule;
  /** The checks that decided a fail or a marginal score. */
  deciding: MetricCheck[];
}

/** Credit of a check's verdict in the score: a warning is half a pass. */
const CREDIT = { healthy: 1, warning: 0.5, failing: 0, critical: 0 } as const;

/** The comparison that covers a threshold's metric, whose verdict then speaks for the canary on that metric. */
const COMPARED: Record<string, string> = {
  errorRate: 'errorRate vs stable',
  latencyP95: 'latencyP95 vs stable',
};

/**
 * A threshold warning that stable shares is not the canary's: when the comparison on the same metric clears the
 * canary, the warning is full credit (a shared downstream problem raises both versions).
 */
function credit(check: MetricCheck, checks: readonly MetricCheck[]): number | null {
  if (check.verdict === 'skipped' || check.verdict === 'inconclusive') return null;
  if (check.kind === 'threshold' && check.verdict === 'warning') {
    const comparison = checks.find((c) => c.metric === COMPARED[check.metric]);
    if (comparison?.verdict === 'healthy') return 1;
  }
  return CREDIT[check.verdict];
}

/**
 * The score of a step's cumulative window, as Kayenta reports one: the share of checks that pass (each weighs one; a
 * warning counts half, a threshold warning stable shares counts whole), from 0 to 100; null when nothing could be
 * judged. Kayenta's "critical" metrics are the hard rules here, which fail the step whatever the score: a threshold
 * crossed at critical (or a custom metric's warn level) over the whole window, or a comparison with stable that
 * fails. Otherwise at or above `pass` the step passes, from `marginal` it pauses for a person, below it fails.
 */
export function scoreStep(checks: readonly MetricCheck[], config: Pick<AnalysisConfig, 'score'>): StepScore {
  const credits = checks.map((c) => credit(c, checks));
  const judged = credits.filter((c): c is number => c !== null);
  const score = judged.length ? Math.round((1000 * judged.reduce((a, b) => a + b, 0)) / judged.length) / 10 : null;
  const thresholds = checks.filter(
    (c) => c.kind === 'threshold' && (c.verdict === 'critical' || c.verdict === 'failing'),
  );
  if (thresholds.length) return { score, verdict: 'fail', rule: 'cumulative-threshold', deciding: thresholds };
  const comparisons = checks.filter((c) => c.kind === 'comparison' && c.verdict === 'failing');
  if (comparisons.length) return { score, verdict: 'fail', rule: 'comparison', deciding: comparisons };
  if (score === null) return { score, verdict: 'inconclusive', deciding: [] };
  if (score >= config.score.pass) return { score, verdict: 'pass', deciding: [] };
  const deciding = checks.filter((_, i) => (credits[i] ?? 1) < 1);
  return { score, verdict: score < config.score.marginal ? 'fail' : 'marginal', rule: 'score', deciding };
}
