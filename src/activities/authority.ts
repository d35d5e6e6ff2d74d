/**
 * Authority where the effect happens: the activity that starts a release, routes traffic to it or promotes it in an
 * environment checks the signed evidence the deploy presents against the policy of the worker it runs on, before it
 * acts. What the workflow's history says (the policy it was answered, its plan, its count of approvals) is not trusted
 * here: anyone with namespace access can complete an activity, run a worker on the task queue or reset a workflow, but
 * nobody can sign for an approver without their key.
 */
import type { IncidentFreeze } from '../shared/agent/freeze';
import {
  bridgeKeyOf,
  holdingFreeze,
  DEFAULT_INCIDENT_BREAK_GLASS,
  isApprover,
  personOf,
  refuseChat,
  workerRules,
  type Authority,
  type DeployPolicy,
  type EnvironmentPlan,
  type EnvironmentPolicy,
} from '../shared/deploy';
import { fingerprintOf, hashOf, refuseEvidence, refuseStartEvidence } from '../shared/signing';

/** The run the activity works for, as the Temporal server told it (never as the request says). */
export interface EffectContext {
  namespace: string;
  workflowId: string;
  runId: string;
  nowMs: number;
}

/** The change an activity is about to make. */
export interface Effect {
  environment: string;
  service: string;
  version: string;
  /** start: the release beside stable; weight: a traffic share (0 needs no authority); promote: 100 % for good. */
  kind: 'start' | 'weight' | 'promote';
  weight?: number;
}

/**
 * Why a freeze holds the environment now, unless its break-glass number of approvers signed an override for this run
 * and rollout (distinct keys).
 */
function refuseFrozen(
  policy: DeployPolicy,
  where: EffectContext,
  environment: string,
  rules: EnvironmentPolicy | undefined,
  authority: Authority | undefined,
  incidents: readonly IncidentFreeze[],
): string | undefined {
  const freeze = holdingFreeze(
    policy.freezes,
    incidents,
    environment,
    rules?.protected ?? false,
    where.nowMs,
    policy.incidentBreakGlass ?? DEFAULT_INCIDENT_BREAK_GLASS,
  );
  if (!freeze) return undefined;
  const keys = new Set<string>();
  for (const override of authority?.overrides ?? []) {
    const refusal =
      refuseEvidence(
        override,
        { ...where, environment, action: 'override', planHash: authority ? hashOf(authority.plan) : '' },
        (person) => personOf(policy, person)?.publicKey,
        bridgeKeyOf(policy),
      ) ?? refuseChat(policy, rules, environment, override.statement, 0);
    const person = override.statement.person;
    const key = personOf(policy, person)?.publicKey;
    if (!refusal && key && rules && isApprover(rules, person, personOf(policy, person)?.groups ?? [])) {
      keys.add(fingerprintOf(key));
    }
  }
  if (keys.size >= freeze.breakGlass) return undefined;
  const until =
    freeze.untilMs === undefined ? 'until someone ends it' : `until ${new Date(freeze.untilMs).toISOString()}`;
  return `${environment} is frozen ("${freeze.name}") ${until}; ${keys.size} of ${freeze.breakGlass} break-glass overrides verify`;
}

/** The traffic shares an approved rollout may route to its new release. */
function plannedWeights(plan: EnvironmentPlan): number[] {
  return plan.strategy === 'canary' ? plan.steps.map((s) => s.weight) : [100];
}

/**
 * Why the worker's policy does not allow this change with this evidence, or undefined when it does. Taking traffic away
 * (a weight of 0) and unprotected environments need nothing; a protected one needs, for this run and the approved
 * rollout, the policy's number of approvals by distinct keys of its approvers (with its required groups), none by the
 * requester's key where self-approval is off, and the requester's signed start where the policy asks for one.
 */
export function refuseEffect(
  policy: DeployPolicy,
  where: EffectContext,
  effect: Effect,
  authority: Authority | undefined,
  incidents: readonly IncidentFreeze[] = [],
): string | undefined {
  const { environment } = effect;
  if (effect.kind === 'weight' && effect.weight === 0) return undefined;
  const rules = workerRules(policy, environment);
  if (policy.trustTypedNames) return undefined;
  // A freeze holds a release from starting; one already ramping when it begins goes on (people can pause or abort it).
  const frozen =
    effect.kind === 'start' ? refuseFrozen(policy, where, environment, rules, authority, incidents) : undefined;
  if (frozen) return frozen;
  if (!rules?.protected) return undefined;
  if (rules.approvers.length === 0) return `the worker's policy names nobody who may approve ${environment}`;
  if (!authority) return `no approvals were presented for ${environment}, which the worker's policy protects`;
  if (authority.plan.name !== environment) return `the approved rollout presented is not ${environment}'s`;
  if (effect.kind === 'weight' && !plannedWeights(authority.plan).includes(effect.weight ?? -1)) {
    return `${effect.weight} % is not a step of the rollout approved for ${environment}`;
  }
  const publicKeyOf = (person: string) => personOf(policy, person)?.publicKey;
  const fingerprint = (person: string) => {
    const key = publicKeyOf(person);
    return key ? fingerprintOf(key) : undefined;
  };

  let requester: { person: string; fingerprint: string | undefined } | undefined;
  if (authority.signedStart) {
    const refusal = refuseStartEvidence(
      authority.signedStart,
      { ...where, service: effect.service, version: effect.version, environment },
      publicKeyOf,
    );
    if (refusal && rules.signedStart) return `the requester's start does not hold: ${refusal}`;
    const person = authority.signedStart.statement.person;
    if (!refusal) requester = { person, fingerprint: fingerprint(person) };
  } else if (rules.signedStart) {
    return `${environment} needs the requester's signed start, and none was presented`;
  }
  // The worker's policy lets typed names approve here: there is no signature to check.
  if (!rules.signed.includes('approve')) return undefined;

  const planHash = hashOf(authority.plan);
  const counted = new Map<string, string>();
  const reasons: string[] = [];
  // Personal keys first, then chat: a person counts once however they approved, and under the worker's `chat: first`
  // one approval of the N may have come through chat.
  const ordered = [
    ...authority.approvals.filter((a) => !a.statement.via),
    ...authority.approvals.filter((a) => a.statement.via),
  ];
  let throughChat = 0;
  for (const approval of ordered) {
    const person = approval.statement.person;
    const refusal = refuseEvidence(
      approval,
      { ...where, environment, action: 'approve', planHash },
      publicKeyOf,
      bridgeKeyOf(policy),
    );
    const key = refusal ? undefined : fingerprint(person);
    const groups = personOf(policy, person)?.groups ?? [];
    const self =
      !rules.allowSelfApproval && requester && (requester.person === person || requester.fingerprint === key);
    if (refusal) reasons.push(refusal);
    else if (!isApprover(rules, person, groups)) reasons.push(`${person} is not an approver of ${environment}`);
    else if (self) reasons.push(`${person} signs with the requester's key`);
    else if (key && !counted.has(key)) {
      const chat = refuseChat(policy, rules, environment, approval.statement, throughChat);
      if (chat) reasons.push(chat);
      else {
        counted.set(key, person);
        if (approval.statement.via) throughChat += 1;
      }
    }
  }
  const people = [...counted.values()];
  const missingGroup = rules.requireGroups.find(
    (group) => !people.some((p) => (personOf(policy, p)?.groups ?? []).includes(group)),
  );
  if (people.length >= rules.required && !missingGroup) return undefined;
  const why = reasons.length ? `; refused: ${reasons.join('; ')}` : '';
  const group = missingGroup ? ` (none from group ${missingGroup})` : '';
  return (
    `${environment} needs ${rules.required} approval(s) by distinct keys of its approvers under the worker's policy; ` +
    `${people.length} verify${group}${why}`
  );
}
