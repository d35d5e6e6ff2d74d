// What the agent is asked: its input, and the arguments of its messages.
import { z } from 'zod';
import { deployInputSchema } from '../deploy/input';
import { nameSchema } from '../validation';
import { agentSettingsSchema } from './config';
import { EVENT_TYPES, SEVERITIES } from './events';
import type { AgentState } from './state';

export { EVENT_TYPES, SEVERITIES };

/** An infrastructure event as the CLI, the UI or another system reports it. */
export const agentEventArgsSchema = z
  .object({
    type: z.enum(EVENT_TYPES),
    severity: z.enum(SEVERITIES),
    message: z.string().min(1, 'say what happened').max(1000),
    /** The service it concerns; a critical alert for a service whose deploy runs aborts that deploy. */
    service: nameSchema.optional(),
    /** Who or what reports it. */
    by: nameSchema.optional(),
    /** The environment it concerns: a critical incident freezes it (absent: every environment that needs approval). */
    environment: nameSchema.optional(),
    /**
     * The incident's key (an Alertmanager fingerprint, a PagerDuty dedup key): the event with the same key and status
     * `resolved` lifts the freeze a critical incident raised.
     */
    key: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/, 'letters, digits and . _ : / - (an alert fingerprint)')
      .optional(),
    /** `firing` (the default) or `resolved`, as Alertmanager says. */
    status: z.enum(['firing', 'resolved']).optional(),
  })
  .strict();

export type AgentEventArgs = z.infer<typeof agentEventArgsSchema>;

/** A deploy request to the agent: the deploy's input as the CLI resolves it from opsflow.yaml. */
export const deployRequestArgsSchema = z
  .object({
    input: deployInputSchema,
    /** Whether the namespace has opsflow's search attributes, so the deploy is findable by service and phase. */
    searchAttributes: z.boolean().default(false),
  })
  .strict();

export type DeployRequestArgs = z.input<typeof deployRequestArgsSchema>;

/** A termination request: who asks, and why. */
export const stopArgsSchema = z.object({ by: nameSchema, reason: z.string().min(1, 'say why').max(1000) }).strict();

export type StopArgs = z.infer<typeof stopArgsSchema>;

/** The agent workflow's input. */
export const agentInputSchema = z
  .object({
    project: nameSchema,
    /** Absolute working directory the docs are written under. */
    workdir: z.string().startsWith('/'),
    config: agentSettingsSchema,
    uiUrl: z.string().url().optional(),
    /** State carried over by continue-as-new. */
    state: z.custom<AgentState>((v) => typeof v === 'object' && v !== null && 'totals' in v).optional(),
  })
  .strict();

export type AgentInput = z.input<typeof agentInputSchema>;
/** The agent's input once validated, as its workflow runs with it. */
export type ValidAgentInput = z.output<typeof agentInputSchema>;

/** How the agent ended. */
export type AgentEndReason = 'idle' | 'requested';
