import { z } from 'zod';
import { analysisConfigSchema, canaryStepsSchema } from '../analysis-config';
import { hashOf, signedStartSchema, signedStatementSchema } from '../signing';
import { nameSchema, versionSchema } from '../validation';
import { httpUrlSchema } from '../markdown';
import { DEPLOY_ID_PATTERN, deployIdProblem } from './deploy-id';

export * from './deploy-id';

/** A feature name becomes a folder under .agency/handoff: it must stay inside it. */
export const featureSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'must be letters, digits, ".", "_" or "-", starting with a letter or digit (it names a folder under .agency/handoff)',
  )
  .refine((f) => !f.includes('..'), 'must not contain ".." (it names a folder under .agency/handoff)');

/** A deploy id that follows the one pattern; refusals are one line. */
export const deployIdPatternSchema = z.string().superRefine((id, ctx) => {
  const problem = deployIdProblem(id);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * The deploy id a workflow input may carry: one safe path segment. Laxer than {@link deployIdPatternSchema} so inputs
 * recorded before the pattern replay; the workflow checks the pattern itself (behind a patch), as do the CLI and the
 * agent.
 */
const recordedDeployIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/,
    `must be letters, digits, ".", "_", "+" or "-" (at most 200), as ${DEPLOY_ID_PATTERN}`,
  )
  .refine((id) => !id.includes('..'), 'must not contain ".."');

/** Default handoff feature name, derived from service and version (a build's "+" becomes "-": it names a folder). */
export function defaultFeature(service: string, version: string): string {
  return `deploy-${service}-${version.replace(/\+/g, '-')}`;
}

/** The handoff folder of a feature, relative to the working directory. */
export function handoffDir(feature: string): string {
  return `.agency/handoff/${feature}/devops-automator`;
}

/**
 * Defaults of the environment settings, in milliseconds: the config schema fills them in opsflow.yaml, and the
 * workflow's input schema fills them in inputs recorded before the settings existed.
 */
export const ENVIRONMENT_DEFAULTS = {
  approvalTimeoutMs: 86_400_000,
  verifyMs: 30_000,
  pauseTimeoutMs: 3_600_000,
  blueGreen: { verifyMs: 300_000, keepBlueMs: 600_000 },
} as const;

export const environmentPlanSchema = z
  .object({
    name: nameSchema,
    strategy: z.enum(['direct', 'canary', 'blue-green']),
    approval: z.object({
      required: z.boolean(),
      approvers: z.array(nameSchema),
      allowSelfApproval: z.boolean(),
      timeoutMs: z.number().int().positive(),
    }),
    steps: canaryStepsSchema,
    verifyMs: z.number().int().nonnegative(),
    analysis: analysisConfigSchema,
    // Defaults keep inputs recorded before these settings existed valid on replay.
    pauseTimeoutMs: z.number().int().positive().default(ENVIRONMENT_DEFAULTS.pauseTimeoutMs),
    blueGreen: z
      .object({ verifyMs: z.number().int().nonnegative(), keepBlueMs: z.number().int().nonnegative() })
      .strict()
      .default(ENVIRONMENT_DEFAULTS.blueGreen),
  })
  .strict();
export type EnvironmentPlan = z.output<typeof environmentPlanSchema>;

/**
 * An environment as the deploy rolls it out: its plan, and the revision of the judgement's rules it is judged by
 * (src/shared/analysis/rules.ts), set by the workflow when it plans and never taken from a request.
 */
export type RolloutEnvironment = EnvironmentPlan & { rules?: number };

/** The environment's plan alone, as configured or planned: without what the workflow adds to it. */
export function planOf(env: RolloutEnvironment): EnvironmentPlan {
  const { rules: _rules, ...plan } = env;
  return plan;
}

/** The deploy workflow's input: everything it needs, resolved from opsflow.yaml, and no secret. */
export const deployInputSchema = z
  .object({
    deployId: recordedDeployIdSchema,
    project: nameSchema,
    service: nameSchema,
    version: versionSchema,
    feature: featureSchema,
    requestedBy: nameSchema,
    reason: z.string().max(500).optional(),
    /** Absolute path of the working directory the handoff files are written under. */
    workdir: z.string().startsWith('/'),
    environments: z.array(environmentPlanSchema).min(1),
    uiUrl: httpUrlSchema.optional(),
    /** The requester's signed start statement: proves who asked, so self-approval is judged by key. */
    signedStart: signedStartSchema.optional(),
  })
  .strict();
export type DeployInput = z.infer<typeof deployInputSchema>;

/** What a signed start binds to: the hash of the whole request except the signature itself. */
export function requestHashOf(input: DeployInput): string {
  const { signedStart: _signature, ...request } = input;
  return hashOf(request);
}

/** Who asked for a deploy, as the workflow established it. */
export interface Requester {
  person: string;
  /** Whether a signed start proves it; otherwise the name was typed. */
  signed: boolean;
  /** The requester's key fingerprint (SHA256:...), when signed. */
  fingerprint?: string;
  /** The typed --requested-by, when it differs from the signer (it counts for nothing then). */
  typed?: string;
  /** Set when a signed start came with it whose signature did not hold: the name stayed a typed one. */
  signatureRefused?: boolean;
}

/** The planner's answer: how risky the change is and how it will be rolled out. */
export const planSchema = z
  .object({
    /** Who made the plan: the offline planner (with or without plan.md) or a model. */
    source: z.enum(['offline', 'handoff', 'openai', 'anthropic']),
    risk: z.enum(['low', 'medium', 'high']),
    rationale: z.string(),
    currentVersions: z.record(z.string(), z.string()),
    steps: z.array(z.object({ environment: z.string(), action: z.string() })),
    checks: z.array(z.string()),
    rollbackPlan: z.string(),
    questions: z.array(z.string()),
    handoffPlanPath: z.string().optional(),
    /** The model that planned, when one did. */
    model: z.string().optional(),
    /** Set when a configured model could not plan and the offline planner's plan was used instead. */
    fallback: z.object({ reason: z.string() }).strict().optional(),
    /** Tokens and estimated cost of the LLM calls behind this plan. */
    usage: z
      .object({ calls: z.number(), inputTokens: z.number(), outputTokens: z.number(), estimatedCostUsd: z.number() })
      .strict()
      .optional(),
    /** Hash and audit file of each LLM call: the prompts and answers stay out of history. */
    audit: z
      .array(z.object({ purpose: z.string(), model: z.string(), hash: z.string(), file: z.string() }).strict())
      .optional(),
    /** The effective environments after the safety clamp: the workflow runs these when present. */
    environments: z.array(environmentPlanSchema).optional(),
    /** What the safety clamp changed in the proposal, one line each. */
    adjustments: z.array(z.string()).optional(),
  })
  .strict();
export type Plan = z.infer<typeof planSchema>;

/** A decision's arguments: who (typed, or proven by `signed` where the worker's policy asks for signatures). */
export const approveArgsSchema = z
  .object({ by: nameSchema, comment: z.string().max(1000).optional(), signed: signedStatementSchema.optional() })
  .strict();
export type ApproveArgs = z.infer<typeof approveArgsSchema>;

export const rejectArgsSchema = z
  .object({
    by: nameSchema,
    reason: z.string().min(1, 'say why').max(1000),
    signed: signedStatementSchema.optional(),
  })
  .strict();
export type RejectArgs = z.infer<typeof rejectArgsSchema>;

/** An operator action on a running deploy (pause, resume, promote, abort): who, and why. */
export const controlArgsSchema = z
  .object({ by: nameSchema, reason: z.string().max(1000).optional(), signed: signedStatementSchema.optional() })
  .strict();
export type ControlArgs = z.infer<typeof controlArgsSchema>;
export type ControlAction = 'pause' | 'resume' | 'promote' | 'abort';
