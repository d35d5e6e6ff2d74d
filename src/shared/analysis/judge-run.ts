/**
 * A whole run re-judged offline: the recorded measurements of a deploy folded through the workflow's own per-sample
 * functions (src/shared/analysis/judge.ts), for `analysis replay`, the replay tests and the benchmarks.
 */
import type { DecisionRule, JudgedOutcome } from '../analysis';
import { causeRule } from '../deploy/facts';
import type { DeployStatus, StopCause } from '../deploy/status';
import { judgeWindow } from './checks';
import {
  beginRun,
  beginStep,
  observe,
  resumeRun,
  stepBakeMs,
  type JudgedEnvironment,
  type Measurement,
  type StepAction,
  type StepState,
  type StepVerdict,
} from './judge';
import { rulesOf } from './rules';

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
  return action.action === 'rollback' ? causeRule(action.cause) : undefined;
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
