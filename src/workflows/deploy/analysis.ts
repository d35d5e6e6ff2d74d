import { ActivityFailure, isCancellation, patched } from '@temporalio/workflow';
import {
  analyseWindow,
  decide,
  type AnalysisCounts,
  type AnalysisSample,
  type MetricsWindow,
  type SampleOutcome,
} from '../../shared/analysis';
import {
  beginRun,
  beginStep,
  observe,
  resumeRun,
  type Measurement,
  type RunState,
  type StepVerdict,
} from '../../shared/analysis/judge';
import { decidingChecks, type DecidingCheck, type EnvironmentPlan, type RolloutEnvironment } from '../../shared/deploy';
import { JUDGEMENT_RULES, rulesOf } from '../../shared/analysis/rules';
import { describeCost } from '../../shared/cost';
import { notify } from './notify';
import { failureMessage } from '../../shared/errors';
import { percent } from '../../shared/format';
import { MEASURE_OPTIONS, metrics } from './proxies';
import { bake, honourControls, pause } from './controls';
import { StageAborted } from './stage';
import { now, type DeployState } from './state';

/**
 * Deploys planned with this patch keep measurement errors apart from failures (src/shared/analysis/rules.ts,
 * errorsApart): the revision is fixed when the deploy plans, so one in flight across the upgrade keeps its rules.
 */
export const MEASUREMENT_ERRORS_PATCH = 'analysis-measurement-errors';

/**
 * Deploys planned with this patch judge latency by the rules revision latencyConfidence: a warm-up at each step's
 * start, Mann–Whitney's exact test under heavy ties, quantile thresholds with confidence (issue 24).
 */
export const LATENCY_CONFIDENCE_PATCH = 'analysis-latency-confidence';

/**
 * Deploys planned with this patch measure each version's cost beside its metrics and judge each step's cost per 1,000
 * requests against stable's (rules revision cost, issue 22).
 */
export const COST_PATCH = 'analysis-cost';

/** The rollout marked with the revision of the judgement's rules it is judged by; unmarked, the original rules. */
export function withJudgementRules(rollout: EnvironmentPlan[]): RolloutEnvironment[] {
  // Newest first: a deploy planned with a newer patch is judged by its revision, and records only that marker.
  const rules = patched(COST_PATCH)
    ? JUDGEMENT_RULES.cost
    : patched(LATENCY_CONFIDENCE_PATCH)
      ? JUDGEMENT_RULES.latencyConfidence
      : patched(MEASUREMENT_ERRORS_PATCH)
        ? JUDGEMENT_RULES.errorsApart
        : undefined;
  if (rules === undefined) return rollout;
  return rollout.map((env) => ({ ...env, rules }));
}

/**
 * Deploys that reach their analysis with this patch judge each step on its whole window and count failures against
 * the run's budget as well as in a row; deploys recorded before it replay the consecutive-only loop.
 */
export const FAILURE_BUDGET_PATCH = 'analysis-failure-budget';

/** Where in the rollout a window of analysis runs. */
export interface AnalysisStep {
  env: RolloutEnvironment;
  /** Canary step index (0-based), or -1 for a verification outside a canary. */
  step: number;
  weight: number;
  durationMs: number;
  /** The version the new one is compared with; null when nothing ran before. */
  stable: string | null;
}

/**
 * Samples the release every interval until the step is decided. Throws StageAborted on a critical sample, on too
 * many failing or unmeasurable samples, on a step whose whole window fails, on an abort or an unanswered pause;
 * PromoteNow when a person promotes. Pauses for a person on a marginal step, on missing data, and (by default) on a
 * step without the traffic to judge by its max bake.
 */
export async function analyse(state: DeployState, at: AnalysisStep): Promise<void> {
  if (!patched(FAILURE_BUDGET_PATCH)) return analyseConsecutive(state, at);
  return judgeStep(state, at);
}

/**
 * One step judged by the rules of src/shared/analysis/judge.ts, the same functions `judgeRun` replays: each sample
 * against the failure budgets, the step on its cumulative window once its bake has passed and its canary has served
 * minStepRequests, up to its max bake. The run's counts carry from step to step of an environment in the status.
 */
async function judgeStep(state: DeployState, at: AnalysisStep): Promise<void> {
  const { env, step: index, weight, durationMs } = at;
  const { analysis } = env;
  const { status } = state;
  const began = Date.now();
  let run: RunState = status.analysis?.environment === env.name ? status.analysis : beginRun(env.name);
  let step = beginStep(analysis, index, weight, durationMs);
  let previous = '';
  for (;;) {
    // The previous sample's verdict rides on the next timer, so the UI's timeline shows every decision.
    await bake(state, analysis.interval, `bake ${env.name} at ${weight} %${previous}`);
    await honourControls(state, env);
    const measured = await measureWindows(state, at);
    const m: Measurement = {
      environment: env.name,
      step: index,
      weight,
      elapsedMs: Date.now() - began,
      canary: measured.ok ? measured.canary : null,
      stable: measured.ok ? measured.stable : null,
      ...(measured.ok ? {} : { error: measured.reason }),
      windowMs: analysis.interval,
    };
    const seen = observe(env, run, step, m);
    run = seen.run;
    step = seen.step;
    status.analysis = { ...run, step: seen.verdict };
    if (seen.sample && m.canary) {
      const { checks, errorRate, reason } = seen.sample;
      // A warm-up sample is recorded as such, unless its error rate was critical (then it is judged on that).
      const verdict = seen.outcome === 'warm-up' ? 'warm-up' : seen.sample.verdict;
      state.recordSample({
        at: now(),
        environment: env.name,
        step: index,
        weight,
        windowMs: analysis.interval,
        canary: m.canary,
        stable: m.stable,
        checks,
        errorRate,
        verdict,
        reason,
        elapsedMs: m.elapsedMs,
        ...(seen.warmUp ? { warmUp: seen.warmUp } : {}),
      });
    } else {
      const reason = m.error ?? 'could not be measured';
      (status.unmeasured ??= []).push({
        at: now(),
        environment: env.name,
        step: index,
        weight,
        elapsedMs: m.elapsedMs,
        reason,
      });
      state.recordUnmeasured(env.name, weight);
      state.note(`sample could not be measured: ${reason}`);
    }
    previous = ` (last sample ${seen.outcome}${m.canary ? `: ${headline(m.canary, seen.sample?.errorRate ?? null)}` : ''}; ${stepLine(seen.verdict)})`;

    const { action } = seen;
    if (action.action === 'continue') continue;
    if (action.action === 'pass') {
      finishStep(state, seen.verdict);
      alertCost(state, seen.verdict);
      return;
    }
    if (action.action === 'rollback') {
      finishStep(state, seen.verdict);
      alertCost(state, seen.verdict);
      if (action.cause.kind === 'failure-limit') state.result(env.name).failingSince ??= now();
      // A step failed on its whole window was doing harm over that window: from the step's start.
      if (action.cause.kind === 'step-judgement' && action.cause.rule !== 'max-bake') {
        state.result(env.name).failingSince ??= new Date(began).toISOString();
      }
      throw new StageAborted(action.cause, action.reason);
    }
    pause(state, env, action.cause, 'opsflow', action.reason);
    if (status.paused && action.rule) status.paused.rule = action.rule;
    if (!action.endsStep) {
      await honourControls(state, env);
      run = resumeRun(run);
      continue;
    }
    const verdict = finishStep(state, seen.verdict);
    await honourControls(state, env);
    // Resumed: a person accepted the step as it stands.
    const resumed = [...status.controls].reverse().find((c) => c.action === 'resume');
    if (resumed) verdict.acceptedBy = resumed.by;
    state.note(
      `step at ${weight} % accepted by ${resumed?.by ?? 'a person'} after its ${seen.verdict.verdict} verdict`,
    );
    return;
  }
}

/** A step that ended with its cost per 1,000 requests above the tolerance tells people, whether or not it failed. */
function alertCost(state: DeployState, verdict: StepVerdict): void {
  const { cost } = verdict;
  if (cost?.verdict !== 'increase') return;
  state.note(`COST ALERT step at ${verdict.weight} % in ${verdict.environment}: ${describeCost(cost)}`);
  notify(state, 'cost.increase', cost.action === 'fail' ? 'critical' : 'warning', {
    environment: verdict.environment,
    weight: verdict.weight,
    canaryPer1k: cost.canaryPer1k ?? 0,
    stablePer1k: cost.stablePer1k ?? 0,
    increase: cost.increase ?? 0,
    limit: cost.limit,
    currency: cost.currency ?? '',
    source: cost.source ?? '',
    action: cost.action,
  });
}

/** Keeps a step's final verdict in the status; returns the kept copy. */
function finishStep(state: DeployState, verdict: StepVerdict): StepVerdict {
  const kept = { ...verdict };
  (state.status.stepVerdicts ??= []).push(kept);
  state.publish();
  return kept;
}

function headline(canary: MetricsWindow, errorRate: number | null): string {
  const p95 = canary.p95Ms === null ? '–' : `${Math.round(canary.p95Ms)} ms`;
  return `${percent(errorRate)} errors, p95 ${p95}, ${canary.requests} requests`;
}

/** The step's cumulative state in a few words, for the timer's summary. */
function stepLine(v: StepVerdict): string {
  const score = v.score === null ? 'no score yet' : `score ${v.score}`;
  return `step ${v.verdict}, ${score}, ${v.canaryRequests}/${v.minRequests} requests`;
}

/** What the provider answered for one interval, or why it could not. */
type Windows = { ok: true; canary: MetricsWindow; stable: MetricsWindow | null } | { ok: false; reason: string };

/** One interval measured by the provider (retried once); a failure after that is an answer, not an error. */
async function measureWindows(state: DeployState, at: AnalysisStep): Promise<Windows> {
  const { env, weight, stable } = at;
  const { input } = state;
  const { analysis } = env;
  try {
    const measured = await metrics.measure.executeWithOptions(
      {
        ...MEASURE_OPTIONS,
        summary: `measure ${input.service} ${input.version}${stable ? ` vs ${stable}` : ''} in ${env.name} at ${weight} %`,
      },
      [
        {
          environment: env.name,
          service: input.service,
          version: input.version,
          stableVersion: stable,
          windowMs: analysis.interval,
          ...(analysis.provider !== 'local' ? { provider: analysis.provider } : {}),
          ...(analysis.custom.length ? { custom: analysis.custom.map(({ name, query }) => ({ name, query })) } : {}),
          ...(rulesOf(env) >= JUDGEMENT_RULES.cost ? { cost: true } : {}),
        },
      ],
    );
    return { ok: true, canary: measured.canary, stable: measured.stable };
  } catch (err) {
    if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
    return { ok: false, reason: failureMessage(err) };
  }
}

/** One judged sample as the consecutive-only loop sees it, or a measurement that could not be taken. */
interface Judged {
  outcome: SampleOutcome;
  reason: string;
  headline?: string;
  checks: DecidingCheck[];
}

/**
 * The loop of deploys recorded before the failure budget (kept so they replay): samples every interval until
 * `durationMs` has passed with at least one conclusive sample, counting failing samples in a row only. An old input's
 * failureLimit is read as consecutiveFailureLimit, which is what it meant.
 */
async function analyseConsecutive(state: DeployState, at: AnalysisStep): Promise<void> {
  const { env, weight, durationMs } = at;
  const { analysis } = env;
  const limits = { failureLimit: analysis.consecutiveFailureLimit, inconclusiveLimit: analysis.inconclusiveLimit };
  const began = Date.now();
  let counts: AnalysisCounts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
  let conclusive = 0;
  let previous = '';
  let lastFailing: DecidingCheck[] = [];
  for (;;) {
    await bake(state, analysis.interval, `bake ${env.name} at ${weight} %${previous}`);
    await honourControls(state, env);
    const judged = await measure(state, at);
    previous = ` (last sample ${judged.outcome}${judged.headline ? `: ${judged.headline}` : ''})`;
    if (judged.outcome === 'failing') lastFailing = judged.checks;
    const decision = decide(judged.outcome, counts, limits, judged.reason);
    if (decision.action === 'rollback') {
      if (decision.cause === 'critical') {
        throw new StageAborted({ kind: 'critical', checks: judged.checks }, decision.reason);
      }
      const { failing, unmeasured, limit } = decision;
      state.result(env.name).failingSince ??= now();
      throw new StageAborted(
        { kind: 'failure-limit', failing, unmeasured, limit, checks: lastFailing },
        decision.reason,
      );
    }
    if (decision.action === 'pause') {
      pause(state, env, 'inconclusive', 'opsflow', decision.reason);
      await honourControls(state, env);
      counts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
      continue;
    }
    counts = decision;
    if (judged.outcome === 'healthy' || judged.outcome === 'warning') conclusive += 1;
    if (Date.now() - began >= durationMs && conclusive > 0) return;
  }
}

/** One sample of the consecutive-only loop: measured by the provider, judged here. */
async function measure(state: DeployState, at: AnalysisStep): Promise<Judged> {
  const { env, step, weight } = at;
  const { analysis } = env;
  const measured = await measureWindows(state, at);
  if (!measured.ok) {
    state.recordUnmeasured(env.name, weight);
    state.note(`sample could not be measured: ${measured.reason}`);
    return { outcome: 'unmeasured', reason: measured.reason, checks: [] };
  }
  const judged = analyseWindow(measured.canary, analysis, measured.stable);
  const sample: AnalysisSample = {
    at: now(),
    environment: env.name,
    step,
    weight,
    windowMs: analysis.interval,
    canary: measured.canary,
    stable: measured.stable,
    ...judged,
  };
  state.recordSample(sample);
  return {
    outcome: judged.verdict,
    reason: judged.reason,
    headline: headline(measured.canary, judged.errorRate),
    checks: decidingChecks(sample),
  };
}
