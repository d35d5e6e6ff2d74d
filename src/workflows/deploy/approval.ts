import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  approveArgsSchema,
  describeChat,
  personOf,
  rejectArgsSchema,
  type ApprovalRecord,
  type ApproveArgs,
  type EnvironmentPlan,
  type EnvironmentPolicy,
  type RejectArgs,
} from '../../shared/deploy';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from '../../shared/deploy/messages';
import { formatDuration } from '../../shared/duration';
import { fingerprintOf, type ChatVia, type SignedStatement } from '../../shared/signing';
import { escalationOf, notify } from './notify';
import type { StageResult } from './stage';
import { guardedSignal } from './signals';
import { now, type DeployState } from './state';
import {
  environmentPolicy,
  identify,
  planHash,
  refuseUndecodable,
  requireApprover,
  requesterOf,
  signingRunId,
} from './trust';

/** Who decided, as the validator proved it; the handler proves it again (validators do not run on replay or Signals). */
interface Decider {
  person: string;
  nonce?: string;
  /** The chat bridge, platform and user it came through, when a bridge signed it. */
  through?: ChatVia;
}

/** Registers approve and reject, as Updates with validators and as Signals for the UI and `temporal workflow signal`. */
export function registerApprovalHandlers(state: DeployState): void {
  const validateApprove = (args: ApproveArgs): Decider => {
    refuseUndecodable(args);
    const parsed = approveArgsSchema.parse(args);
    const env = waitingEnvironment(state);
    const { person, groups, nonce, through } = identify(state, env, 'approve', parsed.by, parsed.signed);
    requireApprover(state, env, person, groups);
    const rules = environmentPolicy(state, env);
    const allowSelf = rules?.allowSelfApproval ?? env.approval.allowSelfApproval;
    const self = allowSelf ? undefined : requesterOf(state, person);
    if (self === 'name') {
      throw new Error(`${person} requested this deploy and cannot approve it too (approval.allowSelfApproval is off)`);
    }
    if (self === 'key') {
      throw new Error(
        `${person} signs with the requester's key (${state.status.requester?.person}, ${state.status.requester?.fingerprint}) ` +
          'and cannot approve this deploy (approval.allowSelfApproval is off)',
      );
    }
    if (approvedBy(state, env.name).includes(person)) {
      throw new Error(
        `${person} already approved ${env.name}: ${rules?.required ?? 1} approvals must come from different people`,
      );
    }
    return { person, ...(nonce ? { nonce } : {}), ...(through ? { through } : {}) };
  };
  const validateReject = (args: RejectArgs): Decider => {
    refuseUndecodable(args);
    const parsed = rejectArgsSchema.parse(args);
    const env = waitingEnvironment(state);
    const { person, groups, nonce, through } = identify(state, env, 'reject', parsed.by, parsed.signed);
    // The requester may withdraw their own deploy; anyone else must be an approver.
    if (!requesterOf(state, person)) requireApprover(state, env, person, groups);
    return { person, ...(nonce ? { nonce } : {}), ...(through ? { through } : {}) };
  };
  const record = (
    decision: 'approved' | 'rejected',
    decider: Decider,
    comment: string | undefined,
    via: 'update' | 'signal',
    signed: SignedStatement | undefined,
  ): ApprovalRecord => {
    const entry: ApprovalRecord = {
      environment: state.status.environment ?? '',
      decision,
      by: decider.person,
      at: now(),
      via,
      ...(comment ? { comment } : {}),
      ...(decider.nonce ? { signedNonce: decider.nonce } : {}),
      ...(decider.through ? { through: decider.through } : {}),
    };
    if (decider.nonce) state.usedNonces.add(decider.nonce);
    if (decision === 'approved' && decider.nonce && signed) {
      const evidence = state.approvalEvidence.get(entry.environment) ?? [];
      state.approvalEvidence.set(entry.environment, [...evidence, signed]);
    }
    state.pendingDecision = entry;
    state.status.approvals.push(entry);
    if (decision === 'approved' && state.status.approval) {
      state.status.approval.approvedBy = approvedBy(state, entry.environment);
    }
    const proof = decider.through
      ? `, signed by the chat bridge ${decider.through.bridge}`
      : decider.nonce
        ? ', signed'
        : state.policy?.trustTypedNames
          ? ', typed name'
          : '';
    const chat = decider.through ? ` ${describeChat(decider.through)}` : '';
    state.note(`${decision} by ${decider.person}${chat}${comment ? `: "${comment}"` : ''} (${via}${proof})`);
    return entry;
  };

  setHandler(approveUpdate, (args) => record('approved', validateApprove(args), args.comment, 'update', args.signed), {
    validator: (args) => void validateApprove(args),
  });
  setHandler(rejectUpdate, (args) => record('rejected', validateReject(args), args.reason, 'update', args.signed), {
    validator: (args) => void validateReject(args),
  });
  setHandler(
    approveSignal,
    guardedSignal(state, 'approve', validateApprove, (a) =>
      record('approved', validateApprove(a), a.comment, 'signal', a.signed),
    ),
  );
  setHandler(
    rejectSignal,
    guardedSignal(state, 'reject', validateReject, (a) =>
      record('rejected', validateReject(a), a.reason, 'signal', a.signed),
    ),
  );
}

/** The distinct people who approved an environment so far. */
function approvedBy(state: DeployState, environment: string): string[] {
  const people = state.status.approvals
    .filter((a) => a.environment === environment && a.decision === 'approved')
    .map((a) => a.by);
  return [...new Set(people)];
}

/** Enough approvals by distinct people and distinct keys, from every required group. */
function approvalComplete(state: DeployState, env: EnvironmentPlan, rules: EnvironmentPolicy | undefined): boolean {
  const people = approvedBy(state, env.name);
  const keys = new Set(people.map((p) => keyOf(state, p)));
  if (Math.min(people.length, keys.size) < (rules?.required ?? 1)) return false;
  const groupsOf = (person: string) => personOf(state.policy, person)?.groups ?? [];
  return (rules?.requireGroups ?? []).every((group) => people.some((p) => groupsOf(p).includes(group)));
}

/** A person's key (its fingerprint), or their name where the policy has no key for them. */
function keyOf(state: DeployState, person: string): string {
  const key = personOf(state.policy, person)?.publicKey;
  try {
    return key ? fingerprintOf(key) : `name:${person}`;
  } catch {
    return `name:${person}`;
  }
}

/** Waits for people, or the timeout; the boolean is handled both ways. */
export async function awaitApproval(state: DeployState, env: EnvironmentPlan): Promise<StageResult> {
  const rules = environmentPolicy(state, env);
  const approvers = rules?.approvers ?? env.approval.approvers;
  const timeoutMs = rules?.timeoutMs ?? env.approval.timeoutMs;
  const requestedAt = now();
  const deadline = new Date(Date.now() + timeoutMs).toISOString();
  const result = state.result(env.name);
  result.approval = { requestedAt };
  state.status.approval = {
    environment: env.name,
    approvers,
    deadline,
    ...(rules
      ? {
          required: rules.required,
          requireGroups: rules.requireGroups,
          approvedBy: [],
          runId: signingRunId(state),
          namespace: workflowInfo().namespace,
          planHash: planHash(env),
          signed: !state.policy?.trustTypedNames && rules.signed.includes('approve'),
        }
      : {}),
  };
  state.pendingDecision = undefined;
  const needed = rules && rules.required > 1 ? `${rules.required} of ` : '';
  state.enter(
    'AWAITING_APPROVAL',
    `waiting for approval of ${env.name} by ${needed}${approvers.join(' or ')} until ${deadline}`,
  );
  const required = rules?.required ?? 1;
  notify(state, 'approval.requested', 'warning', { environment: env.name, approvers, required, deadline });
  const done = () => state.pendingDecision?.decision === 'rejected' || approvalComplete(state, env, rules);
  const summary = `approval of ${env.name} by ${needed}${approvers.join(' or ')}`;
  // Reminders at the environment's escalation times (the second and later page); one wait when there are none.
  let waited = 0;
  let decided = false;
  for (const [i, at] of escalationOf(state, env.name)
    .approvalRemindersMs.filter((ms) => ms < timeoutMs)
    .entries()) {
    decided = await condition(done, at - waited, { summary: `${summary}; reminder ${i + 1} after that` });
    waited = at;
    if (decided) break;
    notify(state, 'approval.reminder', i >= 1 ? 'critical' : 'warning', {
      environment: env.name,
      approvers,
      level: i + 1,
      waitingMs: at,
      deadline,
    });
  }
  if (!decided) decided = await condition(done, timeoutMs - waited, { summary });
  state.status.approval = undefined;
  // Set by a handler while we waited; TypeScript cannot see that.
  const decision = state.pendingDecision as ApprovalRecord | undefined;
  const approvals = approvedBy(state, env.name).length;
  notify(state, 'approval.decided', 'info', {
    environment: env.name,
    decision: decided && decision ? decision.decision : 'timed-out',
    ...(decided && decision ? { by: decision.by } : {}),
    approvals,
    required,
  });
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
