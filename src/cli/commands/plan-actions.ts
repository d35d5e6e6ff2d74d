// What `opsflow plan` does, loaded when it runs: the config, the targets and the LLM SDKs (openai, @anthropic-ai/sdk).
import { createLlmRuntime, inlineRetry, resolveLlmSettings } from '../../activities/llm/index';
import { planDeploy } from '../../activities/llm/plan';
import { readHandoffPlan } from '../../activities/planner/handoff-plan';
import { recentDeploys } from '../../activities/planner/history';
import { stableVersions } from '../../activities/targets/contract';
import { targetsFromConfig } from '../../activities/targets/registry';
import { buildDeployInput } from '../../config/deploy-request';
import { loadConfig } from '../../config/load';
import type { Plan } from '../../shared/deploy';
import { print, printJson } from '../output';

const HISTORY_MS = 30 * 86_400_000;

/** The plan as a person reads it. */
export function formatPlan(plan: Plan, title: string, note?: string): string[] {
  const by =
    plan.source === 'openai' || plan.source === 'anthropic'
      ? `${plan.source} ${plan.model ?? ''}`.trim()
      : plan.source === 'handoff'
        ? 'offline planner, with plan.md'
        : 'offline planner';
  const lines = [`plan for ${title} (${by})`, `risk: ${plan.risk} — ${plan.rationale}`];
  const running = Object.entries(plan.currentVersions).map(([env, v]) => `${env} ${v}`);
  lines.push(`running now: ${running.join(', ') || (note ?? 'unknown')}`);
  lines.push('steps:', ...plan.steps.map((s) => `  ${s.environment.padEnd(12)} ${s.action}`));
  lines.push('checks:', ...plan.checks.map((c) => `  - ${c}`));
  lines.push(`rollback: ${plan.rollbackPlan}`);
  if (plan.questions.length) lines.push('questions before approving:', ...plan.questions.map((q) => `  - ${q}`));
  if (plan.adjustments?.length) lines.push('changed by the safety clamp:', ...plan.adjustments.map((a) => `  - ${a}`));
  if (plan.fallback) lines.push(`fallback: the offline plan is shown because ${plan.fallback.reason}`);
  if (plan.usage && plan.usage.calls > 0) {
    const u = plan.usage;
    lines.push(
      `llm: ${u.calls} call${u.calls === 1 ? '' : 's'}, ${u.inputTokens} input / ${u.outputTokens} output tokens, ` +
        `estimated $${u.estimatedCostUsd.toFixed(4)}; full text in ${plan.audit?.map((a) => a.file).join(', ')}`,
    );
  }
  return lines;
}

/** The options of `opsflow plan`. */
export interface PlanOptions {
  service?: string;
  version?: string;
  feature?: string;
  requestedBy?: string;
  config?: string;
  json?: boolean;
}

/** Prints the plan a deploy would follow, with nothing deployed. */
export async function printPlan(opts: PlanOptions): Promise<void> {
  const { config } = loadConfig(opts.config);
  const workdir = process.cwd();
  const input = buildDeployInput(
    config,
    {
      service: opts.service,
      version: opts.version,
      feature: opts.feature,
      requestedBy: opts.requestedBy,
    },
    { workdir },
  );
  // An LlmError (unknown provider, missing key) reaches the explainer as the line to print.
  const settings = resolveLlmSettings(config.llm);
  const llm = createLlmRuntime(settings, inlineRetry(settings.maxAttempts));
  const target = targetsFromConfig(config, { timeoutMs: 3_000 }).targetFor(input.service);
  let currentVersions: Record<string, string> = {};
  let note: string | undefined;
  try {
    currentVersions = await stableVersions(
      target,
      input.service,
      input.environments.map((e) => e.name),
    );
  } catch {
    // The plan is still worth reading without them: it says they are unknown, and why.
    note =
      target.kind === 'local'
        ? `unknown: the local platform at ${config.platform.local.host}:${config.platform.local.port} is not running`
        : `unknown: the ${target.kind} target did not answer`;
  }
  const handoffPlan = readHandoffPlan(workdir, input.feature);
  const history = recentDeploys(workdir, {
    project: input.project,
    service: input.service,
    sinceMs: Date.now() - HISTORY_MS,
  });
  const plan = await planDeploy(
    { input, currentVersions, history, ...(handoffPlan ? { handoffPlan } : {}) },
    llm.client ? { client: llm.client, maxOutputTokens: llm.settings.maxOutputTokens } : undefined,
    { workdir, label: `plan-${input.service}-${input.version}` },
  );
  if (opts.json) printJson(plan);
  else
    for (const line of [...formatPlan(plan, `${input.service} ${input.version}`, note), 'nothing was deployed.'])
      print(line);
}
