import type { temporal } from '@temporalio/proto';
import {
  bridgeKeyOf,
  deployInputSchema,
  deployPolicySchema,
  effectivePolicy,
  personOf,
  refuseChat,
  requestHashOf,
  workerRules,
  type DeployInput,
  type DeployPolicy,
  type DeployStatus,
  type Plan,
} from '../shared/deploy';
import {
  fingerprintOf,
  hashOf,
  refuseStart,
  refuseStatement,
  sameKey,
  signedStatementSchema,
  SIGNED_ACTIONS,
  type ChatVia,
  type SignedAction,
} from '../shared/signing';

import { payloadConverter } from '../temporal/payload-converter';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * One decision found in a deploy's history, and whether its signature holds against the verifier's policy. The start
 * request comes first (action "start", via "input", its environments joined by commas).
 */
export interface CheckedDecision {
  eventId: string;
  at: string;
  action: string;
  environment: string;
  person: string;
  via: 'update' | 'signal' | 'input';
  signed: boolean;
  /** Set when a chat bridge signed it for `person`: which bridge, platform and platform user. */
  chat?: ChatVia;
  /**
   * Whether the deploy acted on it: a start and an accepted Update did; a Signal did when the deploy's status records
   * it, and was ignored otherwise (a refused attempt, which cannot be kept out of history); unknown without a status.
   */
  effect: 'took-effect' | 'ignored' | 'unknown';
  /** Why it does not hold; absent when it does. */
  problem?: string;
}

/** What `opsflow deploy verify` finds: the policy it verified against, and every decision. */
export interface Verification {
  policySource: string | null;
  /** Whose policy: the verifier's own (its worker config), or the one recorded in history (trusting the history). */
  policyFrom: 'verifier' | 'history' | 'none';
  /** People whose key in the history's recorded policy is not the verifier's (a forged or an older policy). */
  recordedPolicyDiffers: string[];
  trustTypedNames: boolean;
  decisions: CheckedDecision[];
}

/** What the verifier brings of its own. */
export interface VerifyOptions {
  /** The policy the verifier holds (its worker's opsflow.yaml); absent: the one recorded in the history. */
  policy?: DeployPolicy;
  /** The id of the run the history is of: decisions of run-bound deploys bind to it. */
  runId?: string;
  /** The deploy's status, when it is not in the history's report (a deploy still running): which Signals counted. */
  status?: DeployStatus;
}

/** The marker of deploys whose statements bind to their own run (src/workflows/deploy/trust.ts). */
const RUN_BOUND_PATCH = 'run-bound-statements';

/** Failed decisions: the ones the deploy acted on (or may have) that do not verify. */
export function failedDecisions(result: Verification): CheckedDecision[] {
  return result.decisions.filter((d) => d.problem && d.effect !== 'ignored');
}

// The worker's lenient converter: a payload nobody can decode (a refused attempt) reads as the Undecodable sentinel,
// which no schema here accepts, instead of ending the verification.
const decode = (payload: temporal.api.common.v1.IPayload | null | undefined): unknown =>
  payload ? payloadConverter.fromPayload(payload as never) : undefined;

/**
 * Re-verifies every decision recorded in a deploy's history, offline: the policy is the one the worker answered when the
 * deploy started (its activity result is in the history), each signed statement is checked against that policy's
 * keys and against this deploy, run, environment, action and plan, at the time the decision was recorded. Nothing is
 * trusted from the worker that ran it.
 */
export function verifyHistory(
  workflowId: string,
  namespace: string,
  events: HistoryEvent[],
  options: VerifyOptions = {},
): Verification {
  const started = events.find(
    (e) => e.workflowExecutionStartedEventAttributes,
  )?.workflowExecutionStartedEventAttributes;
  const runBound = events.some((e) => patchOf(e) === RUN_BOUND_PATCH);
  const runId = (runBound ? options.runId : undefined) ?? started?.firstExecutionRunId ?? '';
  const parsedInput = deployInputSchema.safeParse(decode(started?.input?.payloads?.[0]));
  const input: DeployInput | undefined = parsedInput.success ? parsedInput.data : undefined;
  const results = new Map<string, unknown>();
  const scheduled = new Map<string, string>();
  let reported: DeployStatus | undefined;
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name) scheduled.set(String(e.eventId), s.activityType.name);
    if (s?.activityType?.name === 'writeHandoffReport') {
      reported = (decode(s.input?.payloads?.[0]) as { status?: DeployStatus } | undefined)?.status;
    }
    const c = e.activityTaskCompletedEventAttributes;
    if (c) {
      const name = scheduled.get(String(c.scheduledEventId));
      if (name && !results.has(name)) results.set(name, decode(c.result?.payloads?.[0]));
    }
  }
  const parsedPolicy = deployPolicySchema.safeParse(results.get('workerPolicy'));
  const recorded: DeployPolicy | undefined = parsedPolicy.success ? parsedPolicy.data : undefined;
  const policy: DeployPolicy | undefined = options.policy ?? recorded;
  const status = options.status ?? reported;
  const plan = results.get('plan') as Plan | undefined;
  const rollout = plan?.environments?.length ? plan.environments : (input?.environments ?? []);
  const hashes = new Map(rollout.map((env) => [env.name, hashOf(env)]));

  /** Why an approval by `person` was the requester approving their own deploy where the policy forbids it. */
  const selfApproval = (person: string, environment: string): string | undefined => {
    const requester = start?.fingerprint ? start : undefined;
    const env = input?.environments.find((e) => e.name === environment);
    if (!requester || !policy || !env) return undefined;
    const rules = effectivePolicy(env.approval, policy, environment);
    if (!rules.ok || rules.policy.allowSelfApproval) return undefined;
    const key = personOf(policy, person)?.publicKey;
    const sameKey = key !== undefined && safeFingerprint(key) === requester.fingerprint;
    return person === requester.decision.person || sameKey
      ? `approved by the requester (${requester.decision.person}, ${requester.fingerprint}) where self-approval is off`
      : undefined;
  };
  const startEvent = events.find((e) => e.workflowExecutionStartedEventAttributes);
  const start = input && startEvent ? checkStart(input, startEvent, namespace, workflowId, policy) : undefined;
  const decisions: CheckedDecision[] = start ? [start.decision] : [];
  // The approvals that counted so far, per environment: who, and how many through chat.
  const counted = new Map<string, { people: Set<string>; chat: number }>();
  const approvals = (environment: string) => {
    const found = counted.get(environment) ?? { people: new Set<string>(), chat: 0 };
    counted.set(environment, found);
    return found;
  };
  const countApproval = (environment: string, person: string, chat: boolean): string | undefined => {
    const so = approvals(environment);
    if (so.people.has(person)) return `${person} already approved ${environment}: a person counts once, by key or chat`;
    so.people.add(person);
    if (chat) so.chat += 1;
    return undefined;
  };
  for (const e of events) {
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    const signal = e.workflowExecutionSignaledEventAttributes;
    const name = update?.name ?? signal?.signalName;
    if (!name || !(SIGNED_ACTIONS as readonly string[]).includes(name)) continue;
    const args = decode((update?.args ?? signal?.input)?.payloads?.[0]) as
      { by?: string; signed?: unknown } | undefined;
    const at = eventTime(e);
    const checked = signedStatementSchema.safeParse(args?.signed);
    const base = {
      eventId: String(e.eventId),
      at,
      action: name,
      via: update ? ('update' as const) : ('signal' as const),
      effect: update ? ('took-effect' as const) : signalEffect(status, name, args),
    };
    if (!checked.success) {
      decisions.push({
        ...base,
        environment: '?',
        person: args?.by ?? '?',
        signed: false,
        ...(policy && !policy.trustTypedNames ? { problem: 'not signed' } : {}),
      });
      continue;
    }
    const statement = checked.data.statement;
    const environment = statement.environment;
    const problem = policy
      ? (refuseStatement(
          checked.data,
          {
            namespace,
            workflowId,
            runId,
            environment,
            action: name as SignedAction,
            planHash: hashes.get(environment) ?? '',
            nowMs: Date.parse(at),
          },
          (person) => personOf(policy, person)?.publicKey,
          bridgeKeyOf(policy),
        ) ?? refuseChat(policy, workerRules(policy, environment), environment, statement, approvals(environment).chat))
      : 'no worker policy in this history to verify against';
    const self = problem || name !== 'approve' ? undefined : selfApproval(statement.person, environment);
    // A person counts once toward N of M, whether they approved with their key or through chat.
    const again =
      problem || self || name !== 'approve' || base.effect === 'ignored'
        ? undefined
        : countApproval(environment, statement.person, statement.via !== undefined);
    decisions.push({
      ...base,
      environment,
      person: statement.person,
      signed: true,
      ...(statement.via ? { chat: statement.via } : {}),
      ...(problem || self || again ? { problem: problem ?? self ?? again } : {}),
    });
  }
  return {
    policySource: policy?.source ?? null,
    policyFrom: options.policy ? 'verifier' : recorded ? 'history' : 'none',
    recordedPolicyDiffers: options.policy && recorded ? differingPeople(recorded, options.policy) : [],
    trustTypedNames: policy?.trustTypedNames ?? false,
    decisions,
  };
}

/**
 * Whether the deploy acted on a Signal: its status records the decision (a signed one by its statement's nonce, an
 * unsigned one by who sent it and how). A Signal the workflow refused is in history all the same.
 */
function signalEffect(
  status: DeployStatus | undefined,
  action: string,
  args: { by?: string; signed?: unknown } | undefined,
): CheckedDecision['effect'] {
  if (!status) return 'unknown';
  const nonce = signedStatementSchema.safeParse(args?.signed).data?.statement.nonce;
  const matches = (record: { by: string; via: string; signedNonce?: string }) =>
    nonce ? record.signedNonce === nonce : record.via === 'signal' && !record.signedNonce && record.by === args?.by;
  const decision = action === 'approve' ? 'approved' : action === 'reject' ? 'rejected' : undefined;
  const counted = decision
    ? status.approvals.some((a) => a.decision === decision && matches(a))
    : status.controls.some((c) => c.action === action && matches(c));
  return counted ? 'took-effect' : 'ignored';
}

/** People whose key differs between two policies (or who are in only one of them). */
function differingPeople(a: DeployPolicy, b: DeployPolicy): string[] {
  const names = new Set([...Object.keys(a.people), ...Object.keys(b.people)]);
  return [...names]
    .filter((name) => {
      const x = personOf(a, name)?.publicKey;
      const y = personOf(b, name)?.publicKey;
      return !x || !y || !sameKey(x, y);
    })
    .sort();
}

/** The patch id a marker event records, if it is a patch marker. */
function patchOf(e: HistoryEvent): string | undefined {
  const marker = e.markerRecordedEventAttributes;
  if (marker?.markerName !== 'core_patch') return undefined;
  const data = decode(marker.details?.['patch-data']?.payloads?.[0]) as { id?: unknown } | undefined;
  return typeof data?.id === 'string' ? data.id : undefined;
}

/** The start request: who signed it (or the typed name), and whether the signature holds. */
function checkStart(
  input: DeployInput,
  event: HistoryEvent,
  namespace: string,
  workflowId: string,
  policy: DeployPolicy | undefined,
): { decision: CheckedDecision; fingerprint?: string } {
  const at = eventTime(event);
  const environments = input.environments.map((env) => env.name);
  const base = {
    eventId: String(event.eventId),
    at,
    action: 'start',
    environment: environments.join(','),
    via: 'input' as const,
    effect: 'took-effect' as const,
  };
  const signed = input.signedStart;
  if (!signed) {
    const required =
      policy && !policy.trustTypedNames && environments.some((name) => workerRules(policy, name)?.signedStart);
    return {
      decision: {
        ...base,
        person: input.requestedBy,
        signed: false,
        ...(required ? { problem: "not signed, where the worker's policy needs a signed start" } : {}),
      },
    };
  }
  const person = signed.statement.person;
  const problem = policy
    ? refuseStart(
        signed,
        {
          namespace,
          workflowId,
          service: input.service,
          version: input.version,
          environments,
          requestHash: requestHashOf(input),
          nowMs: Date.parse(at),
        },
        (name) => personOf(policy, name)?.publicKey,
      )
    : 'no worker policy in this history to verify against';
  const key = personOf(policy, person)?.publicKey;
  const fingerprint = !problem && key ? safeFingerprint(key) : undefined;
  return {
    decision: { ...base, person, signed: true, ...(problem ? { problem } : {}) },
    ...(fingerprint ? { fingerprint } : {}),
  };
}

function safeFingerprint(key: string): string | undefined {
  try {
    return fingerprintOf(key);
  } catch {
    return undefined;
  }
}

function eventTime(e: HistoryEvent): string {
  const t = e.eventTime;
  if (!t) return new Date(0).toISOString();
  const ms = Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
}
