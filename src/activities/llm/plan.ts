import { describeIssue } from '../../shared/validation';
import type { EnvironmentPlan, Plan } from '../../shared/deploy';
import { clampPlan } from '../../shared/plan-clamp';
import {
  describeChecks,
  describeRollback,
  describeSteps,
  higherRisk,
  offlinePlan,
  type PlanContext,
} from '../planner/offline';
import type { AuditSink } from './audit';
import type { Check, LlmClient } from './client';
import { extractJson } from './json';
import {
  MODEL_PLAN_JSON_SCHEMA,
  modelPlanSchema,
  PLAN_PROMPT_VERSION,
  planRepairPrompt,
  planSystemPrompt,
  type ModelPlan,
} from './prompts/plan';

/** Longest plan.md the model is shown; the rest is cut with a note. */
const MAX_PLAN_MD = 8_000;

/** The configured rollout as the model sees it: seconds and plain thresholds. */
function boundsOf(environments: EnvironmentPlan[]) {
  return environments.map((env) => ({
    name: env.name,
    strategy: env.strategy,
    approvalRequired: env.approval.required,
    canarySteps:
      env.strategy === 'canary' ? env.steps.map((s) => ({ weight: s.weight, bakeSeconds: s.bake / 1000 })) : [],
    verifySeconds: env.verifyMs / 1000,
    sampleIntervalSeconds: env.analysis.interval / 1000,
    thresholds: {
      errorRateWarn: env.analysis.errorRate.warn,
      errorRateCritical: env.analysis.errorRate.critical,
      latencyP95WarnMs: env.analysis.latencyP95.warn,
      latencyP95CriticalMs: env.analysis.latencyP95.critical,
      minRequests: env.analysis.minRequests,
    },
  }));
}

/** The user turn: everything the planner knows, as JSON. */
export function planUserPrompt(context: PlanContext, offline: Plan): string {
  const { input, currentVersions, handoffPlan, history = [] } = context;
  const planMd = handoffPlan
    ? handoffPlan.text.length > MAX_PLAN_MD
      ? `${handoffPlan.text.slice(0, MAX_PLAN_MD)}\n[… cut at ${MAX_PLAN_MD} characters]`
      : handoffPlan.text
    : null;
  return JSON.stringify(
    {
      request: {
        project: input.project,
        service: input.service,
        version: input.version,
        requestedBy: input.requestedBy,
        reason: input.reason ?? null,
        feature: input.feature,
      },
      pipeline: input.environments.map((e) => e.name),
      configuredBounds: boundsOf(input.environments),
      currentVersions,
      planMd,
      recentDeploys: history.map((d) => ({
        version: d.version,
        outcome: d.outcome,
        reason: d.reason,
        endedAt: d.endedAt,
      })),
      offlineAssessment: { risk: offline.risk, rationale: offline.rationale },
    },
    null,
    2,
  );
}

/** Parses and validates the model's plan; environments must be exactly the pipeline's. */
export function checkModelPlan(pipeline: string[]) {
  return (text: string, structured: unknown): Check<ModelPlan> => {
    const json = structured !== undefined ? { ok: true as const, value: structured } : extractJson(text);
    if (!json.ok) return json;
    const parsed = modelPlanSchema.safeParse(json.value);
    if (!parsed.success) return { ok: false, issue: describeIssue(parsed.error) };
    const names = parsed.data.environments.map((e) => e.name);
    if (names.length !== pipeline.length || pipeline.some((n) => !names.includes(n))) {
      return {
        ok: false,
        issue: `environments must be exactly ${pipeline.join(', ')} (got ${names.join(', ') || 'none'})`,
      };
    }
    return { ok: true, value: parsed.data };
  };
}

/** The model's proposal laid over the configured environments, before the clamp. */
export function proposalOf(configured: EnvironmentPlan[], model: ModelPlan): EnvironmentPlan[] {
  return configured.map((env) => {
    const p = model.environments.find((e) => e.name === env.name);
    if (!p) return env;
    return {
      ...env,
      steps:
        env.strategy === 'canary' && p.canarySteps.length > 0
          ? p.canarySteps.map((s) => ({ weight: s.weight, bake: Math.round(s.bakeSeconds * 1000) }))
          : env.steps,
      verifyMs: Math.round(p.verifySeconds * 1000),
      analysis: {
        ...env.analysis,
        minRequests: p.thresholds.minRequests,
        errorRate: { warn: p.thresholds.errorRateWarn, critical: p.thresholds.errorRateCritical },
        latencyP95: { warn: p.thresholds.latencyP95WarnMs, critical: p.thresholds.latencyP95CriticalMs },
      },
    };
  });
}

const unique = (items: string[]) => [...new Set(items.map((s) => s.trim()).filter(Boolean))];

/**
 * Plans a deploy with the configured model, never trusted blindly: the answer is validated with zod,
 * repaired once, and clamped so it can only tighten the rollout (the floor is the configured rollout as
 * the offline planner tightened it for the risk). Without a model, or when the model fails, the
 * offline plan is used and the fallback is recorded in the plan.
 */
export async function planDeploy(
  context: PlanContext,
  llm: { client: LlmClient; maxOutputTokens: number; deadline?: number } | undefined,
  sink: AuditSink,
): Promise<Plan> {
  const offline = offlinePlan(context);
  if (!llm) return offline;
  const floor = offline.environments ?? context.input.environments;
  const pipeline = context.input.environments.map((e) => e.name);
  const answer = await llm.client.ask(sink, {
    purpose: 'plan',
    promptVersion: PLAN_PROMPT_VERSION,
    system: planSystemPrompt(),
    user: planUserPrompt(context, offline),
    json: {
      name: 'deploy_plan',
      description: 'The rollout plan for one change',
      schema: MODEL_PLAN_JSON_SCHEMA,
    },
    maxOutputTokens: llm.maxOutputTokens,
    check: checkModelPlan(pipeline),
    repair: planRepairPrompt,
    ...(llm.deadline !== undefined ? { deadline: llm.deadline } : {}),
  });
  const accounting = { usage: answer.usage, audit: answer.audit };
  if (!answer.ok) {
    return { ...offline, fallback: { reason: answer.reason }, ...accounting };
  }
  const model = answer.value;
  const { environments, adjustments } = clampPlan(floor, proposalOf(floor, model));
  const risk = higherRisk(model.risk, offline.risk);
  const rationale =
    risk === model.risk ? model.rationale : `${model.rationale} (risk kept at ${risk}: ${offline.rationale})`;
  const { currentVersions } = context;
  return {
    source: llm.client.provider.name,
    risk,
    rationale,
    currentVersions,
    // Steps and checks are written from the effective environments, so the text matches what runs.
    steps: describeSteps(environments, context.input.version, currentVersions),
    checks: unique([...describeChecks(environments), ...model.checks]).slice(0, 12),
    rollbackPlan: `${describeRollback(currentVersions)} ${model.rollbackPlan}`.trim(),
    questions: unique([...model.questions, ...offline.questions]).slice(0, 6),
    ...(offline.handoffPlanPath ? { handoffPlanPath: offline.handoffPlanPath } : {}),
    model: answer.model,
    environments,
    ...(adjustments.length ? { adjustments } : {}),
    ...accounting,
  };
}
