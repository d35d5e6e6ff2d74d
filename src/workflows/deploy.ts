import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  analyseWindow,
  decide,
  type AnalysisCounts,
  type AnalysisSample,
  type SampleOutcome,
} from '../shared/analysis';
import {
  approveArgsSchema,
  controlArgsSchema,
  deployInputSchema,
  handoffDir,
  rejectArgsSchema,
  type ApprovalRecord,
  type ApproveArgs,
  type ControlAction,
  type ControlArgs,
  type ControlRecord,
  type DeployInput,
  type DeployResult,
  type DeployStatus,
  type EnvironmentPlan,
  type Outcome,
  type PauseState,
  type Phase,
  type Plan,
  type RejectArgs,
  type RollbackStatus,
  type RollbackStep,
} from '../shared/deploy';
import { formatDuration } from '../shared/duration';
import { PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../shared/search-attributes';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  deployFinishedSignal,
  pauseSignal,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  rejectSignal,
  rejectUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
} from '../shared/deploy/messages';

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

/** Thrown inside a stage when a person promotes: the remaining steps are skipped. */
class PromoteNow extends Error {
  constructor(readonly by: string) {
    super(`promoted by ${by}`);
  }
}

/** Phases in which the deploy is analysing a release that takes traffic: pause and promote make sense there. */
const ANALYSING: readonly Phase[] = ['VERIFYING', 'CANARY', 'BLUE_GREEN'];
/** Phases in which something of this deploy may take traffic: abort rolls it back. */
const ABORTABLE: readonly Phase[] = ['DEPLOYING', 'VERIFYING', 'CANARY', 'BLUE_GREEN', 'PAUSED'];

/**
 * One change, one execution: plan, then for each environment of the pipeline (staging, production)
 * an approval where required, a direct deploy with verification, a canary ramp or a blue-green switch with
 * health analysis, promotion or automated rollback; every ending writes the handoff report.
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
    controls: [],
    timeline: [],
  };
  let environments: EnvironmentPlan[] = input.environments;
  let pendingDecision: ApprovalRecord | undefined;
  /** Operator requests the running stage has yet to act on. */
  const requested: { abort?: ControlRecord; promote?: ControlRecord } = {};

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
  const currentEnv = () => environments.find((e) => e.name === status.environment);

  const validateApprove = (args: ApproveArgs): void => {
    const { by } = approveArgsSchema.parse(args);
    const env = waitingEnvironment(status, input, environments);
    if (!env.approval.approvers.includes(by)) {
      throw new Error(`${by} is not an approver for ${env.name}; approvers: ${env.approval.approvers.join(', ')}`);
    }
    if (by === input.requestedBy && !env.approval.allowSelfApproval) {
      throw new Error(`${by} requested this deploy and cannot approve it too (approval.allowSelfApproval is off)`);
    }
  };
  const validateReject = (args: RejectArgs): void => {
    const { by } = rejectArgsSchema.parse(args);
    const env = waitingEnvironment(status, input, environments);
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

  /** Refuses an operator action that makes no sense in the current phase, or from someone who may not take it. */
  const validateControl = (action: ControlAction, args: ControlArgs): void => {
    const { by } = controlArgsSchema.parse(args);
    const phase = status.phase;
    const id = input.deployId;
    if (action === 'pause') {
      if (phase === 'PAUSED') throw new Error(`${id} is already paused (${status.paused?.reason ?? ''})`);
      if (!ANALYSING.includes(phase)) throw new Error(`${id} is ${phase}: only a verification or canary can pause`);
    }
    if (action === 'resume' && phase !== 'PAUSED') throw new Error(`${id} is ${phase}, not paused: nothing to resume`);
    if (action === 'promote' && !ANALYSING.includes(phase) && phase !== 'PAUSED') {
      throw new Error(`${id} is ${phase}: only a running verification, canary or blue-green switch can be promoted`);
    }
    if (action === 'abort' && !ABORTABLE.includes(phase)) {
      const hint = phase === 'AWAITING_APPROVAL' ? ': reject it instead' : '';
      throw new Error(`${id} is ${phase}: nothing runs that an abort could roll back${hint}`);
    }
    if ((action === 'promote' || action === 'abort') && (requested.abort || requested.promote)) {
      const pending = requested.abort ?? requested.promote;
      throw new Error(
        `${id} is already being ${pending?.action === 'abort' ? 'aborted' : 'promoted'} by ${pending?.by}`,
      );
    }
    // Going forward needs the same authority as the approval; stopping is open to anyone.
    const env = currentEnv();
    if ((action === 'promote' || action === 'resume') && env?.approval.approvers.length) {
      if (!env.approval.approvers.includes(by)) {
        throw new Error(`${by} may not ${action} ${env.name}; approvers: ${env.approval.approvers.join(', ')}`);
      }
    }
  };
  const control = (action: ControlAction, args: ControlArgs, via: 'update' | 'signal'): ControlRecord => {
    const entry: ControlRecord = {
      action,
      by: args.by,
      at: now(),
      via,
      phase: status.phase,
      ...(args.reason ? { reason: args.reason } : {}),
    };
    status.controls.push(entry);
    const env = currentEnv();
    if (action === 'pause' && env) pause(env, 'manual', args.by, args.reason ?? 'no reason given');
    if (action === 'resume') resume(entry);
    if (action === 'promote') requested.promote = entry;
    if (action === 'abort') requested.abort = entry;
    if (action !== 'pause' && action !== 'resume') {
      note(`${action} requested by ${args.by}${args.reason ? `: "${args.reason}"` : ''} (${via})`);
    }
    return entry;
  };
  const pause = (env: EnvironmentPlan, cause: PauseState['cause'], by: string, reason: string) => {
    const since = now();
    status.paused = {
      environment: env.name,
      cause,
      by,
      reason,
      since,
      deadline: new Date(Date.now() + env.pauseTimeoutMs).toISOString(),
      resumePhase: status.phase,
    };
    enter('PAUSED', `paused by ${by}: ${reason}; waiting until ${status.paused.deadline} for resume, promote or abort`);
  };
  const resume = (entry: ControlRecord) => {
    const back = status.paused?.resumePhase ?? 'CANARY';
    status.paused = undefined;
    enter(back, `resumed by ${entry.by}${entry.reason ? `: "${entry.reason}"` : ''} (${entry.via})`);
  };

  setHandler(statusQuery, () => status);
  setHandler(approveUpdate, (args) => record('approved', args.by, args.comment, 'update'), {
    validator: validateApprove,
  });
  setHandler(rejectUpdate, (args) => record('rejected', args.by, args.reason, 'update'), { validator: validateReject });
  // Signals cannot be refused before they reach history: an invalid one is ignored, and the timeline says why.
  const guardedSignal =
    <A>(name: string, validate: (args: A) => void, apply: (args: A) => unknown) =>
    (args: A) => {
      try {
        validate(args);
        apply(args);
      } catch (err) {
        note(`ignored ${name} signal: ${errorMessage(err)}`);
      }
    };
  setHandler(
    approveSignal,
    guardedSignal('approve', validateApprove, (a) => record('approved', a.by, a.comment, 'signal')),
  );
  setHandler(
    rejectSignal,
    guardedSignal('reject', validateReject, (a) => record('rejected', a.by, a.reason, 'signal')),
  );
  const controls = [
    ['pause', pauseUpdate, pauseSignal],
    ['resume', resumeUpdate, resumeSignal],
    ['promote', promoteUpdate, promoteSignal],
    ['abort', abortUpdate, abortSignal],
  ] as const;
  for (const [action, update, signal] of controls) {
    setHandler(update, (args) => control(action, args, 'update'), {
      validator: (args) => validateControl(action, args),
    });
    setHandler(
      signal,
      guardedSignal(
        action,
        (a: ControlArgs) => validateControl(action, a),
        (a) => control(action, a, 'signal'),
      ),
    );
  }

  /** Waits for a person, or the timeout; the boolean is handled both ways. */
  async function awaitApproval(env: EnvironmentPlan): Promise<StageResult> {
    const deadline = new Date(Date.now() + env.approval.timeoutMs).toISOString();
    status.approval = { environment: env.name, approvers: env.approval.approvers, deadline };
    pendingDecision = undefined;
    enter(
      'AWAITING_APPROVAL',
      `waiting for approval of ${env.name} by ${env.approval.approvers.join(' or ')} until ${deadline}`,
    );
    const decided = await condition(() => pendingDecision !== undefined, env.approval.timeoutMs, {
      summary: `approval of ${env.name} by ${env.approval.approvers.join(' or ')}`,
    });
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

  const interrupted = () => requested.abort !== undefined || requested.promote !== undefined || !!status.paused;

  /**
   * Acts on what a person (or the analysis) asked for: waits while paused, up to the pause timeout; then an abort
   * throws StageAborted and a promote throws PromoteNow.
   */
  async function honourControls(env: EnvironmentPlan): Promise<void> {
    if (status.paused && !requested.abort && !requested.promote) {
      const decided = await condition(
        () => !status.paused || !!requested.abort || !!requested.promote,
        env.pauseTimeoutMs,
        { summary: `paused: wait up to ${formatDuration(env.pauseTimeoutMs)} for resume, promote or abort` },
      );
      if (!decided) {
        throw new StageAborted(
          'rolled-back',
          `paused for ${formatDuration(env.pauseTimeoutMs)} without a decision (pauseTimeout): ${status.paused?.reason ?? ''}`,
        );
      }
    }
    if (requested.abort) {
      const { by, reason } = requested.abort;
      throw new StageAborted('rolled-back', `aborted by ${by}${reason ? `: ${reason}` : ''}`);
    }
    if (requested.promote) throw new PromoteNow(requested.promote.by);
  }

  /** Sleeps for `ms`, waking early when a person pauses, promotes or aborts. */
  async function bake(ms: number, summary: string): Promise<void> {
    await condition(interrupted, ms, { summary });
  }

  /**
   * Samples the release every interval until `durationMs` has passed with at least one conclusive
   * sample. Throws StageAborted on a critical sample, on too many failing or unmeasurable samples, on an abort or
   * an unanswered pause; PromoteNow when a person promotes. Too many inconclusive samples pause for a person.
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
    let counts: AnalysisCounts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
    let conclusive = 0;
    let previous = '';
    for (;;) {
      // The previous sample's verdict rides on the next timer, so the UI's timeline shows every decision.
      await bake(analysis.interval, `bake ${env.name} at ${weight} %${previous}`);
      await honourControls(env);
      const judged = await measure(env, step, weight, stable);
      previous = ` (last sample ${judged.outcome}${judged.headline ? `: ${judged.headline}` : ''})`;
      const decision = decide(judged.outcome, counts, analysis, judged.reason);
      if (decision.action === 'rollback') throw new StageAborted('rolled-back', decision.reason);
      if (decision.action === 'pause') {
        pause(env, 'inconclusive', 'opsflow', decision.reason);
        await honourControls(env);
        counts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
        continue;
      }
      counts = decision;
      if (judged.outcome === 'healthy' || judged.outcome === 'warning') conclusive += 1;
      if (Date.now() - began >= durationMs && conclusive > 0) return;
    }
  }

  /** One sample: measured by the provider, judged here (so the decision and its evidence are in history). */
  async function measure(
    env: EnvironmentPlan,
    step: number,
    weight: number,
    stable: string | null,
  ): Promise<{ outcome: SampleOutcome; reason: string; headline?: string }> {
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
          },
        ],
      );
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
      status.samples.push(sample);
      status.lastSample = sample;
      setCurrentDetails(describeStatus(status));
      const p95 = measured.canary.p95Ms === null ? '–' : `${Math.round(measured.canary.p95Ms)} ms`;
      const errors = judged.errorRate === null ? '–' : `${(judged.errorRate * 100).toFixed(2)} %`;
      const headline = `${errors} errors, p95 ${p95}, ${measured.canary.requests} requests`;
      return { outcome: judged.verdict, reason: judged.reason, headline };
    } catch (err) {
      if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
      const reason = errorMessage(err.cause ?? err);
      note(`sample could not be measured: ${reason}`);
      return { outcome: 'unmeasured', reason };
    }
  }

  /**
   * Rolls an environment back. Recorded before this code existed: one platform call. Since: a saga of
   * compensations, newest first: canary traffic to 0 % (the fastest remedy), the new release scaled down, then
   * stable's health verified. A failing compensation is retried, then reported, and the next one still runs.
   */
  async function rollBack(env: EnvironmentPlan, reason: string, stable: string | null): Promise<string[]> {
    const ref = { deployId: input.deployId, environment: env.name, service: input.service, version: input.version };
    const rollback: RollbackStatus = { environment: env.name, reason, startedAt: now(), steps: [] };
    status.rollback = rollback;
    status.canary = undefined;
    enter('ROLLING_BACK', `rolling back ${env.name}: ${reason}`);
    const failures: string[] = [];
    const step = async (name: RollbackStep['step'], run: () => Promise<string>) => {
      try {
        const detail = await run();
        rollback.steps.push({ step: name, at: now(), ok: true, detail });
        note(`rollback ${name}: ${detail}`);
      } catch (err) {
        const detail = errorMessage(err);
        rollback.steps.push({ step: name, at: now(), ok: false, detail });
        failures.push(`${name}: ${detail}`);
        note(`rollback ${name} FAILED after retries: ${detail}`);
      }
    };
    await CancellationScope.nonCancellable(async () => {
      if (!patched(ROLLBACK_STEPS_PATCH)) {
        await step('rollback', async () => {
          const result = await rollbackActivities.rollbackRelease.executeWithOptions(
            { ...ROLLBACK_OPTIONS, summary: `roll back ${input.service} ${input.version} in ${env.name}` },
            [ref],
          );
          return result.detail;
        });
        return;
      }
      await step('traffic-to-zero', async () => {
        const result = await rollbackActivities.setTrafficWeight
          .executeWithOptions(
            { ...ROLLBACK_OPTIONS, summary: `rollback: route 0 % of ${env.name} to ${input.version}` },
            [{ deployId: input.deployId, environment: env.name, service: input.service, weight: 0 }],
          )
          .catch((err: unknown) => {
            // No canary left (never started, or already promoted and undone): nothing takes traffic.
            if (err instanceof ActivityFailure && failureType(err) === 'PlatformConflict') return undefined;
            throw err;
          });
        return result
          ? `canary ${input.version} gets 0 % of ${env.name}`
          : `no canary of ${input.version} takes traffic`;
      });
      await step('scale-down', async () => {
        const result = await rollbackActivities.rollbackRelease.executeWithOptions(
          { ...ROLLBACK_OPTIONS, summary: `rollback: stop ${input.service} ${input.version} in ${env.name}` },
          [ref],
        );
        return result.detail;
      });
      if (stable) await step('verify-stable', () => verifyStable(env, stable));
    });
    rollback.endedAt = now();
    return failures;
  }

  /** After a rollback: one interval of stable's own traffic, judged on absolute thresholds. */
  async function verifyStable(env: EnvironmentPlan, stable: string): Promise<string> {
    await sleep(env.analysis.interval, { summary: `rollback: let ${stable} serve ${env.name} alone` });
    const measured = await metrics.measure.executeWithOptions(
      { ...MEASURE_OPTIONS, summary: `rollback: verify ${input.service} ${stable} in ${env.name}` },
      [
        {
          environment: env.name,
          service: input.service,
          version: stable,
          stableVersion: null,
          windowMs: env.analysis.interval,
          ...(env.analysis.provider !== 'local' ? { provider: env.analysis.provider } : {}),
        },
      ],
    );
    const judged = analyseWindow(measured.canary, { ...env.analysis, custom: [] });
    if (judged.verdict === 'critical' || judged.verdict === 'failing') {
      throw ApplicationFailure.nonRetryable(
        `${stable} is unhealthy after the rollback: ${judged.reason}`,
        'StableUnhealthy',
      );
    }
    return `${stable} ${judged.verdict}: ${judged.reason}`;
  }

  async function deployEnvironment(env: EnvironmentPlan): Promise<StageResult> {
    status.environment = env.name;
    if (env.approval.required) {
      const approval = await awaitApproval(env);
      if (!approval.ok) return approval;
    }
    const ref = { deployId: input.deployId, environment: env.name, service: input.service, version: input.version };
    const stable = status.previousVersions[env.name] ?? null;
    requested.abort = undefined;
    requested.promote = undefined;
    enter('DEPLOYING', `starting ${input.service} ${input.version} in ${env.name} beside ${stable ?? 'nothing'}`);
    // From here on a failure, an abort or a cancellation rolls the environment back (rollback is idempotent).
    try {
      const started = await platform.startRelease.executeWithOptions(
        { ...PLATFORM_OPTIONS, summary: `start ${input.service} ${input.version} in ${env.name}` },
        [ref],
      );
      if (started.alreadyPromoted) {
        note(`${env.name} already runs ${input.version} from this deploy`);
        return { ok: true };
      }
      await honourControls(env);
      if (env.strategy === 'direct') {
        await setWeight(env, 100);
        enter('VERIFYING', `verifying ${env.name} for ${formatDuration(env.verifyMs)}`);
        await analyse(env, -1, 100, env.verifyMs, stable);
      } else if (env.strategy === 'blue-green') {
        await blueGreen(env, stable);
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
      if (err instanceof PromoteNow) {
        note(`remaining steps skipped: ${err.message}`);
      } else {
        const aborted = err instanceof StageAborted ? err : undefined;
        const reason = aborted?.reason ?? errorMessage(err);
        status.paused = undefined;
        const failures = await rollBack(env, reason, stable);
        if (isCancellation(err)) throw err;
        if (failures.length) {
          return { ok: false, outcome: 'failed', reason: `${reason}; rollback incomplete: ${failures.join('; ')}` };
        }
        return { ok: false, outcome: aborted?.outcome ?? 'failed', reason };
      }
    }
    status.paused = undefined;
    enter('PROMOTING', `promoting ${input.version} to 100 % of ${env.name}`);
    await platform.promoteRelease.executeWithOptions(
      { ...PLATFORM_OPTIONS, summary: `promote ${input.service} ${input.version} in ${env.name}` },
      [ref],
    );
    status.canary = undefined;
    status.blueGreen = undefined;
    note(`${env.name} now runs ${input.version}`);
    return { ok: true };
  }

  /**
   * Green beside blue (health-checked by the platform before it counts as started), all traffic switched at once,
   * verified by analysis; then blue is kept warm while analysis goes on, so a switch back is instant; then blue
   * retires with the promotion.
   */
  async function blueGreen(env: EnvironmentPlan, blue: string | null): Promise<void> {
    const { verifyMs, keepBlueMs } = env.blueGreen;
    status.blueGreen = { environment: env.name, blue, green: input.version, stage: 'green-started' };
    note(`green ${input.version} is up beside blue ${blue ?? '(none)'}`);
    await setWeight(env, 100, `switch 100 % of ${env.name} to green ${input.version}`);
    status.blueGreen.stage = 'switched';
    enter('BLUE_GREEN', `switched ${env.name} to green ${input.version}; verifying for ${formatDuration(verifyMs)}`);
    await analyse(env, 0, 100, verifyMs, blue);
    if (keepBlueMs > 0) {
      const until = new Date(Date.now() + keepBlueMs).toISOString();
      status.blueGreen = { ...status.blueGreen, stage: 'blue-warm', keepBlueUntil: until };
      note(`green verified; blue ${blue ?? ''} stays warm until ${until} for an instant switch back`);
      await analyse(env, 1, 100, keepBlueMs, blue);
    }
  }

  async function setWeight(env: EnvironmentPlan, weight: number, summary?: string): Promise<void> {
    await platform.setTrafficWeight.executeWithOptions(
      { ...PLATFORM_OPTIONS, summary: summary ?? `route ${weight} % of ${env.name} to ${input.version}` },
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
    if (plan.fallback) note(`the model's plan was not used: ${plan.fallback.reason}; the offline plan stands`);
    for (const adjustment of plan.adjustments ?? []) note(`plan tightened to the safety bounds: ${adjustment}`);
    const planned = plannedEnvironments(plan, input.environments);
    if (planned) {
      environments = planned;
      note(`rollout from the plan: ${planned.map(describeRollout).join('; ')}`);
    }
    outcome = 'promoted';
    for (const env of environments) {
      const result = await deployEnvironment(env);
      if (!result.ok) {
        outcome = result.outcome;
        reason = result.reason;
        break;
      }
    }
    if (outcome === 'promoted') reason = `${input.version} runs in ${environments.map((e) => e.name).join(' and ')}`;
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
  await CancellationScope.nonCancellable(() => notifyParent(result));
  if (cancelled) throw cancelled;
  if (outcome === 'failed') {
    throw ApplicationFailure.nonRetryable(`deploy failed: ${reason}`, 'DeployFailed', result);
  }
  return result;
}

/** Recorded histories before the rollback became a saga of three steps replay the single call. */
const ROLLBACK_STEPS_PATCH = 'rollback-saga-steps';

/** Tells the parent (the ops agent) how the deploy ended; a parent that is gone is no reason to fail. */
async function notifyParent(result: DeployResult): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) return;
  try {
    // No run id: the signal reaches the agent's current run, also after it continued as new.
    await getExternalWorkflowHandle(parent.workflowId).signal(deployFinishedSignal, result);
  } catch (err) {
    log.warn('could not tell the parent workflow how the deploy ended', {
      parent: parent.workflowId,
      error: String(err),
    });
  }
}

/** The rollout the plan settled on, when it differs from the configured one (the planner may only tighten it). */
function plannedEnvironments(plan: Plan, configured: EnvironmentPlan[]): EnvironmentPlan[] | undefined {
  const planned = plan.environments;
  if (!planned || planned.length === 0) return undefined;
  return JSON.stringify(planned) === JSON.stringify(configured) ? undefined : planned;
}

function describeRollout(env: EnvironmentPlan): string {
  if (env.strategy === 'canary')
    return `${env.name}: ${env.steps.map((s) => `${s.weight} %/${formatDuration(s.bake)}`).join(' → ')}`;
  if (env.strategy === 'blue-green') return `${env.name}: blue-green, verify ${formatDuration(env.blueGreen.verifyMs)}`;
  return `${env.name}: direct, verify ${formatDuration(env.verifyMs)}`;
}

function failureType(err: ActivityFailure): string | undefined {
  return err.cause instanceof ApplicationFailure ? (err.cause.type ?? undefined) : undefined;
}

const FINAL_PHASE: Record<Outcome, Phase> = {
  promoted: 'PROMOTED',
  'rolled-back': 'ROLLED_BACK',
  rejected: 'CANCELLED',
  'approval-timed-out': 'CANCELLED',
  failed: 'FAILED',
};

function waitingEnvironment(
  status: DeployStatus,
  input: DeployInput,
  environments: EnvironmentPlan[],
): EnvironmentPlan {
  const env = environments.find((e) => e.name === status.approval?.environment);
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
  if (status.blueGreen) {
    const bg = status.blueGreen;
    lines.push(
      `blue-green: ${bg.stage}, green ${bg.green}, blue ${bg.blue ?? '-'}${bg.keepBlueUntil ? ` warm until ${bg.keepBlueUntil}` : ''}`,
    );
  }
  if (status.paused) {
    const p = status.paused;
    lines.push(`paused by ${p.by}: ${p.reason}; rolls back at ${p.deadline} unless resumed, promoted or aborted`);
  }
  if (status.approval)
    lines.push(`waiting for ${status.approval.approvers.join(' or ')} until ${status.approval.deadline}`);
  if (status.lastSample) lines.push(describeSample(status.lastSample));
  if (status.reason) lines.push(status.reason);
  return lines.join('\n\n');
}

/** The last sample as a markdown table: each metric, its value, its limits, its verdict. */
function describeSample(sample: AnalysisSample): string {
  const head = `last sample (${sample.environment} at ${sample.weight} %): **${sample.verdict}** over ${sample.canary.requests} requests`;
  if (sample.checks.length === 0) return `${head}: ${sample.reason}`;
  const rows = sample.checks.map((c) => {
    const limits =
      c.kind === 'comparison'
        ? `stable ${fmt(c.baseline, c.unit)}, limit ${fmt(c.limit, c.unit)}`
        : `warn ${fmt(c.warn, c.unit)}, critical ${fmt(c.critical, c.unit)}`;
    return `| ${c.metric} | ${fmt(c.value, c.unit)} | ${limits} | ${c.verdict} |`;
  });
  return [head, '', '| metric | canary | limits | verdict |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

function fmt(value: number | null | undefined, unit: 'ratio' | 'ms' | 'value'): string {
  if (value === null || value === undefined) return '-';
  if (unit === 'ratio') return `${(value * 100).toFixed(2)} %`;
  if (unit === 'ms') return `${Math.round(value)} ms`;
  return String(Math.round(value * 1000) / 1000);
}
