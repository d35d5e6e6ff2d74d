/**
 * The canary judgement as pure functions of the configuration and the recorded measurements: the deploy workflow's
 * analysis loop calls {@link beginStep} and {@link observe} once per sample, and {@link judgeRun} folds a whole run's
 * measurements through the same functions, so a finished deploy can be re-judged offline (with its own config or
 * another) and give exactly the verdicts the workflow gave.
 */
import type { AnalysisConfig } from '../analysis-config';
import type { DecisionRule, JudgedOutcome, MetricCheck, MetricsWindow, Verdict, WarmUpFact } from '../analysis';
import { describeChecks } from '../analysis';
import { asDecidingChecks, decidingChecks } from '../deploy/facts';
import type { RolloutEnvironment } from '../deploy/input';
import type { DecidingCheck, DeployStatus, StopCause } from '../deploy/status';
import { countSample, noFailures, type FailureCounts } from './budget';
import { judgeWindow, type JudgedWindow } from './checks';
import { addSample, emptyWindow, totalsOf, type CumulativeWindow } from './cumulative';
import { rulesOf } from './rules';
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
  if (baked && judgeable) {
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
    const verdict: StepVerdict = { ...base, verdict: 'inconclusive', rule: 'max-bake' };
    const reason = stopReason(verdict, 'max-bake', config);
    if (config.onInconclusive === 'pause') {
      return done(verdict, { action: 'pause', cause: 'inconclusive', rule: 'max-bake', endsStep: true, reason });
    }
    const cause: StopCause = {
      kind: 'step-judgement',
      rule: 'max-bake',
      step: step.step,
      weight: step.weight,
      score: scored?.score ?? null,
      requests: nextStep.canary.requests,
      checks: [],
    };
    return done(verdict, { action: 'rollback', cause, reason });
  }
  return done(base, { action: 'continue' });
}

/** What the rules said at one recorded measurement. */
export interface SampleVerdict {
  /** Index into the measurements given. */
  index: number;
  environment: string;
  step: number;
  /** The sample's own verdict; `unmeasured` when it could not be measured, `warm-up` when not judged. */
  outcome: JudgedOutcome;
  /** What the loop would do after it; `skipped` when an earlier decision had already ended its step or its run. */
  action: StepAction['action'] | 'skipped';
  /** The rule behind a pause or a rollback. */
  rule?: DecisionRule;
  reason: string;
}

/** How the judgement leaves one environment. */
export interface EnvironmentVerdict {
  environment: string;
  /**
   * `promoted`: its last step passed (or a person accepted it); `rolled-back` with the cause; `paused`: it ended
   * waiting for a person; `unfinished`: the measurements ran out before the rules decided (these rules would have
   * waited longer than the recorded run did).
   */
  outcome: 'promoted' | 'rolled-back' | 'paused' | 'unfinished';
  cause?: StopCause;
  reason?: string;
}

/** A whole run re-judged. */
export interface RunJudgement {
  samples: SampleVerdict[];
  /** The verdict of every step met, in order; a step whose measurements ran out first stays `pending`. */
  steps: StepVerdict[];
  environments: EnvironmentVerdict[];
}

function stepCount(env: JudgedEnvironment): number {
  if (env.strategy === 'canary') return env.steps.length;
  if (env.strategy === 'blue-green') return env.blueGreen.keepBlueMs > 0 ? 2 : 1;
  return 1;
}

function lastStepIndex(env: JudgedEnvironment): number {
  return env.strategy === 'direct' ? -1 : stepCount(env) - 1;
}

function actionRule(action: StepAction): DecisionRule | undefined {
  if (action.action === 'pause') return action.rule;
  if (action.action === 'rollback') {
    const { cause } = action;
    if (cause.kind === 'critical') return 'critical';
    if (cause.kind === 'failure-limit') return cause.rule ?? 'consecutive';
    if (cause.kind === 'step-judgement') return cause.rule;
  }
  return undefined;
}

/**
 * Re-judges a finished (or running) deploy from its recorded measurements with the given settings: the same
 * functions as the workflow's loop, so with the settings the deploy ran with, the verdicts are the ones it gave (the
 * replay test checks this on a committed history).
 *
 * - `rollout`: the environments as they ran (`status.rollout`), or the same ones with other analysis settings (to
 *   see where other thresholds would have decided otherwise). Only `analysis` and the step bakes are read.
 * - `measurements`: every sample in the order taken, measured or not. {@link measurementsOf} reads them from a
 *   deploy's status: the `statusQuery` of the workflow, or, offline, the status a finished deploy hands its
 *   `writeHandoffReport` activity (the input of that activity's last ActivityTaskScheduled event in its history).
 *
 * Measurements are folded per environment, the failure counts carried across its steps. A pause that ends a step
 * (marginal score, max bake) counts as a person accepting it, as a recorded run that went on must have; a pause for
 * missing data counts as resumed. Once a step is decided, its later measurements are `skipped` (these settings would
 * have moved on); once an environment rolls back, so are its remaining ones. A step whose measurements run out before
 * a decision stays `pending`, and its environment `unfinished` (these settings would have waited for more than the
 * deploy measured). Deploys recorded before steps were judged whole lack `elapsedMs` and their unmeasured samples:
 * the first is estimated from the sample times, the second are missing, so their re-judging is approximate.
 * Pure and deterministic.
 */
export function judgeRun(rollout: readonly JudgedEnvironment[], measurements: readonly Measurement[]): RunJudgement {
  const samples: SampleVerdict[] = [];
  const steps: StepVerdict[] = [];
  const environments: EnvironmentVerdict[] = [];
  for (const env of rollout) {
    let run = beginRun(env.name);
    let current: { state: StepState; verdict?: StepVerdict; decided: boolean } | undefined;
    let stop: EnvironmentVerdict | undefined;
    let pause: EnvironmentVerdict | undefined;
    const passed = new Set<number>();
    const close = () => {
      if (current?.verdict) steps.push(current.verdict);
    };
    measurements.forEach((m, index) => {
      if (m.environment !== env.name) return;
      const skip = (reason: string) =>
        samples.push({
          index,
          environment: m.environment,
          step: m.step,
          outcome: m.canary
            ? judgeWindow(m.canary, m.stable, env.analysis, 'sample', env.analysis.minRequests, rulesOf(env)).verdict
            : 'unmeasured',
          action: 'skipped',
          reason,
        });
      if (stop) return skip('the environment was already rolled back');
      if (!current || current.state.step !== m.step) {
        close();
        current = { state: beginStep(env.analysis, m.step, m.weight, stepBakeMs(env, m.step)), decided: false };
        pause = undefined;
      }
      if (current.decided) return skip('the step was already decided');
      const seen = observe(env, run, current.state, m);
      run = seen.run;
      current.state = seen.step;
      current.verdict = seen.verdict;
      const { action } = seen;
      const rule = actionRule(action);
      samples.push({
        index,
        environment: m.environment,
        step: m.step,
        outcome: seen.outcome,
        action: action.action,
        ...(rule ? { rule } : {}),
        reason: 'reason' in action ? action.reason : (seen.sample?.reason ?? m.error ?? ''),
      });
      if (action.action === 'pass') {
        current.decided = true;
        passed.add(m.step);
      } else if (action.action === 'pause' && action.endsStep) {
        // A recorded run that goes on past this pause had a person accept the step.
        current.decided = true;
        passed.add(m.step);
        pause = { environment: env.name, outcome: 'paused', reason: action.reason };
      } else if (action.action === 'pause') {
        run = resumeRun(run);
      } else if (action.action === 'rollback') {
        current.decided = true;
        stop = { environment: env.name, outcome: 'rolled-back', cause: action.cause, reason: action.reason };
      }
    });
    close();
    if (stop) environments.push(stop);
    else if (pause) environments.push(pause);
    else if (passed.has(lastStepIndex(env))) environments.push({ environment: env.name, outcome: 'promoted' });
    else if (current) environments.push({ environment: env.name, outcome: 'unfinished' });
  }
  return { samples, steps, environments };
}

/**
 * The measurements a deploy's status recorded, in the order they were taken: its judged samples and the ones that
 * could not be measured. Samples recorded before steps were judged whole have no `elapsedMs`: it is estimated from
 * their times (the first sample of a step one window after the step began).
 */
export function measurementsOf(status: Pick<DeployStatus, 'samples' | 'unmeasured'>): Measurement[] {
  const measured = status.samples.map((s) => ({
    at: s.at,
    windowMs: s.windowMs,
    given: s.elapsedMs,
    m: {
      environment: s.environment,
      step: s.step,
      weight: s.weight,
      elapsedMs: s.elapsedMs ?? 0,
      canary: s.canary,
      stable: s.stable,
      windowMs: s.windowMs,
    } satisfies Measurement,
  }));
  const missing = (status.unmeasured ?? []).map((u) => ({
    at: u.at,
    windowMs: 0,
    given: u.elapsedMs as number | undefined,
    m: {
      environment: u.environment,
      step: u.step,
      weight: u.weight,
      elapsedMs: u.elapsedMs,
      canary: null,
      stable: null,
      error: u.reason,
    } satisfies Measurement,
  }));
  const all = [...measured, ...missing].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  let first: { environment: string; step: number; atMs: number; windowMs: number } | undefined;
  return all.map(({ at, windowMs, given, m }) => {
    if (!first || first.environment !== m.environment || first.step !== m.step) {
      first = { environment: m.environment, step: m.step, atMs: Date.parse(at), windowMs };
    }
    return given === undefined ? { ...m, elapsedMs: Date.parse(at) - first.atMs + first.windowMs } : m;
  });
}
