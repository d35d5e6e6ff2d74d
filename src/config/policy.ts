import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { freezeSchema } from '../shared/deploy/freeze';
import type { DeployPolicy, EnvironmentPolicy } from '../shared/deploy/policy';
import { CHAT_RULES, DEFAULT_CONTROLS, DEFAULT_SIGNED_ACTIONS, DENY_RULE, whoSchema } from '../shared/deploy/policy';
import { durationSchema } from '../shared/duration';
import {
  CHAT_PLATFORMS,
  fingerprintOf,
  parseOpenSshPublicKey,
  SIGNED_ACTIONS,
  slackUserIdSchema,
} from '../shared/signing';
import { nameSchema } from '../shared/validation';
import { ConfigError } from './errors';
import { wantedEvents, type NotificationsConfig } from './notifications';
import type { OpsflowConfig } from './schema';

/** A person of the policy: an OpenSSH ed25519 public key, inline or in a file, and the groups they belong to. */
const personConfigSchema = z
  .object({
    key: z.string().min(1).optional(),
    /** A file holding the public key (e.g. ~/.ssh/id_ed25519.pub), relative to opsflow.yaml; ~ is the home folder. */
    keyFile: z.string().min(1).optional(),
    groups: z.array(nameSchema).default([]),
    /** Their Slack user id (U…): a chat bridge signs for them when this user presses a button. */
    slack: slackUserIdSchema.optional(),
  })
  .strict()
  .refine((p) => (p.key === undefined) !== (p.keyFile === undefined), { message: 'give either key or keyFile' })
  .refine((p) => p.key === undefined || isPublicKey(p.key), { message: 'key must be "ssh-ed25519 AAAA..."' });

/**
 * A chat bridge (`opsflow chat-bridge`): its OWN OpenSSH ed25519 public key, inline or in a file (never a person's),
 * and the platform it answers. Its statements count for the people it maps where an environment's `chat` allows.
 */
const bridgeConfigSchema = z
  .object({
    key: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    kind: z.enum(CHAT_PLATFORMS),
  })
  .strict()
  .refine((b) => (b.key === undefined) !== (b.keyFile === undefined), { message: 'give either key or keyFile' })
  .refine((b) => b.key === undefined || isPublicKey(b.key), { message: 'key must be "ssh-ed25519 AAAA..."' });

const environmentPolicyConfigSchema = z
  .object({
    protected: z.boolean().default(true),
    /** People, or `group:<name>`. */
    approvers: z.array(z.string().regex(/^(group:)?[a-z0-9][a-z0-9._-]{0,62}$/i, 'a name or group:<name>')).min(1),
    required: z.number().int().min(1).max(20).default(1),
    requireGroups: z.array(nameSchema).default([]),
    allowSelfApproval: z.boolean().default(false),
    timeout: durationSchema.default(86_400_000),
    controls: z
      .object({
        pause: whoSchema.default('anyone'),
        resume: whoSchema.default('approvers'),
        promote: whoSchema.default('approvers'),
        abort: whoSchema.default('anyone'),
      })
      .strict()
      .default({ ...DEFAULT_CONTROLS }),
    signed: z.array(z.enum(SIGNED_ACTIONS)).default([...DEFAULT_SIGNED_ACTIONS]),
    /**
     * A deploy through this environment starts only with the requester's signed start, so self-approval is judged by
     * key. Default: where the environment is protected and its approvals are signed.
     */
    signedStart: z.boolean().optional(),
    /**
     * Whether approvals and controls through a chat bridge count here: none (default), first (one approval of N-of-M,
     * the others with personal keys), all.
     */
    chat: z.enum(CHAT_RULES).default('none'),
  })
  .strict();

/**
 * The `policy` block of the worker's opsflow.yaml: who may approve each environment and take each operator action,
 * with their public keys. The worker enforces it; a deploy request can tighten it, never loosen it.
 */
export const policyConfigSchema = z
  .object({
    /** Typed names count as identities, with no signature: for throwaway demos only. Off by default. */
    trustTypedNames: z.boolean().default(false),
    people: z.record(nameSchema, personConfigSchema).default({}),
    /** Chat bridges and their own public keys; none by default, so no decision from chat counts. */
    bridges: z.record(nameSchema, bridgeConfigSchema).default({}),
    environments: z.record(nameSchema, environmentPolicyConfigSchema).default({}),
    /**
     * The rule of an environment a deploy request names that is in neither `environments` nor `policy.environments`.
     * Unset: such an environment is protected and nobody may approve it, so a request cannot reach it.
     */
    defaults: environmentPolicyConfigSchema.optional(),
    /**
     * Stop the line: date ranges or weekly windows (in a time zone) during which nothing reaches the environments they
     * name (default: every environment that needs approval), unless `breakGlass` approvers sign an override.
     */
    freezes: z.array(freezeSchema).default([]),
    /**
     * Distinct approvers' signed overrides that let a deploy through an incident freeze (`opsflow freeze start`, or the
     * agent's own on a critical incident); default 2.
     */
    incidentBreakGlass: z.number().int().min(1).max(20).optional(),
  })
  .strict();
export type PolicyConfig = z.infer<typeof policyConfigSchema>;

/** A key file's path: ~ is the home folder, anything else is relative to the config's folder. */
function keyFilePath(dir: string, file: string): string {
  if (file === '~' || file.startsWith('~/')) return path.join(os.homedir(), file.slice(1));
  return path.resolve(dir, file);
}

/** Whether an environment of the policy needs a signed start: as configured, else where approvals are signed. */
function signedStartOf(env: { protected: boolean; signed: readonly string[]; signedStart?: boolean }): boolean {
  return env.signedStart ?? (env.protected && env.signed.includes('approve'));
}

/**
 * The environments of the pipeline whose worker policy (as this opsflow.yaml states it) needs a signed start: what the
 * CLI checks before it starts an unsigned deploy. Empty in the typed-names demo mode. Reads no key file.
 */
export function signedStartEnvironments(config: OpsflowConfig): string[] {
  const block: PolicyConfig = config.policy ?? policyConfigSchema.parse({});
  if (block.trustTypedNames) return [];
  return config.pipeline.filter((name) => {
    const listed = Object.hasOwn(block.environments, name) ? block.environments[name] : undefined;
    if (listed) return signedStartOf(listed);
    const env = Object.hasOwn(config.environments, name) ? config.environments[name] : undefined;
    return env ? signedStartOf({ protected: env.approval.required, signed: DEFAULT_SIGNED_ACTIONS }) : false;
  });
}

/** A person's public key line as this opsflow.yaml's policy names it, when it is there and readable. */
export function policyPublicKey(config: OpsflowConfig, configPath: string, person: string): string | undefined {
  const people = config.policy?.people ?? {};
  const entry = Object.hasOwn(people, person) ? people[person] : undefined;
  if (!entry) return undefined;
  if (entry.key) return entry.key;
  if (!entry.keyFile) return undefined;
  try {
    const line = readFileSync(keyFilePath(path.dirname(configPath), entry.keyFile), 'utf8').trim();
    return isPublicKey(line) ? line : undefined;
  } catch {
    return undefined;
  }
}

function isPublicKey(line: string): boolean {
  try {
    parseOpenSshPublicKey(line);
    return true;
  } catch {
    return false;
  }
}

/**
 * The worker's policy, resolved from its config: key files read (relative to the config's folder), environments the
 * policy does not list taken from the config's own `environments.<name>.approval` (the worker's copy, not the
 * request's). Throws a ConfigError naming the person whose key cannot be read.
 */
export function resolvePolicy(config: OpsflowConfig, configPath: string): DeployPolicy {
  const block: PolicyConfig = config.policy ?? policyConfigSchema.parse({});
  const dir = path.dirname(configPath);
  const people: DeployPolicy['people'] = {};
  for (const [name, person] of Object.entries(block.people)) {
    const publicKey =
      person.key ?? readKeyFile(dir, person.keyFile ?? '', `policy.people.${name}`, `opsflow keys init --name ${name}`);
    people[name] = { publicKey, groups: person.groups, ...(person.slack ? { slack: person.slack } : {}) };
  }
  refuseSharedKeys(people);
  refuseSharedChatUsers(people);
  const bridges: NonNullable<DeployPolicy['bridges']> = {};
  for (const [name, bridge] of Object.entries(block.bridges)) {
    const publicKey =
      bridge.key ??
      readKeyFile(dir, bridge.keyFile ?? '', `policy.bridges.${name}`, `opsflow keys init --name ${name}`);
    bridges[name] = { publicKey, kind: bridge.kind };
  }
  refuseBridgePersonKeys(bridges, people);
  const { environments, defaults } = environmentRules(config);
  const notify = notifyOf(config.notifications);
  return {
    trustTypedNames: block.trustTypedNames,
    people,
    ...(Object.keys(bridges).length ? { bridges } : {}),
    environments,
    defaults,
    ...(notify ? { notify } : {}),
    ...(block.freezes.length ? { freezes: block.freezes } : {}),
    ...(block.incidentBreakGlass ? { incidentBreakGlass: block.incidentBreakGlass } : {}),
    source: configPath,
  };
}

/**
 * Each environment's rule as the worker enforces it, and the rule of an environment the config does not define: from
 * `policy.environments.<name>` where listed, else the config's own `environments.<name>.approval`. Reads no key file,
 * so it serves people reading the policy (OPERATIONS.md) as well as the worker.
 */
export function environmentRules(config: OpsflowConfig): {
  environments: Record<string, EnvironmentPolicy>;
  defaults: EnvironmentPolicy;
} {
  const block: PolicyConfig = config.policy ?? policyConfigSchema.parse({});
  const environments: Record<string, EnvironmentPolicy> = {};
  for (const [name, env] of Object.entries(config.environments)) {
    const listed = Object.hasOwn(block.environments, name) ? block.environments[name] : undefined;
    environments[name] = listed
      ? listedRule(listed)
      : {
          protected: env.approval.required,
          approvers: env.approval.approvers,
          required: 1,
          requireGroups: [],
          allowSelfApproval: env.approval.allowSelfApproval,
          timeoutMs: env.approval.timeout,
          controls: { ...DEFAULT_CONTROLS },
          signed: [...DEFAULT_SIGNED_ACTIONS],
          signedStart: signedStartOf({ protected: env.approval.required, signed: DEFAULT_SIGNED_ACTIONS }),
        };
  }
  return { environments, defaults: block.defaults ? listedRule(block.defaults) : DENY_RULE };
}

/** What the deploy needs to know of the worker's notifications: the wanted events and the escalation timings. */
function notifyOf(block: NotificationsConfig | undefined): DeployPolicy['notify'] {
  const events = block ? wantedEvents(block) : [];
  if (!block || events.length === 0) return undefined;
  const escalation = Object.fromEntries(
    Object.entries(block.escalation).map(([env, e]) => [
      env,
      {
        approvalRemindersMs: [...e.approvalReminders].sort((a, b) => a - b).filter((ms) => ms > 0),
        ...(e.pauseAlertBefore ? { pauseAlertBeforeMs: e.pauseAlertBefore } : {}),
      },
    ]),
  );
  return { events, escalation };
}

/** An environment's rule as `policy.environments.<name>` (or `policy.defaults`) states it. */
function listedRule(listed: z.output<typeof environmentPolicyConfigSchema>): EnvironmentPolicy {
  return {
    protected: listed.protected,
    approvers: listed.approvers,
    required: listed.required,
    requireGroups: listed.requireGroups,
    allowSelfApproval: listed.allowSelfApproval,
    timeoutMs: listed.timeout,
    controls: listed.controls,
    signed: listed.signed,
    signedStart: signedStartOf(listed),
    // Absent means none: a policy without chat reads as policies recorded before bridges did.
    ...(listed.chat !== 'none' ? { chat: listed.chat } : {}),
  };
}

/** A public key line from a file of the policy, or a ConfigError naming the entry and how to make the key. */
function readKeyFile(dir: string, keyFile: string, entry: string, make: string): string {
  const file = keyFilePath(dir, keyFile);
  let line: string;
  try {
    line = readFileSync(file, 'utf8').trim();
  } catch {
    throw new ConfigError(`${entry}.keyFile: cannot read ${file}; create it with "${make}"`);
  }
  if (!isPublicKey(line)) throw new ConfigError(`${entry}.keyFile: ${file} is not an ssh-ed25519 public key`);
  return line;
}

/** A Slack user is one person: listed for two, a button press would sign for whichever the bridge found first. */
function refuseSharedChatUsers(people: DeployPolicy['people']): void {
  const owners = new Map<string, string>();
  for (const [name, person] of Object.entries(people)) {
    if (!person.slack) continue;
    const other = owners.get(person.slack);
    if (other) {
      throw new ConfigError(
        `policy.people.${name}.slack: ${person.slack} is policy.people.${other}'s too; a Slack user maps to one person`,
      );
    }
    owners.set(person.slack, name);
  }
}

/**
 * A bridge signs with a key of its own: one that is also a person's would make that person's own approvals and the
 * bridge's indistinguishable, and let the bridge's host approve as them wherever chat is not allowed.
 */
function refuseBridgePersonKeys(bridges: NonNullable<DeployPolicy['bridges']>, people: DeployPolicy['people']): void {
  const owners = new Map(Object.entries(people).map(([name, p]) => [fingerprintOf(p.publicKey), name]));
  for (const [name, bridge] of Object.entries(bridges)) {
    const fingerprint = fingerprintOf(bridge.publicKey);
    const person = owners.get(fingerprint);
    if (person) {
      throw new ConfigError(
        `policy.bridges.${name}: the same key as policy.people.${person} (${fingerprint}); a bridge needs a key of its own`,
      );
    }
  }
}

/**
 * N of M counts keys, not names: one key listed under two names (alice in sre, alice-oncall in security) would let one
 * person satisfy "2 approvals, groups sre and security" alone. Such a policy is refused when it loads.
 */
function refuseSharedKeys(people: DeployPolicy['people']): void {
  const owners = new Map<string, string>();
  for (const [name, person] of Object.entries(people)) {
    const fingerprint = fingerprintOf(person.publicKey);
    const other = owners.get(fingerprint);
    if (other) {
      throw new ConfigError(
        `policy.people.${name}: the same key as policy.people.${other} (${fingerprint}); ` +
          'each person needs a key of their own, or N-of-M approvals would count one key twice',
      );
    }
    owners.set(fingerprint, name);
  }
}
