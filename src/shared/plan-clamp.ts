import type { EnvironmentPlan } from './deploy';
import { formatDuration } from './duration';

/** The effective environments after the clamp, and one line for each change the clamp made. */
export interface ClampResult {
  environments: EnvironmentPlan[];
  adjustments: string[];
}

/** Thresholds tighter than this share of the configured one roll back healthy releases on noise. */
const TIGHTEST_SHARE = 0.25;

function tighten(
  env: string,
  field: string,
  proposed: number,
  configured: number,
  notes: string[],
  format: (n: number) => string = String,
) {
  if (proposed > configured) {
    notes.push(
      `${env}: ${field} ${format(proposed)} is looser than the configured ${format(configured)}; kept ${format(configured)}`,
    );
    return configured;
  }
  const floor = configured * TIGHTEST_SHARE;
  if (proposed < floor) {
    notes.push(
      `${env}: ${field} ${format(proposed)} is tighter than a quarter of the configured value; used ${format(floor)}`,
    );
    return floor;
  }
  return proposed;
}

/** A deep copy; EnvironmentPlan is plain JSON. */
const copy = (env: EnvironmentPlan): EnvironmentPlan => JSON.parse(JSON.stringify(env)) as EnvironmentPlan;

const pct = (n: number) => `${Math.round(n * 10_000) / 100} %`;

function clampSteps(configured: EnvironmentPlan, proposed: EnvironmentPlan, notes: string[]) {
  const want = configured.steps;
  const got = proposed.steps;
  const name = configured.name;
  const refuse = (why: string) => {
    notes.push(`${name}: ${why}; kept the configured canary steps`);
    return want;
  };
  if (got.length < want.length)
    return refuse(`${got.length} canary steps are fewer than the configured ${want.length}`);
  if (got.some((s, i) => i > 0 && s.weight <= (got[i - 1]?.weight ?? 0)))
    return refuse('canary weights do not increase');
  if (got.some((s) => !Number.isInteger(s.weight) || s.weight < 1 || s.weight > 100)) {
    return refuse('a canary weight is outside 1..100');
  }
  const firstWant = want[0]?.weight ?? 100;
  if ((got[0]?.weight ?? 100) > firstWant) {
    return refuse(
      `the first canary step sends ${got[0]?.weight} % of traffic, more than the configured ${firstWant} %`,
    );
  }
  const lastWant = want[want.length - 1]?.weight ?? 100;
  if ((got[got.length - 1]?.weight ?? 0) < lastWant) {
    return refuse(`the last canary step stops below the configured ${lastWant} %`);
  }
  const shortest = Math.min(...want.map((s) => s.bake));
  const steps = got.map((s) => {
    if (s.bake >= shortest) return { ...s };
    notes.push(
      `${name}: bake of ${formatDuration(s.bake)} at ${s.weight} % is shorter than the configured minimum; used ${formatDuration(shortest)}`,
    );
    return { weight: s.weight, bake: shortest };
  });
  const total = (list: { bake: number }[]) => list.reduce((sum, s) => sum + s.bake, 0);
  if (total(steps) < total(want)) {
    return refuse(
      `a total bake of ${formatDuration(total(steps))} is shorter than the configured ${formatDuration(total(want))}`,
    );
  }
  return steps;
}

function clampEnvironment(configured: EnvironmentPlan, proposed: EnvironmentPlan, notes: string[]): EnvironmentPlan {
  const name = configured.name;
  if (proposed.strategy !== configured.strategy) {
    notes.push(
      `${name}: strategy ${proposed.strategy} differs from the configured ${configured.strategy}; kept ${configured.strategy}`,
    );
  }
  if (configured.approval.required && !proposed.approval.required) {
    notes.push(`${name}: the plan dropped the required approval; kept it`);
  }
  const approval = {
    ...configured.approval,
    allowSelfApproval: configured.approval.allowSelfApproval && proposed.approval.allowSelfApproval,
  };
  if (!configured.approval.allowSelfApproval && proposed.approval.allowSelfApproval) {
    notes.push(`${name}: the plan allowed self-approval; kept it forbidden`);
  }
  let verifyMs = proposed.verifyMs;
  if (verifyMs < configured.verifyMs) {
    notes.push(
      `${name}: verification of ${formatDuration(verifyMs)} is shorter than the configured ${formatDuration(configured.verifyMs)}; kept ${formatDuration(configured.verifyMs)}`,
    );
    verifyMs = configured.verifyMs;
  }
  const a = configured.analysis;
  const p = proposed.analysis;
  const ms = (n: number) => formatDuration(n);
  const errorWarn = tighten(name, 'error-rate warn', p.errorRate.warn, a.errorRate.warn, notes, pct);
  const errorCritical = tighten(name, 'error-rate critical', p.errorRate.critical, a.errorRate.critical, notes, pct);
  const latencyWarn = tighten(name, 'p95 warn', p.latencyP95.warn, a.latencyP95.warn, notes, ms);
  const latencyCritical = tighten(name, 'p95 critical', p.latencyP95.critical, a.latencyP95.critical, notes, ms);
  let minRequests = Math.round(p.minRequests);
  if (minRequests < a.minRequests) {
    notes.push(
      `${name}: ${minRequests} requests per sample is fewer than the configured ${a.minRequests}; kept ${a.minRequests}`,
    );
    minRequests = a.minRequests;
  }
  const limit = (field: 'failureLimit' | 'inconclusiveLimit') => {
    const value = Math.max(1, Math.round(p[field]));
    if (value > a[field]) {
      notes.push(`${name}: ${field} ${value} is more lenient than the configured ${a[field]}; kept ${a[field]}`);
      return a[field];
    }
    return value;
  };
  const p99 =
    a.latencyP99 && p.latencyP99
      ? {
          critical: tighten(name, 'p99 critical', p.latencyP99.critical, a.latencyP99.critical, notes, ms),
          warn: tighten(name, 'p99 warn', p.latencyP99.warn, a.latencyP99.warn, notes, ms),
        }
      : a.latencyP99;
  // Everything the clamp does not name (strategy, provider, custom metrics, comparison) stays as configured.
  const effective = copy(configured);
  return {
    ...effective,
    approval,
    steps: configured.strategy === 'canary' ? clampSteps(configured, proposed, notes) : effective.steps,
    verifyMs,
    analysis: {
      ...effective.analysis,
      // The sampling interval stays as configured: it sets the window every threshold was chosen for.
      interval: a.interval,
      minRequests,
      failureLimit: limit('failureLimit'),
      inconclusiveLimit: limit('inconclusiveLimit'),
      errorRate: { warn: Math.min(errorWarn, errorCritical), critical: errorCritical },
      latencyP95: { warn: Math.min(latencyWarn, latencyCritical), critical: latencyCritical },
      ...(p99 ? { latencyP99: { warn: Math.min(p99.warn, p99.critical), critical: p99.critical } } : {}),
    },
  };
}

/**
 * The safety clamp: a plan may tighten the configured bounds but never loosen them. No fewer canary
 * steps, no larger first step, no shorter bake, no higher thresholds, no fewer requests per sample,
 * no dropped approval; environments keep the configured order and set. Pure and total: any proposal
 * gives a valid result, and the configured environments pass through unchanged.
 */
export function clampPlan(configured: EnvironmentPlan[], proposed: EnvironmentPlan[] | undefined): ClampResult {
  const adjustments: string[] = [];
  if (!proposed) return { environments: configured.map((e) => copy(e)), adjustments };
  for (const p of proposed) {
    if (!configured.some((c) => c.name === p.name)) adjustments.push(`${p.name}: not in the pipeline; ignored`);
  }
  const environments = configured.map((c) => {
    const p = proposed.find((e) => e.name === c.name);
    return p ? clampEnvironment(c, p, adjustments) : copy(c);
  });
  return { environments, adjustments };
}
