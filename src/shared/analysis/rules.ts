/**
 * The revisions of the judgement's rules. A deploy fixes the revision it is judged by when it plans, and records it on
 * each environment of its rollout (`rules`): a deploy in flight across an upgrade of opsflow keeps the rules it began
 * with, and `analysis replay` re-judges a recorded deploy by the rules it ran under. Absent: the first revision.
 */
export const JUDGEMENT_RULES = {
  /** A sample that cannot be measured counts toward the failure budgets, as a failing one does. */
  original: 1,
  /**
   * Measurement errors (the provider or platform unreachable, a query failed) are kept apart from evidence about the
   * canary: they count on their own limit, `consecutiveErrorLimit` in a row, whose action is `onMeasurementErrors`
   * (a pause for a person by default), and never as failing samples.
   */
  errorsApart: 2,
  /**
   * Latency judged without crying wolf (issue 24): a canary's first samples after each step begins are its warm-up,
   * measured and recorded but not judged (`warmUp`); Mann–Whitney's exact conditional test where few requests lie
   * outside the most common bucket; a latency quantile past a threshold (or stable's tolerance) only when significantly
   * more requests than it allows are slower (a Wilson bound on the share above).
   */
  latencyConfidence: 3,
  /**
   * Cost judged with the rest (issue 22): each sample measures what each version cost from the worker's cost source,
   * and the step's whole window compares cost per 1,000 requests, canary against stable: above `cost.increase` is a
   * finding that alerts, and fails the step where `cost.onIncrease` is fail. Cost not measured never blocks, unless
   * `cost.required`.
   */
  cost: 4,
} as const;

export type JudgementRules = (typeof JUDGEMENT_RULES)[keyof typeof JUDGEMENT_RULES];

/** The rules a deploy planned now is judged by. */
export const LATEST_RULES: JudgementRules = JUDGEMENT_RULES.cost;

/** The revision an environment of a recorded rollout was judged by. */
export function rulesOf(env: { rules?: number }): number {
  return env.rules ?? JUDGEMENT_RULES.original;
}
