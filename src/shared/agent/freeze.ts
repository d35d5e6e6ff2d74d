/**
 * Incident freezes: stop the line while something is wrong. A person raises one with a signed `opsflow freeze start`,
 * or the project's agent raises one itself when a critical incident event arrives; a signed `opsflow freeze end`, or
 * the event that resolves the incident, lifts it. The agent keeps them (its state is carried over continue-as-new);
 * deploys ask for them before they start a release, and the activity that would start one asks again. Workflow-safe.
 */
import { z } from 'zod';
import { signedStatementSchema } from '../signing';
import { nameSchema } from '../validation';

/** A freeze statement's environment when the freeze holds every environment that needs approval. */
export const ALL_PROTECTED = 'all-protected';

/** One incident freeze, as the agent keeps it. */
export interface IncidentFreeze {
  /** `incident-<n>`, unique within the agent's life. */
  id: string;
  /** The environment it holds; absent: every environment that needs approval. */
  environment?: string;
  reason: string;
  /** The person who signed it, or what reported the incident. */
  raisedBy: string;
  raisedAt: string;
  /** A person's signed freeze, or the agent's own on a critical incident event. */
  source: 'person' | 'event';
  /** The incident's key: an event with this key and status `resolved` lifts it. */
  key?: string;
  /** The signed statement's nonce (a person's freeze). */
  signedNonce?: string;
}

/** An incident freeze that ended: by whom and when. */
export interface EndedFreeze extends IncidentFreeze {
  endedAt: string;
  endedBy: string;
}

/** `opsflow freeze start`: the environment (absent: every protected one), why, who, and their signed statement. */
export const freezeStartArgsSchema = z
  .object({
    environment: nameSchema.optional(),
    reason: z.string().trim().min(1, 'say why the line stops (--reason)').max(500),
    by: nameSchema,
    signed: signedStatementSchema.optional(),
  })
  .strict();
export type FreezeStartArgs = z.infer<typeof freezeStartArgsSchema>;

/** `opsflow freeze end`: which freeze, who, why, and their signed statement. */
export const freezeEndArgsSchema = z
  .object({
    id: z.string().regex(/^incident-\d{1,9}$/, 'an incident freeze id such as incident-3 (opsflow freeze list)'),
    by: nameSchema,
    reason: z.string().trim().max(500).optional(),
    signed: signedStatementSchema.optional(),
  })
  .strict();
export type FreezeEndArgs = z.infer<typeof freezeEndArgsSchema>;

/** What a freeze statement's plan hash binds: the freeze's own words, so a signature cannot be moved to another. */
export function freezeSubject(args: { environment?: string; reason?: string; id?: string }): Record<string, string> {
  return args.id !== undefined
    ? { freeze: args.id }
    : { environment: args.environment ?? ALL_PROTECTED, reason: args.reason ?? '' };
}

/** What a freeze holds, for people: its environment, or every protected one. */
export function freezeScope(environment: string | undefined): string {
  return environment ?? 'every protected environment';
}

/** The environment a freeze statement names: the freeze's own, or {@link ALL_PROTECTED}. */
export function statementEnvironment(environment: string | undefined): string {
  return environment ?? ALL_PROTECTED;
}

/** The one-line refusal for a freeze id that is not in force, naming the ones that are. */
export function noSuchFreeze(id: string, freezes: readonly IncidentFreeze[]): string {
  const known = freezes.map((f) => f.id).join(', ');
  return `no incident freeze ${id} is in force${known ? ` (in force: ${known})` : ' (none is)'}`;
}

/** The incident freeze holding `environment`, if any: the earliest raised, so the one a deploy names stays the same. */
export function incidentHolding(
  freezes: readonly IncidentFreeze[] | undefined,
  environment: string,
  protectedEnvironment: boolean,
): IncidentFreeze | undefined {
  return (freezes ?? []).find((f) => (f.environment ? f.environment === environment : protectedEnvironment));
}
