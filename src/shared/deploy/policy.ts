import { z } from 'zod';
import { EVENT_TYPES } from '../notify/events';
import { freezeSchema } from './freeze';
import { CHAT_PLATFORMS, SIGNED_ACTIONS, slackUserIdSchema, type SignedAction } from '../signing';
import { nameSchema } from '../validation';
import type { ControlAction, EnvironmentPlan } from './input';

/** Who may take an operator action: anyone, the environment's approvers, or the people named. */
export const whoSchema = z.union([z.literal('anyone'), z.literal('approvers'), z.array(nameSchema)]);
export type Who = z.infer<typeof whoSchema>;

/** Who may take each operator action unless the policy says otherwise: stopping is anyone's, going on an approver's. */
export const DEFAULT_CONTROLS = {
  pause: 'anyone',
  resume: 'approvers',
  promote: 'approvers',
  abort: 'anyone',
} as const;

/**
 * Whether decisions that came through a chat bridge count in an environment: `none` (the default), `first` (one
 * approval of N-of-M may, the others need personal keys), `all`.
 */
export const CHAT_RULES = ['none', 'first', 'all'] as const;
export type ChatRule = (typeof CHAT_RULES)[number];

/** The actions that need a signature unless the policy says otherwise: the ones that move a change forward or end it. */
export const DEFAULT_SIGNED_ACTIONS: readonly SignedAction[] = ['approve', 'reject', 'resume', 'promote'];

/** Signed break-glass overrides an incident freeze needs when the worker's policy does not say. */
export const DEFAULT_INCIDENT_BREAK_GLASS = 2;

/** One environment's rules, as the worker enforces them. */
export const environmentPolicySchema = z
  .object({
    /** A protected environment changes only with approvals; a property of the environment, never of its name. */
    protected: z.boolean(),
    /** People (or `group:<name>`) who may approve. */
    approvers: z.array(z.string().min(1).max(80)),
    /** Distinct approvals needed (N of M). */
    required: z.number().int().min(1).max(20),
    /** Groups of which at least one member must be among the approvals. */
    requireGroups: z.array(nameSchema),
    allowSelfApproval: z.boolean(),
    timeoutMs: z.number().int().positive(),
    controls: z.object({ pause: whoSchema, resume: whoSchema, promote: whoSchema, abort: whoSchema }).strict(),
    /** Actions that count only with a signed statement. */
    signed: z.array(z.enum(SIGNED_ACTIONS)),
    /** A deploy through this environment starts only with the requester's signed start (absent: not required). */
    signedStart: z.boolean().optional(),
    /** Whether decisions through a chat bridge count here (absent: `none`, as in policies recorded before bridges). */
    chat: z.enum(CHAT_RULES).optional(),
  })
  .strict();
export type EnvironmentPolicy = z.infer<typeof environmentPolicySchema>;

/** A person the policy knows: their public key and groups, and their Slack user id where a chat bridge maps it. */
export const personSchema = z
  .object({ publicKey: z.string().min(1), groups: z.array(nameSchema), slack: slackUserIdSchema.optional() })
  .strict();

/** A chat bridge the policy lists: its own public key (never a person's) and the platform it answers. */
export const bridgeSchema = z.object({ publicKey: z.string().min(1), kind: z.enum(CHAT_PLATFORMS) }).strict();
export type Bridge = z.infer<typeof bridgeSchema>;

/**
 * The worker's approval policy, as the deploy workflow receives it from the worker when it starts: in history, so it
 * replays and anyone can re-verify the decisions later. A request can tighten it, never loosen it.
 */
export const deployPolicySchema = z
  .object({
    /** Typed names count as identities: for throwaway demos only; every status and report says so. */
    trustTypedNames: z.boolean(),
    people: z.record(nameSchema, personSchema),
    /** Chat bridges whose signed statements for a mapped person count where an environment's `chat` allows. */
    bridges: z.record(nameSchema, bridgeSchema).optional(),
    environments: z.record(nameSchema, environmentPolicySchema),
    /**
     * The rule of an environment the policy does not list (a request may name any): `policy.defaults` from the worker's
     * config, or a rule that protects it and names no approver, so nothing reaches it. Absent in policies recorded
     * before it existed, which left such an environment unprotected.
     */
    defaults: environmentPolicySchema.optional(),
    /**
     * What the worker's notification routes want to hear of, and when waits escalate, per environment: the deploy builds
     * only wanted events; the notify activity routes them by the worker's own config. Absent: nothing is notified.
     */
    notify: z
      .object({
        events: z.array(z.enum(EVENT_TYPES)),
        escalation: z.record(
          nameSchema,
          z
            .object({
              approvalRemindersMs: z.array(z.number().int().positive()),
              pauseAlertBeforeMs: z.number().int().positive().optional(),
            })
            .strict(),
        ),
      })
      .strict()
      .optional(),
    /** Freeze windows: nothing reaches the environments they hold unless enough approvers sign a break-glass override. */
    freezes: z.array(freezeSchema).optional(),
    /** Signed overrides that let a deploy through an incident freeze (absent: {@link DEFAULT_INCIDENT_BREAK_GLASS}). */
    incidentBreakGlass: z.number().int().min(1).max(20).optional(),
    /** Where the worker read it, for people. */
    source: z.string(),
  })
  .strict();
export type DeployPolicy = z.infer<typeof deployPolicySchema>;

/** A person of the policy, looked up as an own property: a name such as "constructor" is nobody. */
export function personOf(policy: DeployPolicy | undefined, name: string): DeployPolicy['people'][string] | undefined {
  return policy && Object.hasOwn(policy.people, name) ? policy.people[name] : undefined;
}

/** A chat bridge of the policy, looked up as an own property. */
export function bridgeOf(policy: DeployPolicy | undefined, name: string): Bridge | undefined {
  const bridges = policy?.bridges;
  return bridges && Object.hasOwn(bridges, name) ? bridges[name] : undefined;
}

/** The worker's rule for an environment: its own entry, else the policy's default rule (undefined before those). */
export function workerRules(policy: DeployPolicy, environment: string): EnvironmentPolicy | undefined {
  return Object.hasOwn(policy.environments, environment) ? policy.environments[environment] : policy.defaults;
}

/** The default rule of a worker whose config sets no `policy.defaults`: protected, and nobody may approve. */
export const DENY_RULE: EnvironmentPolicy = {
  protected: true,
  approvers: [],
  required: 1,
  requireGroups: [],
  allowSelfApproval: false,
  timeoutMs: 86_400_000,
  controls: { ...DEFAULT_CONTROLS },
  signed: [...DEFAULT_SIGNED_ACTIONS],
  signedStart: true,
};

/** What a deploy's request asks of an environment's approval (from the requester's opsflow.yaml). */
type RequestedApproval = EnvironmentPlan['approval'];

/**
 * The rules that apply: the worker's policy, tightened by what the request asks for. A request that would loosen the
 * policy is refused: the result names the field.
 */
export function effectivePolicy(
  requested: RequestedApproval,
  worker: DeployPolicy,
  environment: string,
): { ok: true; policy: EnvironmentPolicy } | { ok: false; reason: string } {
  const policy = workerRules(worker, environment);
  const base: EnvironmentPolicy = policy ?? {
    protected: false,
    approvers: [],
    required: 1,
    requireGroups: [],
    allowSelfApproval: false,
    timeoutMs: requested.timeoutMs,
    controls: { ...DEFAULT_CONTROLS },
    signed: [...DEFAULT_SIGNED_ACTIONS],
  };
  const refuse = (field: string, asked: unknown, allowed: unknown) => ({
    ok: false as const,
    reason: `the request would loosen the worker's policy for ${environment}: ${field} ${JSON.stringify(asked)} (policy: ${JSON.stringify(allowed)})`,
  });
  if (base.protected && base.approvers.length === 0) {
    return {
      ok: false as const,
      reason:
        `the worker's policy names nobody who may approve ${environment}: ` +
        "define it under environments (with its approval) in the worker's opsflow.yaml, or set policy.defaults",
    };
  }
  if (requested.allowSelfApproval && !base.allowSelfApproval) {
    return refuse('approval.allowSelfApproval', true, false);
  }
  const strangers = requested.approvers.filter((a) => base.approvers.length > 0 && !base.approvers.includes(a));
  if (base.protected && strangers.length > 0) return refuse('approval.approvers', strangers, base.approvers);
  return {
    ok: true,
    policy: {
      ...base,
      protected: base.protected || requested.required,
      approvers: narrowApprovers(base.approvers, requested.approvers),
      timeoutMs: Math.min(base.timeoutMs, requested.timeoutMs),
    },
  };
}

/** A request may name fewer approvers than the policy lists, never others; without a policy list, the request's. */
function narrowApprovers(policy: string[], requested: string[]): string[] {
  if (policy.length === 0) return requested;
  if (requested.length === 0) return policy;
  const narrowed = policy.filter((a) => requested.includes(a));
  return narrowed.length > 0 ? narrowed : policy;
}

/** Whether `person` may take `action` under an environment's policy. */
export function mayControl(
  policy: EnvironmentPolicy,
  action: ControlAction,
  person: string,
  groups: readonly string[],
): boolean {
  const who = policy.controls[action];
  if (who === 'anyone') return true;
  if (who === 'approvers') return isApprover(policy, person, groups);
  return who.includes(person);
}

/** Whether `person` (with their groups) is among an environment's approvers. */
export function isApprover(policy: EnvironmentPolicy, person: string, groups: readonly string[]): boolean {
  return policy.approvers.some((a) => a === person || (a.startsWith('group:') && groups.includes(a.slice(6))));
}

/** Whether an action needs a signed statement here (a break-glass override always does, but in demo mode). */
export function needsSignature(policy: DeployPolicy, env: EnvironmentPolicy, action: SignedAction): boolean {
  return !policy.trustTypedNames && (action === 'override' || env.signed.includes(action));
}
