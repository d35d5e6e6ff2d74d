import {
  DEVOPS_AUTOMATOR_ROLE,
  FIGURES_RULE,
  INCIDENT_CLASSES,
  INCIDENT_STYLE,
  OPERATIONS_THRESHOLDS,
  SELF_REVIEW_PROTOCOL,
} from './spec';

/** The narratives opsflow writes: a deploy summary, a post-mortem for a rollback, the agent's daily self-review. */
export type NarrativeKind = 'summary' | 'postmortem' | 'self-review';

/** Bumped whenever a narrative prompt changes; recorded with every call. */
export const NARRATIVE_PROMPT_VERSION = 'narrative/v1';

const TASK: Record<NarrativeKind, string> = {
  summary: `Write the narrative paragraph of a deployment summary (summary.md) for the team and the orchestrator:
what was deployed where, how the rollout went, the decisive measurements, and what happens next. 80-200 words.`,
  postmortem: `Write a blameless post-mortem of a deployment that was rolled back. Lead with impact (who or what was
affected, how much, for how long), then detection, response, timeline in brief, root-cause hypotheses the facts
support, and two to four action items. Use these markdown headings: Impact, Detection and response, What we know,
Action items. 150-350 words.`,
  'self-review': `Write the operations agent's daily self-review: answer each self-review question from the facts
(deployment speed against targets, failures and rollbacks, monitoring gaps, cost, automation opportunities) and end
with two to four concrete improvements. Use short markdown headings. 150-350 words.`,
};

/** The system prompt of a narrative, from the agent definitions. */
export function narrativeSystemPrompt(kind: NarrativeKind): string {
  const parts = [DEVOPS_AUTOMATOR_ROLE, OPERATIONS_THRESHOLDS];
  if (kind === 'postmortem') parts.push(INCIDENT_STYLE, INCIDENT_CLASSES);
  if (kind === 'self-review') parts.push(SELF_REVIEW_PROTOCOL);
  parts.push(
    TASK[kind],
    FIGURES_RULE,
    'Answer with the markdown text only: no preamble, no code fences, no title line.',
  );
  return parts.join('\n\n');
}

/** The user turn: the facts, as JSON, are all the model may draw figures from. */
export function narrativeUserPrompt(kind: NarrativeKind, facts: unknown): string {
  return `Write the ${kind} from these FACTS:\n${JSON.stringify(facts, null, 2)}`;
}

/** The turn that asks for a corrected narrative. */
export function narrativeRepairPrompt(issue: string): string {
  return `That text cannot be used: ${issue}. Write it again using only figures that appear in the FACTS.`;
}
