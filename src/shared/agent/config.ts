import { z } from 'zod';

/** A time of day in UTC, "HH:MM". */
export const utcTimeSchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time of day "HH:MM", e.g. "09:00"');

const ms = z.number().int().nonnegative();

/**
 * The agent's settings as its workflow receives them: resolved from opsflow.yaml's `agent` block (src/config/agent.ts),
 * durations in milliseconds. The workflow validates its input with this; it never sees the YAML schema.
 */
export const agentSettingsSchema = z
  .object({
    idleTimeout: ms,
    reviewAt: utcTimeSchema,
    keep: z.number().int().min(1).max(500),
    continueAsNewAfterEvents: z.number().int().nonnegative(),
    targets: z
      .object({
        deployDuration: ms,
        successRate: z.number().min(0).max(1),
        successRateFloor: z.number().min(0).max(1),
        timeToRestore: ms,
      })
      .strict(),
  })
  .strict();

/** The agent's settings (durations in milliseconds). */
export type AgentConfig = z.infer<typeof agentSettingsSchema>;
export type AgentTargets = AgentConfig['targets'];

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
