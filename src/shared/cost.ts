/**
 * What a release costs to serve, as the canary compares it (workflow-safe: types and pure functions only). A cost
 * source (src/activities/cost, configured on the worker) prices what each version used over a sample's window; the step's
 * whole window compares cost per 1,000 requests, canary against stable.
 */

/** One version's cost over one window, as the worker's cost source priced it. */
export interface CostFigures {
  /** The cost source, as people read it: its kind and where its figures came from ("usage × price sheet, Prometheus"). */
  source: string;
  currency: string;
  /**
   * Cost of what the version used in the window (CPU time, function GB-seconds, bandwidth, requests): it grows with
   * the traffic served, so cost per request is the release's own; null when the source had no figure.
   */
  usage: number | null;
  /**
   * Cost of what it held (memory, OpenCost's allocation): it follows the replicas the rollout runs, not the release,
   * so it is reported and never compared per request; null when not read or not priced.
   */
  capacity: number | null;
}

/** How a step's cost comparison came out: within the tolerance, above it, or not measured (never a failure alone). */
export type CostVerdict = 'ok' | 'increase' | 'unmeasured';

/** The step's whole window: cost per 1,000 requests of the canary against stable's, from the same source. */
export interface CostComparison {
  verdict: CostVerdict;
  /** What an increase does: `alert` tells people and lets the step pass; `fail` fails the step like any other check. */
  action: 'alert' | 'fail';
  source: string | null;
  currency: string | null;
  canaryPer1k: number | null;
  stablePer1k: number | null;
  /** canary / stable − 1 (0.4: 40 % dearer); null when either was not measured. */
  increase: number | null;
  /** The largest increase tolerated (0.2: +20 %). */
  limit: number;
  /** Why it was not measured, when it was not. */
  unmeasured?: string;
  /**
   * Not measured because a side served too few requests to divide its cost by (stable at 100 %, where nothing can be
   * compared), rather than for want of a cost: `cost.required` does not wait for these.
   */
  tooFewRequests?: boolean;
}

/** The analysis's `cost` settings with their defaults applied (left unset in a rollout, so older plans keep their hash). */
export interface CostSettings {
  increase: number;
  onIncrease: 'alert' | 'fail';
  required: boolean;
}

/** The spec's figure: an ALERT when infrastructure cost increases by more than 20 %. */
export const COST_DEFAULTS: CostSettings = { increase: 0.2, onIncrease: 'alert', required: false };

/** The cost settings of an analysis, defaults filled in. */
export function costSettingsOf(config: { cost?: Partial<CostSettings> }): CostSettings {
  return { ...COST_DEFAULTS, ...config.cost };
}

/** A money figure for people: enough significant digits for the tiny sums of one window (0.000123 USD). */
export function formatMoney(value: number | null, currency: string | null): string {
  if (value === null) return '–';
  const digits = value === 0 ? 0 : Math.max(2, Math.min(8, 2 - Math.floor(Math.log10(Math.abs(value)))));
  return `${value.toFixed(digits)} ${currency ?? ''}`.trim();
}

/** A cost comparison as one line: "cost per 1,000 requests 0.0031 USD vs stable 0.0022 USD (+41 %, limit +20 %) …". */
export function describeCost(c: CostComparison): string {
  if (c.verdict === 'unmeasured') {
    return `cost not measured${c.unmeasured ? `: ${c.unmeasured}` : ''} (never blocks unless the analysis requires it)`;
  }
  const change = c.increase === null ? '' : ` (${c.increase >= 0 ? '+' : ''}${Math.round(c.increase * 100)} %`;
  const above =
    c.verdict === 'increase'
      ? `, above the +${Math.round(c.limit * 100)} % tolerated`
      : `, limit +${Math.round(c.limit * 100)} %`;
  return (
    `cost per 1,000 requests ${formatMoney(c.canaryPer1k, c.currency)} vs stable ${formatMoney(c.stablePer1k, c.currency)}` +
    `${change}${change ? `${above})` : ''}, from ${c.source ?? 'no source'}`
  );
}
