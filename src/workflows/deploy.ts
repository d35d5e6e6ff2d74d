import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { analyseWindow, decide, type AnalysisSample, type SampleOutcome } from '../shared/analysis';
import {
  approveArgsSchema,
  deployInputSchema,
  handoffDir,
  rejectArgsSchema,
  type ApprovalRecord,
  type ApproveArgs,
  type DeployInput,
  type DeployResult,
  type DeployStatus,
  type EnvironmentPlan,
  type Outcome,
  type Phase,
  type RejectArgs,
} from '../shared/deploy';
import { formatDuration } from '../shared/duration';
import { PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../shared/search-attributes';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate, statusQuery } from './messages';

/** Calls that change a target: retried patiently, except for errors no retry can fix. */
const PLATFORM_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 8,
    nonRetryableErrorTypes: ['UnknownRelease', 'PlatformConflict', 'InvalidRequest'],
  },
};

/** Rollback must not give up: it retries until it succeeds or an hour has passed. */
const ROLLBACK_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '5 seconds' }, // unlimited attempts
};

/** A sample is only worth its freshness: one retry, then the sample counts as unmeasured. */
const MEASURE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '1 second', maximumAttempts: 2 },
};

/** Planning and reporting read and write files: quick, retried a few times. */
const LOCAL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '20 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['UnknownRelease', 'InvalidRequest'],
  },
};

const platform = proxyActivities<Activities>(PLATFORM_OPTIONS);
const rollbackActivities = proxyActivities<Activities>(ROLLBACK_OPTIONS);
const metrics = proxyActivities<Activities>(MEASURE_OPTIONS);
const local = proxyActivities<Activities>(LOCAL_OPTIONS);

/** How one environment's rollout ended. */
type StageResult = { ok: true } | { ok: false; outcome: Outcome; reason: string };

/** Thrown inside a stage to stop it and roll the environment back. */
class StageAborted extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * One change, one execution: plan, then for each environment of the pipeline (staging, production)
 * an approval where required, a direct deploy with verification or a canary ramp with health analysis,
 * promotion or automated rollback; every ending writes the handoff report.
 */
export async function deploy(rawInput: DeployInput): Promise<DeployResult> {
  const parsed = deployInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid deploy input: ${parsed.error.issues[0]?.message}`, 'InvalidInput');
  }
  const input = parsed.data;
  const startedMs = Date.now();
  const trackPhase = workflowInfo().typedSearchAttributes.get(SERVICE_ATTRIBUTE) !== undefined;

  const status: DeployStatus = {
    deployId: input.deployId,
    service: input.service,
    version: input.version,
    feature: input.feature,
    requestedBy: input.requestedBy,
    phase: 'PLANNING',
    startedAt: new Date(startedMs).toISOString(),
    previousVersions: {},
    approvals: [],
    samples: [],
    timeline: [],
  };
  let pendingDecision: ApprovalRecord | undefined;

  const now = () => new Date().toISOString();
  const note = (message: string) => {
    status.timeline.push({ at: now(), phase: status.phase, environment: status.environment, message });
    log.info(message, { phase: status.phase, environment: status.environment });
    setCurrentDetails(describeStatus(status));
  };
  const enter = (phase: Phase, message: string) => {
    status.phase = phase;
    if (trackPhase) upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: phase }]);
    note(message);
  };

  const validateApprove = (args: ApproveArgs): void => {
    const { by } = approveArgsSchema.parse(args);
    const env = waitingEnvironment(status, input);
    if (!env.approval.approvers.includes(by)) {
      throw new Error(`${by} is not an approver for ${env.name}; approvers: ${env.approval.approvers.join(', ')}`);
    }
    if (by === input.requestedBy && !env.approval.allowSelfApproval) {
      throw new Error(`${by} requested this deploy and cannot approve it too (approval.allowSelfApproval is off)`);
    }
  };
  const validateReject = (args: RejectArgs): void => {
    const { by } = rejectArgsSchema.parse(args);
    const env = waitingEnvironment(status, input);
    if (!env.approval.approvers.includes(by) && by !== input.requestedBy) {
      throw new Error(`${by} is neither an approver for ${env.name} nor the requester`);
    }
  };
  const record = (
    decision: 'approved' | 'rejected',
    by: string,
    comment: string | undefined,
    via: 'update' | 'signal',
  ) => {
    const entry: ApprovalRecord = {
      environment: status.environment ?? '',
      decision,
      by,
      at: now(),
      via,
      ...(comment ? { comment } : {}),
    };
    pendingDecision = entry;
    status.approvals.push(entry);
    note(`${decision} by ${by}${comment ? `: "${comment}"` : ''} (${via})`);
    return entry;
  };

  setHandler(statusQuery, () => status);
  setHandler(approveUpdate, (args) => record('approved', args.by, args.comment, 'update'), {
    validator: validateApprove,
  });
  setHandler(rejectUpdate, (args) => record('rejected', args.by, args.reason, 'update'), { validator: validateReject });
  // Signals cannot be refused before they reach history: an invalid one is ignored, and the timeline says why.
  setHandler(approveSignal, (args) => {
    try {
      validateApprove(args);
      record('approved', args.by, args.comment, 'signal');
    } catch (err) {
      note(`ignored approve signal: ${errorMessage(err)}`);
    }
  });
  setHandler(rejectSignal, (args) => {
    try {
      validateReject(args);
      record('rejected', args.by, args.reason, 'signal');
    } catch (err) {
      note(`ignored reject signal: ${errorMessage(err)}`);
    }
  });

  /** Waits for a person, or the timeout; the boolean is handled both ways. */
  async function awaitApproval(env: EnvironmentPlan): Promise<StageResult> {
    const deadline = new Date(Date.now() + env.approval.timeoutMs).toISOString();
    status.approval = { environment: env.name, approvers: env.approval.approvers, deadline };
    pendingDecision = undefined;
    enter(
      'AWAITING_APPROVAL',
      `waiting for approval of ${env.name} by ${env.approval.approvers.join(' or ')} until ${deadline}`,
    );
    const decided = await condition(() => pendingDecision !== undefined, env.approval.timeoutMs);
    status.approval = undefined;
    // Set by a handler while we waited; TypeScript cannot see that.
    const decision = pendingDecision as ApprovalRecord | undefined;
    if (!decided || !decision) {
      return {
        ok: false,
        outcome: 'approval-timed-out',
        reason: `no approval for ${env.name} within ${formatDuration(env.approval.timeoutMs)}`,
      };
    }
    if (decision.decision === 'rejected') {
      return {
        ok: false,
        outcome: 'rejected',
        reason: `${env.name} rejected by ${decision.by}: ${decision.comment ?? ''}`,
      };
    }
    return { ok: true };
  }

  /**
   * Samples the canary every interval until `durationMs` has passed with at least one conclusive
   * sample. Throws StageAborted on a critical sample, on too many unmeasurable samples, or when the
   * data never becomes conclusive.
   */
  async function analyse(
    env: EnvironmentPlan,
    step: number,
    weight: number,
    durationMs: number,
    stable: string | null,
  ) {
    const { analysis } = env;
    const began = Date.now();
    let counts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
    let conclusive = 0;
    for (;;) {
      await sleep(analysis.interval, { summary: `bake ${env.name} at ${weight} %` });
      let outcome: SampleOutcome;
      let reason: string;
      try {
        const measured = await metrics.measure.executeWithOptions(
          { ...MEASURE_OPTIONS, summary: `measure ${input.service} ${input.version} in ${env.name} at ${weight} %` },
          [
            {
              environment: env.name,
              service: input.service,
              version: input.version,
              stableVersion: stable,
              windowMs: analysis.interval,
            },
          ],
        );
        const judged = analyseWindow(measured.canary, analysis);
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
        status.samples.push(sample);
        status.lastSample = sample;
        outcome = judged.verdict;
        reason = judged.reason;
        setCurrentDetails(describeStatus(status));
      } catch (err) {
        if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
        outcome = 'unmeasured';
        reason = errorMessage(err.cause ?? err);
        note(`sample could not be measured: ${reason}`);
      }
      const decision = decide(outcome, counts, analysis, reason);
      if (decision.action === 'rollback') throw new StageAborted('rolled-back', decision.reason);
      if (decision.action === 'give-up') throw new StageAborted('rolled-back', decision.reason);
      counts = decision;
      if (outcome === 'healthy' || outcome === 'warning') conclusive += 1;
      if (Date.now() - began >= durationMs && conclusive > 0) return;
    }
  }

  /** Rolls an environment back: traffic to 0 % first, then the new release is stopped. */
  async function rollBack(env: EnvironmentPlan, reason: string): Promise<void> {
    enter('ROLLING_BACK', `rolling back ${env.name}: ${reason}`);
    await CancellationScope.nonCancellable(async () => {
      const result = await rollbackActivities.rollbackRelease.executeWithOptions(
        { ...ROLLBACK_OPTIONS, summary: `roll back ${input.service} ${input.version} in ${env.name}` },
        [{ deployId: input.deployId, environment: env.name, service: input.service, version: input.version }],
      );
      note(`${env.name} rolled back: ${result.detail}`);
    });
  }

  async function deployEnvironment(env: EnvironmentPlan): Promise<StageResult> {
    status.environment = env.name;
    if (env.approval.required) {
      const approval = await awaitApproval(env);
      if (!approval.ok) return approval;
    }
    const ref = { deployId: input.deployId, environment: env.name, service: input.service, version: input.version };
    const stable = status.previousVersions[env.name] ?? null;
    enter('DEPLOYING', `starting ${input.service} ${input.version} in ${env.name} beside ${stable ?? 'nothing'}`);
    // From here on a failure or a cancellation rolls the environment back (rollback is idempotent).
    try {
      const started = await platform.startRelease.executeWithOptions(
        { ...PLATFORM_OPTIONS, summary: `start ${input.service} ${input.version} in ${env.name}` },
        [ref],
      );
      if (started.alreadyPromoted) {
        note(`${env.name} already runs ${input.version} from this deploy`);
        return { ok: true };
      }
      if (env.strategy === 'direct') {
        await setWeight(env, 100);
        enter('VERIFYING', `verifying ${env.name} for ${formatDuration(env.verifyMs)}`);
        await analyse(env, -1, 100, env.verifyMs, stable);
      } else {
        for (const [i, step] of env.steps.entries()) {
          status.canary = { environment: env.name, step: i + 1, steps: env.steps.length, weight: step.weight };
          await setWeight(env, step.weight);
          enter('CANARY', `step ${i + 1}/${env.steps.length}: ${step.weight} % for ${formatDuration(step.bake)}`);
          await analyse(env, i, step.weight, step.bake, stable);
          note(`step ${i + 1}/${env.steps.length} passed at ${step.weight} %`);
        }
      }
    } catch (err) {
      const aborted = err instanceof StageAborted ? err : undefined;
      const reason = aborted?.reason ?? errorMessage(err);
      await rollBack(env, reason);
      if (isCancellation(err)) throw err;
      return { ok: false, outcome: aborted?.outcome ?? 'failed', reason };
    }
    enter('PROMOTING', `promoting ${input.version} to 100 % of ${env.name}`);
    await platform.promoteRelease.executeWithOptions(
      { ...PLATFORM_OPTIONS, summary: `promote ${input.service} ${input.version} in ${env.name}` },
      [ref],
    );
    status.canary = undefined;
    note(`${env.name} now runs ${input.version}`);
    return { ok: true };
  }

  async function setWeight(env: EnvironmentPlan, weight: number): Promise<void> {
    await platform.setTrafficWeight.executeWithOptions(
      { ...PLATFORM_OPTIONS, summary: `route ${weight} % of ${env.name} to ${input.version}` },
      [{ deployId: input.deployId, environment: env.name, service: input.service, weight }],
    );
  }

  let outcome: Outcome = 'failed';
  let reason = '';
  let cancelled: unknown;
  try {
    enter(
      'PLANNING',
      `planning ${input.service} ${input.version} through ${input.environments.map((e) => e.name).join(' → ')}`,
    );
    const plan = await local.plan.executeWithOptions(
      { ...LOCAL_OPTIONS, summary: `plan ${input.service} ${input.version}` },
      [{ input }],
    );
    status.plan = plan;
    status.previousVersions = plan.currentVersions;
    note(`plan (${plan.source}): ${plan.risk} risk; ${plan.rationale}`);
    outcome = 'promoted';
    for (const env of input.environments) {
      const result = await deployEnvironment(env);
      if (!result.ok) {
        outcome = result.outcome;
        reason = result.reason;
        break;
      }
    }
    if (outcome === 'promoted')
      reason = `${input.version} runs in ${input.environments.map((e) => e.name).join(' and ')}`;
  } catch (err) {
    if (isCancellation(err)) {
      cancelled = err;
      outcome = 'failed';
      reason = 'the deploy was cancelled';
    } else {
      outcome = 'failed';
      reason = errorMessage(err);
    }
  }

  const finalPhase = FINAL_PHASE[outcome];
  status.outcome = outcome;
  status.reason = reason;
  enter('REPORTING', `${outcome}: ${reason}`);
  await CancellationScope.nonCancellable(async () => {
    const dir = handoffDir(input.feature);
    const snapshot = await local.snapshotHandoff.executeWithOptions({ ...LOCAL_OPTIONS, summary: `inspect ${dir}` }, [
      { workdir: input.workdir, dir },
    ]);
    status.endedAt = now();
    status.phase = finalPhase;
    status.report = await local.writeHandoffReport.executeWithOptions(
      { ...LOCAL_OPTIONS, summary: `write summary.md, files-changed.json, report.json to ${dir}` },
      [{ input, workdir: input.workdir, dir, status, existing: snapshot.existing }],
    );
  });
  enter(finalPhase, `report written to ${status.report?.dir}`);

  if (cancelled) throw cancelled;
  const result: DeployResult = {
    deployId: input.deployId,
    service: input.service,
    version: input.version,
    outcome,
    reason,
    phase: finalPhase,
    durationMs: Date.now() - startedMs,
    report: status.report ?? null,
  };
  if (outcome === 'failed') {
    throw ApplicationFailure.nonRetryable(`deploy failed: ${reason}`, 'DeployFailed', result);
  }
  return result;
}

const FINAL_PHASE: Record<Outcome, Phase> = {
  promoted: 'PROMOTED',
  'rolled-back': 'ROLLED_BACK',
  rejected: 'CANCELLED',
  'approval-timed-out': 'CANCELLED',
  failed: 'FAILED',
};

function waitingEnvironment(status: DeployStatus, input: DeployInput): EnvironmentPlan {
  const env = input.environments.find((e) => e.name === status.approval?.environment);
  if (status.phase !== 'AWAITING_APPROVAL' || !env) {
    throw new Error(`deploy ${input.deployId} is ${status.phase}, not waiting for an approval`);
  }
  return env;
}

function errorMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return errorMessage(err.cause);
  return err instanceof Error ? err.message : String(err);
}

/** The markdown the Temporal UI shows as the workflow's current details. */
function describeStatus(status: DeployStatus): string {
  const lines = [
    `**${status.phase}** ${status.service} ${status.version}${status.environment ? ` in ${status.environment}` : ''}`,
  ];
  if (status.canary)
    lines.push(`canary step ${status.canary.step}/${status.canary.steps} at ${status.canary.weight} %`);
  if (status.approval)
    lines.push(`waiting for ${status.approval.approvers.join(' or ')} until ${status.approval.deadline}`);
  if (status.lastSample) lines.push(`last sample: ${status.lastSample.verdict}: ${status.lastSample.reason}`);
  if (status.reason) lines.push(status.reason);
  return lines.join('\n\n');
}
