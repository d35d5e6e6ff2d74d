/**
 * `opsflow analysis replay`: a finished deploy's recorded measurements re-judged, from its history alone, with the
 * settings it ran with (which must give back exactly the verdicts it gave) or with other analysis settings (which
 * shows where they would have decided differently). Runs in the CLI, never in the workflow.
 */
import type { temporal } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import type { AnalysisConfig } from '../shared/analysis-config';
import type { DecisionRule } from '../shared/analysis';
import { type JudgedEnvironment, type Measurement, type StepVerdict } from '../shared/analysis/judge';
import { judgeRun, measurementsOf, type EnvironmentVerdict, type RunJudgement } from '../shared/analysis/judge-run';
import type { DeployStatus, EnvironmentPlan, StopCause } from '../shared/deploy';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The activity whose input carries the deploy's final status: written once, at the end of every deploy. */
const REPORT_ACTIVITY = 'writeHandoffReport';

/** A history that cannot be replayed, said in one line. */
export class ReplayError extends Error {
  override name = 'ReplayError';
}

/** What a deploy recorded about its analysis: the rollout as it ran, every measurement, and its own verdicts. */
export interface RecordedDeploy {
  workflowId: string;
  rollout: EnvironmentPlan[];
  measurements: Measurement[];
  /** The step verdicts the workflow gave; absent for deploys recorded before steps were judged whole. */
  stepVerdicts?: StepVerdict[];
  /** How each environment ended, as the workflow recorded it. */
  outcomes: { environment: string; outcome: string; cause?: StopCause }[];
}

/**
 * Reads the deploy's record from its history: the status it handed to its report (its last act, so every sample is
 * in it). A deploy still running, or one without a report, cannot be replayed yet.
 */
export function recordedDeployOf(workflowId: string, events: readonly HistoryEvent[]): RecordedDeploy {
  const scheduled = events.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === REPORT_ACTIVITY,
  );
  const last = scheduled[scheduled.length - 1]?.activityTaskScheduledEventAttributes?.input?.payloads?.[0];
  if (!last) {
    throw new ReplayError(
      `${workflowId} has no report in its history yet: replay reads a finished deploy (wait for it to end, or check the id)`,
    );
  }
  const request = defaultPayloadConverter.fromPayload(last as never) as { status?: Partial<DeployStatus> } | undefined;
  const status = request?.status;
  if (!status || !Array.isArray(status.samples)) {
    throw new ReplayError(`${workflowId}: its report request holds no samples; is this an opsflow deploy?`);
  }
  const rollout = status.rollout ?? [];
  if (rollout.length === 0) {
    throw new ReplayError(`${workflowId} recorded no rollout: it ended before any environment was planned`);
  }
  return {
    workflowId,
    rollout,
    measurements: measurementsOf({ samples: status.samples, unmeasured: status.unmeasured ?? [] }),
    ...(status.stepVerdicts ? { stepVerdicts: status.stepVerdicts } : {}),
    outcomes: (status.results ?? []).map((r) => ({
      environment: r.environment,
      outcome: r.outcome,
      ...(r.cause ? { cause: r.cause } : {}),
    })),
  };
}

/** The rollout as it ran with each environment's analysis settings replaced by `analysis[environment]`. */
export function withAnalysis(
  rollout: readonly EnvironmentPlan[],
  analysis: (environment: string) => AnalysisConfig | undefined,
): EnvironmentPlan[] {
  return rollout.map((env) => {
    const other = analysis(env.name);
    if (!other) {
      throw new ReplayError(
        `environment "${env.name}" of this deploy is not in the other configuration: add it under environments`,
      );
    }
    return { ...env, analysis: other };
  });
}

/** One step's verdict, as compared. */
export interface StepCall {
  verdict: StepVerdict['verdict'];
  score: number | null;
  rule?: DecisionRule;
}

/** One step under two judgements. */
export interface StepDifference {
  environment: string;
  step: number;
  weight: number;
  before: StepCall | null;
  after: StepCall | null;
}

/** One environment's ending under two judgements. */
export interface EnvironmentDifference {
  environment: string;
  before: string;
  after: string;
}

/** One sample after which the loop would have acted otherwise. */
export interface SampleDifference {
  index: number;
  environment: string;
  step: number;
  before: string;
  after: string;
  /** The rule behind the new action, when it paused or rolled back. */
  rule?: DecisionRule;
  reason: string;
}

/** Where two judgements of the same measurements part. */
export interface JudgementDiff {
  environments: EnvironmentDifference[];
  steps: StepDifference[];
  samples: SampleDifference[];
}

/** What `opsflow analysis replay` found. */
export interface ReplayReport {
  workflowId: string;
  measurements: number;
  /** Re-judged with the settings it ran with: where that differs from what the workflow recorded (none: reproduced). */
  reproduction: JudgementDiff;
  /** False for a deploy recorded before steps were judged whole: only its outcomes could be compared. */
  stepVerdictsRecorded: boolean;
  /** With other settings: where they would have decided otherwise than the deploy's own. */
  other?: { source: string; diff: JudgementDiff; judgement: RunJudgement };
  judgement: RunJudgement;
}

const call = (v: StepVerdict | undefined): StepCall | null =>
  v ? { verdict: v.verdict, score: v.score, ...(v.rule ? { rule: v.rule } : {}) } : null;

const sameCall = (a: StepCall | null, b: StepCall | null) =>
  a?.verdict === b?.verdict && a?.score === b?.score && a?.rule === b?.rule;

const stepKey = (v: Pick<StepVerdict, 'environment' | 'step'>) => `${v.environment}\u0000${v.step}`;

function stepDifferences(before: readonly StepVerdict[], after: readonly StepVerdict[]): StepDifference[] {
  const a = new Map(before.map((v) => [stepKey(v), v]));
  const b = new Map(after.map((v) => [stepKey(v), v]));
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  return keys.flatMap((key) => {
    const x = a.get(key);
    const y = b.get(key);
    const first = (x ?? y) as StepVerdict;
    return sameCall(call(x), call(y))
      ? []
      : [{ environment: first.environment, step: first.step, weight: first.weight, before: call(x), after: call(y) }];
  });
}

/** An environment's ending in words shared by the record and the judgement: `rolled-back (budget)`, `promoted`. */
function ending(outcome: string, cause?: StopCause): string {
  if (outcome !== 'rolled-back' || !cause) return outcome;
  const rule = 'rule' in cause ? cause.rule : undefined;
  return `rolled-back (${rule ?? (cause.kind === 'failure-limit' ? 'consecutive' : cause.kind)})`;
}

const judged = (v: EnvironmentVerdict) => ending(v.outcome, v.cause);

/** The two judgements' endings per environment, where they differ. */
function environmentDifferences(
  before: readonly { environment: string; ending: string }[],
  after: readonly { environment: string; ending: string }[],
): EnvironmentDifference[] {
  const b = new Map(after.map((e) => [e.environment, e.ending]));
  return before.flatMap((e) => {
    const other = b.get(e.environment) ?? 'not judged';
    return other === e.ending ? [] : [{ environment: e.environment, before: e.ending, after: other }];
  });
}

function sampleDifferences(before: RunJudgement, after: RunJudgement): SampleDifference[] {
  const b = new Map(after.samples.map((s) => [s.index, s]));
  return before.samples.flatMap((s) => {
    const other = b.get(s.index);
    if (!other || other.action === s.action) return [];
    return [
      {
        index: s.index,
        environment: s.environment,
        step: s.step,
        before: s.action,
        after: other.action,
        ...(other.rule ? { rule: other.rule } : {}),
        reason: other.reason,
      },
    ];
  });
}

/** Where two judgements of the same measurements part. */
export function diffJudgements(before: RunJudgement, after: RunJudgement): JudgementDiff {
  return {
    environments: environmentDifferences(
      before.environments.map((e) => ({ environment: e.environment, ending: judged(e) })),
      after.environments.map((e) => ({ environment: e.environment, ending: judged(e) })),
    ),
    steps: stepDifferences(before.steps, after.steps),
    samples: sampleDifferences(before, after),
  };
}

/**
 * The environments the record can be held against: those the judgement has a say in (promoted or rolled back by
 * analysis). An environment that failed for another reason (a target error, a rejection) is not the analysis's call.
 */
function recordedEndings(record: RecordedDeploy, judgement: RunJudgement): { environment: string; ending: string }[] {
  const judgedHere = new Set(judgement.environments.map((e) => e.environment));
  return record.outcomes
    .filter((o) => judgedHere.has(o.environment) && (o.outcome === 'promoted' || o.outcome === 'rolled-back'))
    .filter((o) => o.outcome === 'promoted' || isAnalysisCause(o.cause))
    .map((o) => ({ environment: o.environment, ending: ending(o.outcome, o.cause) }));
}

function isAnalysisCause(cause: StopCause | undefined): boolean {
  return cause?.kind === 'critical' || cause?.kind === 'failure-limit' || cause?.kind === 'step-judgement';
}

/**
 * Re-judges a recorded deploy with the settings it ran with, and with `other` settings when given. Pure: the history
 * was read by {@link recordedDeployOf}.
 */
export function replay(
  record: RecordedDeploy,
  other?: { source: string; rollout: readonly JudgedEnvironment[] },
): ReplayReport {
  const judgement = judgeRun(record.rollout, record.measurements);
  const recorded = recordedEndings(record, judgement);
  const replayedEndings = judgement.environments.map((e) => ({ environment: e.environment, ending: judged(e) }));
  const reproduction: JudgementDiff = {
    environments: environmentDifferences(recorded, replayedEndings),
    steps: record.stepVerdicts ? stepDifferences(record.stepVerdicts, judgement.steps) : [],
    samples: [],
  };
  const report: ReplayReport = {
    workflowId: record.workflowId,
    measurements: record.measurements.length,
    reproduction,
    stepVerdictsRecorded: record.stepVerdicts !== undefined,
    judgement,
  };
  if (other) {
    const alternative = judgeRun(other.rollout, record.measurements);
    report.other = { source: other.source, diff: diffJudgements(judgement, alternative), judgement: alternative };
  }
  return report;
}

/** True when nothing differs. */
export function isEmptyDiff(diff: JudgementDiff): boolean {
  return diff.environments.length === 0 && diff.steps.length === 0 && diff.samples.length === 0;
}

const showCall = (c: StepCall | null) =>
  c ? `${c.verdict}${c.score === null ? '' : ` ${c.score}`}${c.rule ? ` (${c.rule})` : ''}` : 'not reached';

function renderDiff(diff: JudgementDiff, before: string, after: string): string[] {
  const lines: string[] = [];
  for (const e of diff.environments) lines.push(`  ${e.environment}: ${before} ${e.before}, ${after} ${e.after}`);
  for (const s of diff.steps) {
    lines.push(
      `  ${s.environment} step ${s.step} at ${s.weight} %: ${before} ${showCall(s.before)}, ${after} ${showCall(s.after)}`,
    );
  }
  for (const s of diff.samples) {
    lines.push(
      `  ${s.environment} sample ${s.index + 1} (step ${s.step}): ${before} ${s.before}, ${after} ${s.after}${s.rule ? ` by ${s.rule}` : ''}: ${s.reason}`,
    );
  }
  return lines;
}

/** The report for people, rendered from its fields. */
export function renderReplay(report: ReplayReport): string[] {
  const lines = [`${report.workflowId}: ${report.measurements} measurements re-judged`];
  for (const s of report.judgement.steps) {
    const warmUp = s.warmUp ? ` (+${s.warmUp.samples} in warm-up, not judged)` : '';
    lines.push(
      `  ${s.environment} step ${s.step} at ${s.weight} %: ${showCall(call(s))}, ${s.samples} samples${warmUp}`,
    );
  }
  for (const e of report.judgement.environments) lines.push(`  ${e.environment}: ${judged(e)}`);
  if (isEmptyDiff(report.reproduction)) {
    lines.push(
      report.stepVerdictsRecorded
        ? 'with the settings it ran with: every step verdict and outcome as recorded'
        : 'with the settings it ran with: the outcomes as recorded (recorded before steps were judged whole)',
    );
  } else {
    lines.push('with the settings it ran with, the replay differs from the record:');
    lines.push(...renderDiff(report.reproduction, 'recorded', 'replayed'));
  }
  if (report.other) {
    const { source, diff } = report.other;
    if (isEmptyDiff(diff)) {
      lines.push(`with the analysis settings of ${source}: the same verdicts`);
    } else {
      lines.push(`with the analysis settings of ${source}, where the verdicts change:`);
      lines.push(...renderDiff(diff, 'ran', 'would'));
    }
  }
  return lines;
}
