/**
 * The step's cost judgement (rules revision cost): cost per 1,000 requests of the canary against stable over the
 * step's whole window, both priced by the same source. Pure, like the rest of the judgement, so `analysis replay`
 * re-judges it from the recorded samples.
 */
import type { MetricsWindow } from '../analysis';
import { costSettingsOf, describeCost, type CostComparison, type CostSettings } from '../cost';
import type { DecidingCheck, StopCause } from '../deploy/status';

/** What one version cost over a step's samples: usage cost and the requests it was measured over. */
export interface CumulativeCost {
  /** Sum of the samples' usage cost, over the samples that had one. */
  usage: number;
  /** Requests of those samples: cost per request divides by these, never by requests whose cost is unknown. */
  requests: number;
  samples: number;
  source: string | null;
  currency: string | null;
  /** The last reason a sample's cost was not measured. */
  error?: string;
}

/** No cost gathered yet. */
export function noCost(): CumulativeCost {
  return { usage: 0, requests: 0, samples: 0, source: null, currency: null };
}

/** The cost with one more sample of the same version added. Pure. */
export function addCost(acc: CumulativeCost, w: MetricsWindow): CumulativeCost {
  if (w.cost && w.cost.usage !== null) {
    return {
      ...acc,
      usage: acc.usage + Math.max(0, w.cost.usage),
      requests: acc.requests + Math.max(0, w.requests),
      samples: acc.samples + 1,
      source: w.cost.source,
      currency: w.cost.currency,
    };
  }
  const error = w.costError ?? (w.cost ? `${w.cost.source} had no figure for ${w.version}` : undefined);
  return error ? { ...acc, error } : acc;
}

/** Cost per 1,000 requests, rounded to 6 significant digits; null without requests or cost. */
function per1k(c: CumulativeCost): number | null {
  if (c.samples === 0 || c.requests <= 0) return null;
  return Number(((1_000 * c.usage) / c.requests).toPrecision(6));
}

/**
 * The canary's cost per 1,000 requests against stable's. `increase` when the canary's is above stable's by more than
 * the tolerance; `unmeasured` (with the reason) when either side has no cost or no requests to divide it by.
 */
export function compareCost(
  canary: CumulativeCost,
  stable: CumulativeCost | null,
  config: { cost?: Partial<CostSettings> },
  minRequests: number,
): CostComparison {
  const settings = costSettingsOf(config);
  const canaryPer1k = per1k(canary);
  const stablePer1k = stable ? per1k(stable) : null;
  // As the error comparison: a side that served too little (stable at 100 %) has no cost per request to speak of.
  const tooFew = (who: string, c: CumulativeCost | null) =>
    c && c.samples > 0 && c.requests < minRequests
      ? `${who} served ${c.requests} requests with a cost, fewer than the ${minRequests} needed to compare`
      : undefined;
  const few = tooFew('the canary', canary) ?? tooFew('stable', stable);
  const base = {
    action: settings.onIncrease,
    source: canary.source ?? stable?.source ?? null,
    currency: canary.currency ?? stable?.currency ?? null,
    canaryPer1k,
    stablePer1k,
    limit: settings.increase,
  };
  if (canaryPer1k === null || stablePer1k === null || stablePer1k <= 0 || few) {
    const unmeasured =
      few ??
      canary.error ??
      stable?.error ??
      (!stable
        ? 'no stable version ran beside the canary'
        : canaryPer1k === null
          ? 'no sample of the canary had a cost'
          : 'no sample of stable had a cost');
    return { ...base, verdict: 'unmeasured', increase: null, unmeasured, ...(few ? { tooFewRequests: true } : {}) };
  }
  const increase = Number((canaryPer1k / stablePer1k - 1).toPrecision(6));
  return { ...base, verdict: increase > settings.increase ? 'increase' : 'ok', increase };
}

/** A cost comparison as the deciding check of a stop: the canary's figure, and the most it could cost. */
export function costDecidingCheck(c: CostComparison): DecidingCheck {
  return {
    metric: 'cost per 1k requests vs stable',
    kind: 'comparison',
    verdict: 'failing',
    value: c.canaryPer1k,
    limit: c.stablePer1k === null ? null : Number((c.stablePer1k * (1 + c.limit)).toPrecision(6)),
  };
}

/**
 * The cost impact of a release in an environment: the comparison of its last step judged with cost (the most traffic,
 * the latest figures); undefined where no step compared cost (rules before revision cost).
 */
export function costImpactOf(
  stepVerdicts: readonly { environment: string; cost?: CostComparison }[] | undefined,
  environment: string,
): CostComparison | undefined {
  return [...(stepVerdicts ?? [])].reverse().find((v) => v.environment === environment && v.cost)?.cost;
}

/** The step's cost comparison over its whole window so far. */
export function stepCost(
  step: { canary: { cost: CumulativeCost }; stable: { cost: CumulativeCost } | null; minRequests: number },
  config: { cost?: Partial<CostSettings> },
): CostComparison {
  return compareCost(step.canary.cost, step.stable?.cost ?? null, config, step.minRequests);
}

/** Whether the cost fails a step that passed otherwise: above the tolerance where cost fails. */
export function costFails(cost: CostComparison | undefined): cost is CostComparison {
  return cost?.verdict === 'increase' && cost.action === 'fail';
}

/** Whether a step that passed otherwise waits for a cost its analysis requires (never for stable's missing traffic). */
export function waitsForCost(cost: CostComparison | undefined, config: { cost?: Partial<CostSettings> }): boolean {
  return !!cost && costSettingsOf(config).required && cost.verdict === 'unmeasured' && !cost.tooFewRequests;
}

/** Why a step stopped on cost, for people: dearer than stable, or without the cost its analysis requires. */
export function costStopReason(at: string, cost: CostComparison | undefined): string {
  if (!cost) return `${at}: cost`;
  return cost.verdict === 'unmeasured'
    ? `${at} is inconclusive: its analysis requires cost, and by its max bake ${describeCost(cost)}`
    : `${at} costs more than stable over its whole window: ${describeCost(cost)}`;
}

/** The stop of a step that passed but for its cost. */
export function costCause(
  step: { step: number; weight: number },
  score: number | null,
  requests: number,
  cost: CostComparison,
): StopCause {
  return {
    kind: 'step-judgement',
    rule: 'cost',
    step: step.step,
    weight: step.weight,
    score,
    requests,
    checks: [costDecidingCheck(cost)],
    cost,
  };
}
