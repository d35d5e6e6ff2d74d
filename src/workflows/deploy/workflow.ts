import { ApplicationFailure, isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  deployInputSchema,
  errorCause,
  planSchema,
  type DeployInput,
  type DeployResult,
  type EnvironmentPlan,
  type Outcome,
  type Phase,
  type Plan,
  type StopCause,
} from '../../shared/deploy';
import { statusQuery } from '../../shared/deploy/messages';
import { formatDuration } from '../../shared/duration';
import { ErrorType } from '../../shared/errors';
import { clampPlan } from '../../shared/plan-clamp';
import { SERVICE_ATTRIBUTE } from '../../shared/search-attributes';
import { canonicalJson } from '../../shared/signing';
import { local, LOCAL_OPTIONS } from './proxies';
import { registerApprovalHandlers } from './approval';
import { registerControlHandlers } from './controls';
import { registerFreezeHandlers } from './freeze';
import { withJudgementRules } from './analysis';
import { deployEnvironment } from './environment';
import { notifyParent, writeReport } from './report';
import { DeployState } from './state';
import { notify, settleNotifications } from './notify';
import { isProtected, loadPolicy, publishSigningTarget } from './trust';

/** Deploys recorded before the plan's answer was checked and clamped again in the workflow took it as answered. */
const PLAN_CHECK_PATCH = 'plan-checked';

const FINAL_PHASE: Record<Outcome, Phase> = {
  promoted: 'PROMOTED',
  'rolled-back': 'ROLLED_BACK',
  rejected: 'CANCELLED',
  'approval-timed-out': 'CANCELLED',
  failed: 'FAILED',
};

/**
 * One change, one execution: plan, then for each environment of the pipeline (staging, production) an approval
 * where required, the strategy's ramp (direct, canary or blue-green) with health analysis, promotion or automated
 * rollback; every ending writes the handoff report and tells the parent agent.
 */
export async function deploy(rawInput: DeployInput): Promise<DeployResult> {
  const parsed = deployInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid deploy input: ${parsed.error.issues[0]?.message}`,
      ErrorType.InvalidInput,
    );
  }
  const input = parsed.data;
  const startedMs = Date.now();
  const state = new DeployState(input, workflowInfo().typedSearchAttributes.get(SERVICE_ATTRIBUTE) !== undefined);
  const { status } = state;
  setHandler(statusQuery, () => status);
  registerApprovalHandlers(state);
  registerControlHandlers(state);
  registerFreezeHandlers(state);

  let outcome: Outcome = 'failed';
  let reason = '';
  let cause: StopCause | undefined;
  let cancelled: unknown;
  try {
    await loadPolicy(state);
    await plan(state);
    outcome = 'promoted';
    for (const env of state.rollout) {
      const result = await deployEnvironment(state, env);
      if (!result.ok) {
        ({ outcome, reason, cause } = result);
        break;
      }
    }
    if (outcome === 'promoted') reason = `${input.version} runs in ${state.rollout.map((e) => e.name).join(' and ')}`;
  } catch (err) {
    outcome = 'failed';
    if (isCancellation(err)) {
      cancelled = err;
      reason = 'the deploy was cancelled';
      cause = { kind: 'cancelled' };
    } else {
      cause = errorCause(err);
      reason = cause.message;
    }
  }

  const finalPhase = FINAL_PHASE[outcome];
  status.outcome = outcome;
  status.reason = reason;
  if (cause) status.cause = cause;
  state.enter('REPORTING', `${outcome}: ${reason}`);
  await writeReport(state, finalPhase);
  state.enter(finalPhase, `report written to ${status.report?.dir}`);

  const result: DeployResult = {
    deployId: input.deployId,
    service: input.service,
    version: input.version,
    outcome,
    reason,
    phase: finalPhase,
    durationMs: Date.now() - startedMs,
    report: status.report ?? null,
    ...(cause ? { cause } : {}),
    environments: status.results ?? [],
  };
  notifyOutcome(state, result);
  await notifyParent(result);
  await settleNotifications(state);
  if (cancelled) throw cancelled;
  if (outcome === 'failed') {
    throw ApplicationFailure.nonRetryable(`deploy failed: ${reason}`, ErrorType.DeployFailed, result);
  }
  return result;
}

/** Tells people how the deploy ended, unless its rollback already did: a failure where approval is needed pages. */
function notifyOutcome(state: DeployState, result: DeployResult): void {
  if (!state.notifications || state.notifications.stopTold) return;
  const environment = state.status.environment;
  const where = environment ? { environment } : {};
  const reason = result.reason.slice(0, 2000);
  if (result.outcome === 'promoted') {
    notify(state, 'deploy.promoted', 'info', { ...where, environments: state.rollout.map((e) => e.name) });
  } else if (result.outcome === 'failed') {
    notify(state, 'deploy.failed', isProtected(state, environment) ? 'critical' : 'warning', { ...where, reason });
  } else {
    notify(state, 'deploy.cancelled', 'info', { ...where, reason });
  }
}

/** Plans the rollout; the plan may only tighten the configured one, and the timeline says how. */
async function plan(state: DeployState): Promise<void> {
  const { input } = state;
  state.enter(
    'PLANNING',
    `planning ${input.service} ${input.version} through ${input.environments.map((e) => e.name).join(' → ')}`,
  );
  const answered = await local.plan.executeWithOptions(
    { ...LOCAL_OPTIONS, summary: `plan ${input.service} ${input.version}` },
    [{ input }],
  );
  const plan = patched(PLAN_CHECK_PATCH) ? checkedPlan(state, answered) : answered;
  state.status.plan = plan;
  state.note(`plan (${plan.source}): ${plan.risk} risk; ${plan.rationale}`);
  if (plan.fallback) state.note(`the model's plan was not used: ${plan.fallback.reason}; the offline plan stands`);
  for (const adjustment of plan.adjustments ?? []) state.note(`plan tightened to the safety bounds: ${adjustment}`);
  const planned = plannedEnvironments(plan, input.environments);
  state.startRollout(withJudgementRules(planned ?? input.environments), plan.currentVersions);
  publishSigningTarget(state);
  if (planned) state.note(`rollout from the plan: ${planned.map(describeRollout).join('; ')}`);
  notify(state, 'deploy.started', 'info', { environments: state.rollout.map((e) => e.name) });
}

/**
 * The plan activity's answer, checked again where it is used: anyone with namespace access can complete that activity,
 * so a malformed answer ends the deploy in one line, and a rollout looser than the configured bounds is clamped again
 * (the timeline says what changed).
 */
function checkedPlan(state: DeployState, answered: unknown): Plan {
  const parsed = planSchema.safeParse(answered);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw ApplicationFailure.nonRetryable(
      `the plan answer is malformed (${issue?.path.join('.') || 'plan'}: ${issue?.message})`,
      ErrorType.InvalidInput,
    );
  }
  const plan = parsed.data;
  if (!plan.environments?.length) return plan;
  const clamped = clampPlan(state.input.environments, plan.environments);
  if (canonicalJson(clamped.environments) === canonicalJson(plan.environments)) return plan;
  for (const adjustment of clamped.adjustments) state.note(`the plan's answer was clamped again: ${adjustment}`);
  return { ...plan, environments: clamped.environments };
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
