import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import {
  bridgeKeyOf,
  deployIdProblem,
  effectivePolicy,
  isApprover,
  needsSignature,
  personOf,
  planOf,
  refuseChat,
  refusalDetails,
  requestHashOf,
  deployPolicySchema,
  type Authority,
  type DeployPolicy,
  type EnvironmentPlan,
  type EnvironmentPolicy,
  type PolicyRefusal,
  type RolloutEnvironment,
} from '../../shared/deploy';
import { ErrorType } from '../../shared/errors';
import {
  fingerprintOf,
  hashOf,
  refuseStart,
  refuseStatement,
  type ChatVia,
  type SignedAction,
  type SignedStatement,
} from '../../shared/signing';
import { describeUndecodable, isUndecodable } from '../../shared/undecodable';
import { startNotifications } from './notify';
import { local, LOCAL_OPTIONS } from './proxies';
import type { DeployState } from './state';

/** Deploys recorded before the worker's policy existed trust the request's approval settings and typed names. */
const WORKER_POLICY_PATCH = 'worker-policy';
/** Deploys recorded before the one deploy id pattern took any safe id. */
const DEPLOY_ID_PATCH = 'deploy-id-pattern';
/** Deploys recorded before signed starts knew their requester by a typed name only. */
const SIGNED_START_PATCH = 'signed-start';
/**
 * Deploys recorded before statements were bound to their run: decisions bound to the first run's id (which cron, retry
 * and reset runs share), the policy's answer was taken unchecked and a signed start counted in any run of its chain.
 */
const RUN_BOUND_PATCH = 'run-bound-statements';

/**
 * The gate before anything runs: the deploy id follows the one pattern and names what it deploys; the worker's policy
 * is asked for (so it is in history, and replays) and a request that would loosen it is refused; the requester is
 * established from the signed start, or the start is refused where the policy needs one. Histories from before each
 * check replay without it.
 */
export async function loadPolicy(state: DeployState): Promise<void> {
  if (!patched(WORKER_POLICY_PATCH)) return;
  if (patched(DEPLOY_ID_PATCH)) {
    const { deployId } = state.input;
    const problem =
      deployIdProblem(deployId, state.input) ??
      (deployId === workflowInfo().workflowId ? undefined : `the deploy id ${deployId} is not this workflow's id`);
    if (problem) throw ApplicationFailure.nonRetryable(problem, ErrorType.InvalidInput);
  }
  const answered = await local.workerPolicy.executeWithOptions(
    { ...LOCAL_OPTIONS, summary: "the worker's approval policy" },
    [],
  );
  state.runBound = patched(RUN_BOUND_PATCH);
  const policy = state.runBound ? checkedPolicy(answered) : answered;
  state.policy = policy;
  state.status.trust = { mode: policy.trustTypedNames ? 'typed-names' : 'signed', source: policy.source };
  for (const env of state.input.environments) {
    const effective = effectivePolicy(env.approval, policy, env.name);
    if (!effective.ok) throw refused(effective.reason, 'loosening');
  }
  if (policy.trustTypedNames) {
    state.note(`approvals trust typed names (demo mode, ${policy.source}): nobody's identity is proven`);
  }
  if (patched(SIGNED_START_PATCH)) await establishRequester(state, policy);
  startNotifications(state, policy);
}

/**
 * The policy activity's answer, checked: anyone with namespace access can complete that activity, so a malformed
 * answer ends the deploy in one line instead of failing its workflow tasks. A well-formed forgery gets no further than
 * the first protected change: the activity making it checks the evidence against its own worker's policy.
 */
function checkedPolicy(answered: unknown): DeployPolicy {
  const parsed = deployPolicySchema.safeParse(answered);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw refused(
      `the worker's policy answer is malformed (${issue?.path.join('.') || 'policy'}: ${issue?.message})`,
      'policy-answer',
    );
  }
  return parsed.data;
}

/** The run id a signed statement binds to: this run's (the first run's in deploys recorded before). */
export function signingRunId(state: DeployState): string {
  const info = workflowInfo();
  return state.runBound ? info.runId : info.firstExecutionRunId;
}

/**
 * What this deploy presents with a change to an environment that needs approval: the approved rollout, the signed
 * approvals that counted and the requester's signed start. The activity checks it against its own worker's policy.
 */
export function authorityFor(state: DeployState, env: EnvironmentPlan): Authority | undefined {
  const overrides = state.overrideEvidence.get(env.name);
  if (!state.policy || (!needsApproval(state, env) && !overrides)) return undefined;
  const signedStart = state.status.requester?.signed ? state.input.signedStart : undefined;
  return {
    plan: planOf(env),
    approvals: state.approvalEvidence.get(env.name) ?? [],
    ...(signedStart ? { signedStart } : {}),
    ...(overrides ? { overrides } : {}),
  };
}

/**
 * Who asked for the deploy: the person whose signed start verifies against the worker's policy (the typed
 * --requested-by then counts for nothing), or the typed name where the policy lets an unsigned start through. A start
 * the policy needs signed and is not, or whose signature does not hold, ends the deploy before anything runs.
 */
async function establishRequester(state: DeployState, policy: DeployPolicy): Promise<void> {
  const { input, status } = state;
  const required = policy.trustTypedNames
    ? []
    : input.environments.filter((env) => environmentPolicy(state, env)?.signedStart).map((env) => env.name);
  const signed = input.signedStart;
  if (signed) {
    const info = workflowInfo();
    // A cron, retry or continued run reuses its chain's input: the start was signed for the chain's first run.
    const reused =
      state.runBound && info.continuedFromExecutionRunId
        ? `the signed start was used by an earlier run of this chain (this run continues ${info.continuedFromExecutionRunId}); a signed start starts one run`
        : undefined;
    let refusal =
      reused ??
      refuseStart(
        signed,
        {
          namespace: info.namespace,
          workflowId: info.workflowId,
          service: input.service,
          version: input.version,
          environments: input.environments.map((env) => env.name),
          requestHash: requestHashOf(input),
          // When the server started the deploy, not when a worker first ran it: a start queued while no worker polls
          // does not expire in the queue.
          nowMs: info.startTime.getTime(),
        },
        (person) => personOf(policy, person)?.publicKey,
      );
    const key = personOf(policy, signed.statement.person)?.publicKey;
    // The server's records, asked by the worker: no other run of this deploy id used it, no start delay outlived it.
    if (!refusal && key && state.runBound) {
      const ledger = await local.checkSignedStart.executeWithOptions(
        { ...LOCAL_OPTIONS, summary: 'has this signed start started another run?' },
        [signed],
      );
      refusal = ledger.refusal;
    }
    if (!refusal && key) {
      const person = signed.statement.person;
      const fingerprint = fingerprintOf(key);
      const typed = input.requestedBy !== person ? input.requestedBy : undefined;
      status.requester = { person, signed: true, fingerprint, ...(typed ? { typed } : {}) };
      status.requestedBy = person;
      state.usedNonces.add(signed.statement.nonce);
      state.note(
        `requested by ${person}, signed with ${fingerprint}` +
          (typed ? `; the typed requester ${typed} counts for nothing` : ''),
      );
      return;
    }
    if (required.length > 0) {
      throw refused(`the start is refused: ${refusal}`, 'start-signature');
    }
    state.note(`the start's signature does not hold (${refusal}); the requester is a typed name`);
    status.requester = { person: input.requestedBy, signed: false, signatureRefused: true };
  } else if (required.length > 0) {
    throw refused(
      `the worker's policy needs a signed start for ${required.join(', ')}, and this one is not signed: ` +
        `start it with "opsflow deploy start" and ${input.requestedBy}'s key`,
      'unsigned-start',
    );
  }
  status.requester ??= { person: input.requestedBy, signed: false };
  state.note(
    policy.trustTypedNames
      ? `requested by ${input.requestedBy}, unsigned: a typed name (demo mode)`
      : `requested by ${input.requestedBy}, unsigned: a typed name (the policy lets unsigned starts through here)`,
  );
}

/** The deploy's end when the worker's policy refuses it: one line for people, the refusal as a fact for the agent. */
function refused(message: string, refusal: PolicyRefusal): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, ErrorType.PolicyRefused, refusalDetails(refusal));
}

/** Refuses, in one line, a message whose payload the worker could not decode (before any schema's longer answer). */
export function refuseUndecodable(args: unknown): void {
  if (isUndecodable(args)) throw new Error(describeUndecodable(args));
}

/** Whether a person is the requester: by name, or (after a signed start) by holding the requester's key. */
export function requesterOf(state: DeployState, person: string): 'name' | 'key' | undefined {
  const requester = state.status.requester;
  if (person === (requester?.person ?? state.input.requestedBy)) return 'name';
  const key = personOf(state.policy, person)?.publicKey;
  if (!requester?.fingerprint || !key) return undefined;
  try {
    return fingerprintOf(key) === requester.fingerprint ? 'key' : undefined;
  } catch {
    return undefined;
  }
}

/** The rules of an environment: the worker's policy tightened by the request; undefined before the policy existed. */
export function environmentPolicy(state: DeployState, env: EnvironmentPlan): EnvironmentPolicy | undefined {
  if (!state.policy) return undefined;
  const effective = effectivePolicy(env.approval, state.policy, env.name);
  // Checked when the deploy started; a refusal here means the plan changed the approval, which it may not: the deploy
  // fails (a plain Error would retry the workflow task forever).
  if (!effective.ok) throw refused(effective.reason, 'loosening');
  return effective.policy;
}

/** Whether an environment waits for approval: protected by the policy, or asked for by the request. */
export function needsApproval(state: DeployState, env: EnvironmentPlan): boolean {
  return environmentPolicy(state, env)?.protected ?? env.approval.required;
}

/** Whether an environment of the rollout waits for approval; false where its rules cannot be had (the deploy ends). */
export function isProtected(state: DeployState, environment: string | undefined): boolean {
  const env = state.rollout.find((e) => e.name === environment);
  try {
    return env ? needsApproval(state, env) : false;
  } catch {
    return false;
  }
}

/**
 * The hash a signed statement binds to: the plan of the environment being decided on, as configured or planned (what
 * `deploy verify` rebuilds from the history); the revision of the judgement's rules is the worker's, not signed for.
 */
export function planHash(env: RolloutEnvironment): string {
  return hashOf(planOf(env));
}

/**
 * Who is deciding: the person a valid signed statement names, where the policy asks for signatures; otherwise the
 * typed name. A statement that came through a chat bridge is signed with the bridge's key of the policy, for the person
 * the policy maps its platform user to, where the environment's `chat` rule counts it (under `first`, one approval of N
 * through chat). Throws the one-line reason a decision does not count.
 */
export function identify(
  state: DeployState,
  env: EnvironmentPlan,
  action: SignedAction,
  by: string,
  signed: SignedStatement | undefined,
): { person: string; groups: string[]; nonce?: string; through?: ChatVia } {
  const policy = state.policy;
  const rules = environmentPolicy(state, env);
  if (!policy || !rules) return { person: by, groups: [] };
  const groupsOf = (person: string) => personOf(policy, person)?.groups ?? [];
  if (!needsSignature(policy, rules, action)) return { person: by, groups: groupsOf(by) };
  if (!signed) {
    throw new Error(`${action} in ${env.name} needs a signed statement: run "opsflow deploy ${action}" with your key`);
  }
  const info = workflowInfo();
  const refusal =
    refuseStatement(
      signed,
      {
        namespace: info.namespace,
        workflowId: info.workflowId,
        runId: signingRunId(state),
        environment: env.name,
        action,
        planHash: planHash(env),
        nowMs: Date.now(),
      },
      (person) => personOf(policy, person)?.publicKey,
      bridgeKeyOf(policy),
    ) ?? refuseChat(policy, rules, env.name, signed.statement, chatApprovals(state, env.name));
  if (refusal) throw new Error(refusal);
  const person = signed.statement.person;
  if (by !== person) throw new Error(`--by ${by} does not match the signer ${person}`);
  if (state.usedNonces.has(signed.statement.nonce))
    throw new Error('this signed statement was already used: sign again');
  const through = signed.statement.via;
  return { person, groups: groupsOf(person), nonce: signed.statement.nonce, ...(through ? { through } : {}) };
}

/** How many approvals of an environment counted through a chat bridge so far. */
function chatApprovals(state: DeployState, environment: string): number {
  return state.status.approvals.filter((a) => a.environment === environment && a.decision === 'approved' && a.through)
    .length;
}

/** Refuses a person who is not among an environment's approvers. */
export function requireApprover(state: DeployState, env: EnvironmentPlan, person: string, groups: string[]): void {
  const rules = environmentPolicy(state, env);
  const approvers = rules?.approvers ?? env.approval.approvers;
  const ok = rules ? isApprover(rules, person, groups) : approvers.includes(person);
  if (!ok) throw new Error(`${person} is not an approver for ${env.name}; approvers: ${approvers.join(', ')}`);
}

/** What a person signs a decision against, for the status query (the CLI reads it to sign). */
export function publishSigningTarget(state: DeployState): void {
  if (!state.policy) return;
  const info = workflowInfo();
  state.status.signing = {
    namespace: info.namespace,
    runId: signingRunId(state),
    planHashes: Object.fromEntries(state.rollout.map((env) => [env.name, planHash(env)])),
  };
}
