import { z } from 'zod';
import { DEVOPS_AUTOMATOR_ROLE, OPERATIONS_THRESHOLDS } from './spec';

/** Bumped whenever the plan prompt or its schema changes; recorded with every call. */
export const PLAN_PROMPT_VERSION = 'plan/v1';

const thresholdsSchema = z
  .object({
    errorRateWarn: z.number().min(0).max(1),
    errorRateCritical: z.number().min(0).max(1),
    latencyP95WarnMs: z.number().int().positive(),
    latencyP95CriticalMs: z.number().int().positive(),
    minRequests: z.number().int().positive(),
  })
  .strict();

/** What the model must answer: a structured plan. Durations are seconds or milliseconds as the names say. */
export const modelPlanSchema = z
  .object({
    risk: z.enum(['low', 'medium', 'high']),
    rationale: z.string().min(1).max(2_000),
    environments: z
      .array(
        z
          .object({
            name: z.string(),
            canarySteps: z
              .array(
                z.object({ weight: z.number().int().min(1).max(100), bakeSeconds: z.number().positive() }).strict(),
              )
              .max(20),
            verifySeconds: z.number().nonnegative(),
            thresholds: thresholdsSchema,
          })
          .strict(),
      )
      .min(1),
    checks: z.array(z.string().max(500)).max(10),
    rollbackPlan: z.string().min(1).max(2_000),
    questions: z.array(z.string().max(500)).max(5),
  })
  .strict();
export type ModelPlan = z.infer<typeof modelPlanSchema>;

/** The JSON schema the providers get (JSON mode, structured outputs, or Anthropic's forced tool). */
export const MODEL_PLAN_JSON_SCHEMA = z.toJSONSchema(modelPlanSchema) as Record<string, unknown>;

/** The plan system prompt, from the devops-automator and operations-engineer definitions. */
export function planSystemPrompt(): string {
  return [
    DEVOPS_AUTOMATOR_ROLE,
    OPERATIONS_THRESHOLDS,
    `Your task: plan the rollout of one change of one service through its environments. You get the request, the
configured rollout of each environment (the safety bounds), the versions running now, the orchestrator's plan.md
when there is one, the service's recent deploys, and the offline planner's assessment.
Judge the risk of the change (low, medium or high) and say why in one or two sentences, naming the evidence.
Propose for each configured environment its canary steps (weights in percent, increasing, ending at 100), the
verification time, and the thresholds. You may tighten the configured bounds (more steps, smaller first step,
longer bakes, lower thresholds, more requests per sample) but a looser proposal is overridden by code.
List the checks to watch, the rollback plan, and at most five questions a person should answer before approving.`,
    `Answer with one JSON object only, no prose, matching this JSON schema:\n${JSON.stringify(MODEL_PLAN_JSON_SCHEMA)}`,
  ].join('\n\n');
}

/** The turn that asks for a corrected plan. */
export function planRepairPrompt(issue: string): string {
  return `That answer is not valid: ${issue}. Answer again with one JSON object only, matching the schema exactly.`;
}
