import { condition, setHandler } from '@temporalio/workflow';
import {
  approveArgsSchema,
  rejectArgsSchema,
  type ApprovalRecord,
  type ApproveArgs,
  type EnvironmentPlan,
  type RejectArgs,
} from '../../shared/deploy';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from '../../shared/deploy/messages';
import { formatDuration } from '../../shared/duration';
import type { StageResult } from './stage';
import { guardedSignal } from './signals';
import { now, type DeployState } from './state';

/** Registers approve and reject, as Updates with validators and as Signals for the UI and `temporal workflow signal`. */
export function registerApprovalHandlers(state: DeployState): void {
  const { input } = state;
  const validateApprove = (args: ApproveArgs): void => {
    const { by } = approveArgsSchema.parse(args);
    const env = waitingEnvironment(state);
    if (!env.approval.approvers.includes(by)) {
      throw new Error(`${by} is not an approver for ${env.name}; approvers: ${env.approval.approvers.join(', ')}`);
    }
    if (by === input.requestedBy && !env.approval.allowSelfApproval) {
      throw new Error(`${by} requested this deploy and cannot approve it too (approval.allowSelfApproval is off)`);
    }
  };
  const validateReject = (args: RejectArgs): void => {
    const { by } = rejectArgsSchema.parse(args);
    const env = waitingEnvironment(state);
    if (!env.approval.approvers.includes(by) && by !== input.requestedBy) {
      throw new Error(`${by} is neither an approver for ${env.name} nor the requester`);
    }
  };
  const record = (
    decision: 'approved' | 'rejected',
    by: string,
    comment: string | undefined,
    via: 'update' | 'signal',
  ): ApprovalRecord => {
    const entry: ApprovalRecord = {
      environment: state.status.environment ?? '',
      decision,
      by,
      at: now(),
      via,
      ...(comment ? { comment } : {}),
    };
    state.pendingDecision = entry;
    state.status.approvals.push(entry);
    state.note(`${decision} by ${by}${comment ? `: "${comment}"` : ''} (${via})`);
    return entry;
  };

  setHandler(approveUpdate, (args) => record('approved', args.by, args.comment, 'update'), {
    validator: validateApprove,
  });
  setHandler(rejectUpdate, (args) => record('rejected', args.by, args.reason, 'update'), { validator: validateReject });
  setHandler(
    approveSignal,
    guardedSignal(state, 'approve', validateApprove, (a) => record('approved', a.by, a.comment, 'signal')),
  );
  setHandler(
    rejectSignal,
    guardedSignal(state, 'reject', validateReject, (a) => record('rejected', a.by, a.reason, 'signal')),
  );
}

/** Waits for a person, or the timeout; the boolean is handled both ways. */
export async function awaitApproval(state: DeployState, env: EnvironmentPlan): Promise<StageResult> {
  const { approvers, timeoutMs } = env.approval;
  const requestedAt = now();
  const deadline = new Date(Date.now() + timeoutMs).toISOString();
  const result = state.result(env.name);
  result.approval = { requestedAt };
  state.status.approval = { environment: env.name, approvers, deadline };
  state.pendingDecision = undefined;
  state.enter(
    'AWAITING_APPROVAL',
    `waiting for approval of ${env.name} by ${approvers.join(' or ')} until ${deadline}`,
  );
  const decided = await condition(() => state.pendingDecision !== undefined, timeoutMs, {
    summary: `approval of ${env.name} by ${approvers.join(' or ')}`,
  });
  state.status.approval = undefined;
  // Set by a handler while we waited; TypeScript cannot see that.
  const decision = state.pendingDecision as ApprovalRecord | undefined;
  if (!decided || !decision) {
    result.approval = { requestedAt, decidedAt: now(), decision: 'timed-out' };
    return {
      ok: false,
      outcome: 'approval-timed-out',
      reason: `no approval for ${env.name} within ${formatDuration(timeoutMs)}`,
      cause: { kind: 'approval-timeout', timeoutMs },
    };
  }
  result.approval = { requestedAt, decidedAt: decision.at, decision: decision.decision, by: decision.by };
  if (decision.decision === 'rejected') {
    return {
      ok: false,
      outcome: 'rejected',
      reason: `${env.name} rejected by ${decision.by}: ${decision.comment ?? ''}`,
      cause: { kind: 'rejected', by: decision.by },
    };
  }
  return { ok: true };
}

function waitingEnvironment(state: DeployState): EnvironmentPlan {
  const { status } = state;
  const env = state.rollout.find((e) => e.name === status.approval?.environment);
  if (status.phase !== 'AWAITING_APPROVAL' || !env) {
    throw new Error(`deploy ${state.input.deployId} is ${status.phase}, not waiting for an approval`);
  }
  return env;
}
