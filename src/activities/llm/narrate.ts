import type { LlmAuditRef, LlmUsage } from '../../config/llm';
import { NO_USAGE } from '../../config/llm';
import type { AuditSink } from './audit';
import type { Check, LlmClient } from './client';
import { unsupportedFigures } from './figures';
import { deployProse } from './offline-prose';
import {
  NARRATIVE_PROMPT_VERSION,
  narrativeRepairPrompt,
  narrativeSystemPrompt,
  narrativeUserPrompt,
  type NarrativeKind,
} from './prompts/narrative';

export type { NarrativeKind };

/** The targets of the agent definitions, added to every narrative's facts so the model may cite them. */
export const SPEC_TARGETS = {
  deployMinutesTarget: 5,
  mttrMinutesTarget: 30,
  uptimePercentTarget: 99.9,
  deploySuccessRatePercentTarget: 95,
  errorRateWarnPercent: 1,
  errorRateCriticalPercent: 5,
  latencyWarnSeconds: 2,
  latencyCriticalSeconds: 5,
};

/** A narrative and where it came from; `fallback` says why the model's text was not used. */
export interface Narrative {
  kind: NarrativeKind;
  text: string;
  source: 'offline' | 'openai' | 'anthropic';
  model?: string;
  fallback?: { reason: string };
  usage: LlmUsage;
  audit: LlmAuditRef[];
}

/** How narrate reaches a model; without a client it writes the offline narrative. */
export interface NarrateOptions {
  client?: LlmClient;
  sink: AuditSink;
  maxOutputTokens?: number;
  /** Epoch ms by which the calls must be done (the activity's timeout). */
  deadline?: number;
}

const MAX_LENGTH = 6_000;

/** A narrative is usable when it is non-empty, not too long, and every figure in it comes from the facts. */
export function checkNarrative(facts: unknown) {
  return (text: string): Check<string> => {
    const body = text
      .trim()
      .replace(/^```(?:markdown|md)?\s*|```$/g, '')
      .trim();
    if (body.length < 20) return { ok: false, issue: 'the text is empty or too short' };
    if (body.length > MAX_LENGTH) return { ok: false, issue: `the text is longer than ${MAX_LENGTH} characters` };
    const invented = unsupportedFigures(body, facts);
    if (invented.length) {
      return { ok: false, issue: `it states figures that are not in the FACTS: ${invented.slice(0, 5).join(', ')}` };
    }
    return { ok: true, value: body };
  };
}

/** A fact in words: objects as "key value, key value", lists joined by semicolons. */
function words(value: unknown): string {
  if (value === null || value === undefined) return '–';
  if (Array.isArray(value)) return value.map(words).join('; ');
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => `${k} ${typeof v === 'object' ? `(${words(v)})` : String(v)}`)
      .join(', ');
  }
  return String(value);
}

function line(key: string, value: unknown): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (Array.isArray(value) && value.length === 0) return undefined;
  return `- **${key}**: ${words(value)}`;
}

/**
 * The deterministic narrative: the facts themselves, in the order given, under the kind's opening.
 * Used offline, when narratives are switched off, and whenever the model's text is not usable.
 */
export function offlineNarrative(kind: NarrativeKind, facts: Record<string, unknown>): string {
  const opening: Record<NarrativeKind, string> = {
    summary: 'What happened, from the recorded figures:',
    postmortem: 'Blameless post-mortem. Impact first, then the record; every figure is measured:',
    'self-review': 'Daily self-review against the targets, from the recorded figures:',
  };
  const prose = kind === 'self-review' ? undefined : deployProse(kind, facts);
  if (prose) return prose;
  const lines = [opening[kind]];
  const impact = facts['impact'];
  if (kind === 'postmortem' && impact !== undefined) lines.push(`- **impact**: ${words(impact)}`);
  for (const [key, value] of Object.entries(facts)) {
    if (kind === 'postmortem' && key === 'impact') continue;
    const l = line(key, value);
    if (l) lines.push(l);
  }
  return lines.join('\n');
}

/**
 * Writes a narrative — a deploy summary, a rollback post-mortem, or the agent's daily self-review — with
 * the configured model, from `facts` only: the text is rejected (one repair, then the offline narrative)
 * if it states a figure the facts do not hold. Callable from any activity; LLM failures never throw
 * except for a Temporal retry of 429/5xx/timeouts before the last attempt.
 */
export async function narrate(
  kind: NarrativeKind,
  facts: Record<string, unknown>,
  options: NarrateOptions,
): Promise<Narrative> {
  const offline = (fallback?: string, usage: LlmUsage = NO_USAGE, audit: LlmAuditRef[] = []): Narrative => ({
    kind,
    text: offlineNarrative(kind, facts),
    source: 'offline',
    ...(fallback ? { fallback: { reason: fallback } } : {}),
    usage,
    audit,
  });
  if (!options.client) return offline();
  const withTargets = { ...facts, targets: SPEC_TARGETS };
  const answer = await options.client.ask(options.sink, {
    purpose: kind,
    promptVersion: NARRATIVE_PROMPT_VERSION,
    system: narrativeSystemPrompt(kind),
    user: narrativeUserPrompt(kind, withTargets),
    maxOutputTokens: options.maxOutputTokens ?? 1_500,
    check: checkNarrative(withTargets),
    repair: narrativeRepairPrompt,
    ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
  });
  if (!answer.ok) return offline(answer.reason, answer.usage, answer.audit);
  return {
    kind,
    text: answer.value,
    source: options.client.provider.name,
    model: answer.model,
    usage: answer.usage,
    audit: answer.audit,
  };
}
