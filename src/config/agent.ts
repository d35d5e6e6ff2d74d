import { z } from 'zod';
import { utcTimeSchema, type AgentConfig } from '../shared/agent/config';
import { durationSchema } from '../shared/duration';

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

/** The defaults, for a config file without an `agent` block. */
export const DEFAULT_AGENT_CONFIG: AgentConfig = agentConfigSchema.parse({});

export type { AgentConfig };
