/**
 * The canary judgement as pure functions of the configuration and the recorded measurements: the deploy workflow's
 * analysis loop calls {@link beginStep} and {@link observe} once per sample, and `judgeRun` (judge-run.ts) folds a whole run's
 * measurements through the same functions, so a finished deploy can be re-judged offline (with its own config or
 * another) and give exactly the verdicts the workflow gave.
 */
import type { AnalysisConfig } from '../analysis-config';
import type { DecisionRule, JudgedOutcome, MetricCheck, MetricsWindow, Verdict, WarmUpFact } from '../analysis';
import { describeChecks } from '../analysis';
import { asDecidingChecks, decidingChecks } from '../deploy/facts';
import type { RolloutEnvironment } from '../deploy/input';
import type { DecidingCheck, StopCause } from '../deploy/status';
import { countSample, noFailures, type FailureCounts } from './budget';
import { judgeWindow, type JudgedWindow } from './checks';
import { addSample, emptyWindow, totalsOf, type CumulativeWindow } from './cumulative';
import { JUDGEMENT_RULES, rulesOf } from './rules';
import { costCause, costFails, costStopReason, stepCost, waitsForCost } from './cost';
import type { CostComparison } from '../cost';
import { scoreStep } from './score';
import {
  describeWarmUp,
  noWarmUp,
  stepWarmsUp,
  warmUpFact,
  warmUpOf,
  warmUpOutcome,
  type WarmUpProgress,
} from './warm-up';

/** One interval's measurement as the workflow recorded it: what the provider answered, or that it could not. */
export interface Measurement {
  environment: string;
  /** Canary step index (0-based); -1 for a direct deploy's verification; 0 and 1 for blue-green's two windows. */
  step: number;
  weight: number;
  /** Milliseconds since the step began (workflow time) when the sample was judged. */
  elapsedMs: number;
  /** null: the sample could not be measured. */
  canary: MetricsWindow | null;
  stable: MetricsWindow | null;
  /** Why it could not be measured. */
  error?: string;
  /** The window measured, ending `elapsedMs` into the step; absent: the analysis interval. */
  windowMs?: number;
}

/** The environment settings the judgement reads: its analysis, the bakes of its steps, the revision of its rules. */
export type JudgedEnvironment = Pick<
  RolloutEnvironment,
  'name' | 'strategy' | 'steps' | 'verifyMs' | 'blueGreen' | 'analysis' | 'rules'
>;

/** One step's verdict on its whole window, beside the samples: for status, watch, the UI and summary.md. */
export interface StepVerdict {
  environment: string;
  step: number;
  weight: number;
  /**
   * `pending` while the step runs; `pass`; `marginal` (a score between marginal and pass: paused for a person);
   * `fail`; `inconclusive` (the max bake reached without the requests to judge).
   */
  verdict: 'pending' | 'pass' | 'marginal' | 'fail' | 'inconclusive';
  /** The rule that decided; absent while pending and on a pass. */
  rule?: DecisionRule;
  /** The cumulative window's score, 0 to 100; null until something could be judged. */
  score: number | null;
  /** The cumulative window's checks (empty while it has fewer than minStepRequests). */
  checks: MetricCheck[];
  samples: number;
  unmeasured: number;
  canaryRequests: number;
  stableRequests: number;
  elapsedMs: number;
  bakeMs: number;
  maxBakeMs: number;
  /** Requests the canary must serve in the step (minStepRequests). */
  minRequests: number;
  /** Who resumed the deploy after the step paused, accepting it. */
  acceptedBy?: string;
  /** Samples of the step's warm-up and their canary requests, measured and not judged (absent: none). */
  warmUp?: { samples: number; requests: number };
  /** Cost per 1,000 requests, canary against stable, over the step's window (rules revision cost). */
  cost?: CostComparison;
  /** For people, rendered from the fields above. */
  reason: string;
}

/** A sample that could not be measured, kept so a replay sees every measurement the workflow saw. */
export interface UnmeasuredSample {
  at: string;
  environment: string;
  step: number;
  weight: number;
  elapsedMs: number;
  reason: string;
}

/** What the judgement carries across samples and steps of one environment. */
export interface RunState {
  environment: string;
  counts: FailureCounts;
  /** The deciding checks of the last failing sample, for the cause of a budget or consecutive stop. */
  lastFailing: DecidingCheck[];
}

/** The environment being analysed, as status shows it. */
export interface AnalysisProgress extends RunState {
  step: StepVerdict;
}

/** What one step has gathered so far. */
export interface StepState {
  step: number;
  weight: number;
  bakeMs: number;
  maxBakeMs: number;
  /** Requests the canary must serve in the step before it can end. */
  minRequests: number;
  samples: number;
  unmeasured: number;
  canary: CumulativeWindow;
  stable: CumulativeWindow | null;
  /** The step's warm-up so far (samples in it stay out of the windows above). */
  warmUp: WarmUpProgress;
}

/** What the loop does after a sample. */
export type StepAction =
  | { action: 'continue' }
  /** The step passed: go on to the next. */
  | { action: 'pass' }
  /**
   * Pause for a person. `endsStep`: the step's judgement paused it (marginal score, or max bake), so resuming accepts
   * the step; otherwise data has been missing too long and resuming goes on sampling.
   */
  | {
      action: 'pause';
      cause: 'inconclusive' | 'marginal' | 'unmeasured';
      rule?: DecisionRule;
      endsStep: boolean;
      reason: string;
    }
  | { action: 'rollback'; cause: StopCause; reason: string };

/** One sample observed: what it was, what the step and the run look like now, and what to do. */
export interface Observation {
  run: RunState;
  step: StepState;
  /** The sample's own judgement; null when it could not be measured. */
  sample: JudgedWindow | null;
  outcome: JudgedOutcome;
  /** Present when the sample fell in its step's warm-up: it was not judged (but for a critical error rate). */
  warmUp?: WarmUpFact;
  verdict: StepVerdict;
  action: StepAction;
}

/** A new environment's run: no failures yet. */
export function beginRun(environment: string): RunState {
  return { environment, counts: noFailures(), lastFailing: [] };
}

/**
 * How long a step may wait for its requests: `maxBakeFactor` times its bake, and at least three samples beyond it (so
 * a step with no bake still gets a chance to see traffic).
 */
export function maxBakeMs(config: Pick<AnalysisConfig, 'maxBakeFactor' | 'interval'>, bakeMs: number): number {
  return Math.max(Math.round(bakeMs * config.maxBakeFactor), bakeMs + 3 * config.interval);
}

/** The bake of a step of an environment: a canary step's, a direct deploy's verify, blue-green's two windows. */
export function stepBakeMs(env: JudgedEnvironment, step: number): number {
  if (env.strategy === 'canary') return env.steps[step]?.bake ?? 0;
  if (env.strategy === 'blue-green') return step === 0 ? env.blueGreen.verifyMs : env.blueGreen.keepBlueMs;
  return env.verifyMs;
}

/**
 * The requests a step's canary must serve before the step can end: minStepRequests, or by default minRequests for
 * every sample its bake holds, so the step ends with as much traffic as judging each of its samples would need.
 */
export function stepMinRequests(
  config: Pick<AnalysisConfig, 'minStepRequests' | 'minRequests' | 'interval'>,
  bakeMs: number,
): number {
  return config.minStepRequests ?? config.minRequests * Math.max(1, Math.floor(bakeMs / config.interval));
}

/** A step beginning: nothing gathered yet. */
export function beginStep(
  config: Pick<AnalysisConfig, 'maxBakeFactor' | 'interval' | 'minStepRequests' | 'minRequests'>,
  step: number,
  weight: number,
  bakeMs: number,
): StepState {
  return {
    step,
    weight,
    bakeMs,
    maxBakeMs: maxBakeMs(config, bakeMs),
    minRequests: stepMinRequests(config, bakeMs),
    samples: 0,
    unmeasured: 0,
    canary: emptyWindow(),
    stable: null,
    warmUp: noWarmUp(),
  };
}

/** After a pause for missing data or measurement errors that a person resumed: those rows start again. */
export function resumeRun(run: RunState): RunState {
  const counts = { ...run.counts, consecutiveInconclusive: 0 };
  if (counts.consecutiveErrors !== undefined) counts.consecutiveErrors = 0;
  return { ...run, counts };
}

const WHAT = { failing: 'failing samples', unmeasured: 'samples that could not be measured' } as const;

function stopReason(verdict: StepVerdict, rule: DecisionRule, config: AnalysisConfig): string {
  const at = `step at ${verdict.weight} %`;
  const score = verdict.score === null ? 'no score' : `score ${verdict.score}`;
  switch (rule) {
    case 'cumulative-threshold':
      return `${at} failed over its whole window (${verdict.canaryRequests} requests): ${verdict.reason}`;
    case 'comparison':
      return `${at} is worse than stable over its whole window (${verdict.canaryRequests} requests): ${verdict.reason}`;
    case 'score':
      return `${at}: ${score}, ${verdict.verdict === 'marginal' ? `below pass ${config.score.pass}` : `below marginal ${config.score.marginal}`}: ${verdict.reason}`;
    case 'max-bake':
      return (
        `${at} is inconclusive: ${verdict.canaryRequests} requests after ${Math.round(verdict.elapsedMs / 1000)} s, ` +
        `fewer than the ${verdict.minRequests} needed to judge it by its max bake`
      );
    case 'cost':
      return costStopReason(at, verdict.cost);
    default:
      return verdict.reason;
  }
}

function describeVerdict(
  verdict: Pick<StepVerdict, 'verdict' | 'score' | 'checks' | 'canaryRequests' | 'minRequests'>,
  worst: Verdict,
): string {
  if (verdict.checks.length === 0) {
    return `${verdict.canaryRequests} requests so far, ${verdict.minRequests} needed to judge the step`;
  }
  const score = verdict.score === null ? '' : `score ${verdict.score}: `;
  return `${score}${describeChecks(verdict.checks, worst, verdict.canaryRequests)}`;
}

/**
 * Folds one measurement into the step and the run and says what to do. The per-sample rules come first (critical at
 * once; `consecutiveFailureLimit` failing or unmeasurable samples in a row, or `failureLimit` in the run; missing data
 * `inconclusiveLimit` in a row pauses). Then the step's whole window: once the bake has passed and the canary has
 * served `minStepRequests` in the step, the window is judged (thresholds, the comparison with stable, the score) and
 * the step passes, pauses for a person (marginal) or rolls back; past the max bake without them the step is
 * inconclusive and `onInconclusive` applies. Pure: the arguments are not changed.
 */
export function observe(env: JudgedEnvironment, run: RunState, step: StepState, m: Measurement): Observation {
  const config = env.analysis;
  const rules = rulesOf(env);
  const judged = m.canary ? judgeWindow(m.canary, m.stable, config, 'sample', config.minRequests, rules) : null;
  const warmUp =
    m.canary && judged && stepWarmsUp(env, step.step)
      ? warmUpFact(
          warmUpOf(config),
          step.warmUp,
          { elapsedMs: m.elapsedMs, windowMs: m.windowMs ?? config.interval },
          judged,
        )
      : undefined;
  const sample = judged && warmUp ? { ...judged, reason: describeWarmUp(warmUp, judged.reason) } : judged;
  const outcome: JudgedOutcome = !sample ? 'unmeasured' : warmUp ? warmUpOutcome(sample) : sample.verdict;
  const served = { ...step.warmUp, served: step.warmUp.served + (m.canary?.requests ?? 0) };
  const nextStep: StepState = !m.canary
    ? { ...step, unmeasured: step.unmeasured + 1 }
    : warmUp
      ? { ...step, warmUp: { ...served, samples: served.samples + 1, requests: served.requests + m.canary.requests } }
      : {
          ...step,
          samples: step.samples + 1,
          canary: addSample(step.canary, m.canary),
          stable: m.stable ? addSample(step.stable ?? emptyWindow(), m.stable) : step.stable,
          warmUp: served,
        };
  const counted = countSample(outcome, sample?.lowTraffic ?? false, run.counts, config, rules);
  const nextRun: RunState = {
    environment: run.environment,
    counts: counted.counts,
    lastFailing: sample && outcome === 'failing' ? decidingChecks(sample) : run.lastFailing,
  };

  const window = judgeWindow(
    totalsOf(nextStep.canary),
    nextStep.stable ? totalsOf(nextStep.stable) : null,
    config,
    'step',
    step.minRequests,
    rules,
  );
  const scored = window.lowTraffic ? null : scoreStep(window.checks, config);
  const base: StepVerdict = {
    environment: m.environment,
    step: step.step,
    weight: step.weight,
    verdict: 'pending',
    score: scored?.score ?? null,
    checks: window.checks,
    samples: nextStep.samples,
    unmeasured: nextStep.unmeasured,
    canaryRequests: nextStep.canary.requests,
    stableRequests: nextStep.stable?.requests ?? 0,
    elapsedMs: m.elapsedMs,
    bakeMs: step.bakeMs,
    maxBakeMs: step.maxBakeMs,
    minRequests: step.minRequests,
    ...(nextStep.warmUp.samples > 0
      ? { warmUp: { samples: nextStep.warmUp.samples, requests: nextStep.warmUp.requests } }
      : {}),
    reason: '',
  };
  const cost = rules >= JUDGEMENT_RULES.cost ? stepCost(nextStep, config) : undefined;
  if (cost) base.cost = cost;
  base.reason = describeVerdict(base, window.verdict);
  const done = (verdict: StepVerdict, action: StepAction): Observation => ({
    run: nextRun,
    step: nextStep,
    sample,
    outcome,
    ...(warmUp ? { warmUp } : {}),
    verdict,
    action,
  });
  const sampleReason = sample?.reason ?? m.error ?? 'could not be measured';

  const decision = counted.decision;
  if (decision.action !== 'continue' && decision.rule === 'measurement-errors') {
    const { errors, limit } = decision;
    const reason = `${errors} samples in a row could not be measured (consecutiveErrorLimit ${limit}): ${sampleReason}`;
    if (decision.action === 'pause') {
      return done(base, { action: 'pause', cause: 'unmeasured', rule: 'measurement-errors', endsStep: false, reason });
    }
    const cause: StopCause = {
      kind: 'failure-limit',
      rule: 'measurement-errors',
      failing: 0,
      unmeasured: errors,
      limit,
      checks: [],
    };
    return done({ ...base, verdict: 'fail', rule: 'measurement-errors' }, { action: 'rollback', cause, reason });
  }
  if (decision.action === 'rollback') {
    const verdict: StepVerdict = { ...base, verdict: 'fail', rule: decision.rule };
    if (decision.rule === 'critical') {
      const cause: StopCause = { kind: 'critical', rule: 'critical', checks: sample ? decidingChecks(sample) : [] };
      return done(verdict, { action: 'rollback', cause, reason: `critical: ${sampleReason}` });
    }
    const { failing, unmeasured, limit, rule } = decision;
    const what = outcome === 'failing' ? WHAT.failing : WHAT.unmeasured;
    const n = failing + unmeasured;
    const reason =
      rule === 'consecutive'
        ? `${n} ${what} in a row (limit ${limit}): ${sampleReason}`
        : `${n} failing or unmeasurable samples in this run of ${env.name} (failureLimit ${limit}; ${failing} failing, ` +
          `${unmeasured} unmeasured): ${sampleReason}`;
    const cause: StopCause = { kind: 'failure-limit', rule, failing, unmeasured, limit, checks: nextRun.lastFailing };
    return done(verdict, { action: 'rollback', cause, reason });
  }
  if (decision.action === 'pause') {
    const reason = `${decision.inconclusive} inconclusive samples in a row (limit ${decision.limit}): ${sampleReason}`;
    return done(base, { action: 'pause', cause: 'inconclusive', endsStep: false, reason });
  }

  const baked = m.elapsedMs >= step.bakeMs;
  const judgeable = scored !== null && scored.verdict !== 'inconclusive';
  const costWait = waitsForCost(cost, config);
  if (baked && judgeable && !(scored.verdict === 'pass' && costWait)) {
    if (scored.verdict === 'pass' && costFails(cost)) {
      const verdict: StepVerdict = { ...base, verdict: 'fail', rule: 'cost' };
      const cause = costCause(step, scored.score, nextStep.canary.requests, cost);
      return done(verdict, { action: 'rollback', cause, reason: stopReason(verdict, 'cost', config) });
    }
    if (scored.verdict === 'pass') return done({ ...base, verdict: 'pass' }, { action: 'pass' });
    const rule = scored.rule ?? 'score';
    const verdict: StepVerdict = { ...base, verdict: scored.verdict === 'marginal' ? 'marginal' : 'fail', rule };
    const reason = stopReason(verdict, rule, config);
    if (scored.verdict === 'marginal') {
      return done(verdict, { action: 'pause', cause: 'marginal', rule, endsStep: true, reason });
    }
    const cause: StopCause = {
      kind: 'step-judgement',
      rule,
      step: step.step,
      weight: step.weight,
      score: scored.score,
      requests: nextStep.canary.requests,
      checks: asDecidingChecks(scored.deciding),
    };
    return done(verdict, { action: 'rollback', cause, reason });
  }
  if (m.elapsedMs >= step.maxBakeMs) {
    // Judgeable but for the cost its analysis requires: inconclusive on cost, not on traffic.
    const rule = baked && judgeable && costWait ? 'cost' : 'max-bake';
    const verdict: StepVerdict = { ...base, verdict: 'inconclusive', rule };
    const reason = stopReason(verdict, rule, config);
    if (config.onInconclusive === 'pause') {
      return done(verdict, { action: 'pause', cause: 'inconclusive', rule, endsStep: true, reason });
    }
    const cause: StopCause = {
      kind: 'step-judgement',
      rule,
      step: step.step,
      weight: step.weight,
      score: scored?.score ?? null,
      requests: nextStep.canary.requests,
      checks: [],
      ...(rule === 'cost' && cost ? { cost } : {}),
    };
    return done(verdict, { action: 'rollback', cause, reason });
  }
  return done(base, { action: 'continue' });
}
