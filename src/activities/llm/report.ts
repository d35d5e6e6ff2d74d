import type { Plan } from '../../shared/deploy';
import { inlineMarkdown, markdownParagraphs } from '../../shared/markdown';
import { addUsage, type LlmAuditRef, type LlmUsage } from '../../config/llm';
import type { Narrative } from './narrate';

/** What the handoff report says about the LLM: the narrative, the plan's fallback, and the totals. */
export interface LlmReport {
  provider: string;
  model?: string;
  narrative: Narrative;
  planSource?: Plan['source'];
  planFallback?: string;
  /** What the safety clamp changed in the model's plan. */
  planAdjustments: string[];
  usage: LlmUsage;
  audit: LlmAuditRef[];
}

/** Totals the plan's calls and the narrative's into one section. */
export function llmReport(provider: string, plan: Plan | undefined, narrative: Narrative): LlmReport {
  const model = narrative.model ?? plan?.model;
  return {
    provider,
    ...(model ? { model } : {}),
    narrative,
    ...(plan ? { planSource: plan.source } : {}),
    ...(plan?.fallback ? { planFallback: plan.fallback.reason } : {}),
    planAdjustments: plan?.adjustments ?? [],
    usage: addUsage(plan?.usage, narrative.usage),
    audit: [...(plan?.audit ?? []), ...narrative.audit],
  };
}

/** The markdown lines summary.md carries for the LLM: narrative first, then fallbacks and cost. */
export function llmSummaryLines(report: LlmReport, title: string): string[] {
  const n = report.narrative;
  // Offline, a deploy's summary.md already is the summary: only a post-mortem adds a section.
  if (report.provider === 'offline' && n.kind === 'summary') return [];
  const by = n.source === 'offline' ? 'the offline narrator' : `${n.source} ${n.model ?? ''}`.trim();
  const lines = [
    `## ${title}`,
    '',
    markdownParagraphs(n.text),
    '',
    `- _Written by ${by} from this run's recorded figures; the tables below are the record._`,
  ];
  if (n.fallback) lines.push(`- _Fallback: the model's narrative was not used: ${inlineMarkdown(n.fallback.reason)}_`);
  if (report.planFallback) {
    lines.push(`- _Fallback: the plan is the offline planner's: ${inlineMarkdown(report.planFallback)}_`);
  }
  for (const a of report.planAdjustments) lines.push(`- _Safety clamp: ${inlineMarkdown(a)}_`);
  const u = report.usage;
  if (report.provider === 'offline') return [...lines, ''];
  lines.push(
    `- _LLM: ${report.provider}${report.model ? ` (${inlineMarkdown(report.model)})` : ''}, ${u.calls} calls, ${u.inputTokens} input / ` +
      `${u.outputTokens} output tokens, estimated $${u.estimatedCostUsd.toFixed(4)}_`,
    '',
  );
  return lines;
}
