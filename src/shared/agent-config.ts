import { z } from 'zod';
import { durationSchema } from './duration';

/** A time of day in UTC, "HH:MM". */
export const utcTimeSchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time of day "HH:MM", e.g. "09:00"');

/** The targets the self-review measures against; the defaults are the spec's objectives. */
export const agentTargetsSchema = z
  .object({
    /** Objective 2: a deployment takes under 5 minutes. */
    deployDuration: durationSchema.default(300_000),
    /** Success rate the agent aims for. */
    successRate: z.number().min(0).max(1).default(0.99),
    /** Success rate below which the review says the pipeline is failing. */
    successRateFloor: z.number().min(0).max(1).default(0.95),
    /** MTTR < 30 min. */
    timeToRestore: durationSchema.default(1_800_000),
  })
  .strict()
  .refine((t) => t.successRateFloor <= t.successRate, {
    message: 'successRateFloor must not be above successRate',
    path: ['successRateFloor'],
  });

/** The `agent` block of opsflow.yaml: how the long-lived ops agent keeps its clock. */
export const agentConfigSchema = z
  .object({
    /** With no deployment or infrastructure event for this long, the agent reports and ends. */
    idleTimeout: durationSchema.default(172_800_000),
    /** When the daily self-review runs (UTC). */
    reviewAt: utcTimeSchema.default('09:00'),
    /** How many recent events and deploys the agent's state keeps (figures are aggregated beyond that). */
    keep: z.number().int().min(1).max(500).default(50),
    /** Test-only: continue-as-new once the history has this many events (0: only when Temporal suggests it). */
    continueAsNewAfterEvents: z
      .number()
      .int()
      .refine((n) => n === 0 || n >= 30, 'must be 0 (off) or at least 30 events')
      .default(0),
    targets: agentTargetsSchema.default({
      deployDuration: 300_000,
      successRate: 0.99,
      successRateFloor: 0.95,
      timeToRestore: 1_800_000,
    }),
  })
  .strict();

/** The parsed agent settings (durations in milliseconds). */
export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentTargets = z.infer<typeof agentTargetsSchema>;

/** The defaults, for a config file without an `agent` block. */
export const DEFAULT_AGENT_CONFIG: AgentConfig = agentConfigSchema.parse({});

/** The agent's workflow id: one per project. */
export function agentWorkflowId(project: string): string {
  return `ops-agent-${project}`;
}

/** The first `HH:MM` UTC strictly after `afterMs`, as epoch milliseconds. */
export function nextReviewTime(afterMs: number, reviewAt: string): number {
  const [hours, minutes] = reviewAt.split(':').map(Number);
  const day = new Date(afterMs);
  const candidate = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hours ?? 0, minutes ?? 0);
  return candidate > afterMs ? candidate : candidate + 86_400_000;
}
