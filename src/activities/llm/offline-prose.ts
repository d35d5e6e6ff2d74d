/**
 * The offline narrator's prose for a deploy summary and a rollback post-mortem: a few sentences built only from the
 * recorded facts (deployFacts), so the default narrative reads like a person wrote it and states no figure that was
 * not measured. Facts of another shape get no prose (undefined) and the caller lists them instead.
 */

interface EnvFact {
  name: string;
  strategy: string;
  before: string | null;
  now: string | null;
}
interface ImpactFact {
  environment: string;
  version: string;
  highestCanaryWeightPercent: number;
  canaryRequests: number;
  canaryErrors: number;
  canaryErrorRatePercent: number | null;
  worstP95Ms: number | null;
  exposureSeconds: number | null;
  decidingSample: { verdict: string; reason: string } | null;
}

const OUTCOME: Record<string, string> = {
  promoted: 'was promoted',
  'rolled-back': 'was rolled back automatically',
  rejected: 'was rejected at approval',
  'approval-timed-out': 'was not approved in time',
  failed: 'failed',
};

function isEnvList(value: unknown): value is EnvFact[] {
  return Array.isArray(value) && value.every((e) => typeof e === 'object' && e !== null && 'name' in e);
}

function impactSentence(impact: unknown): string | undefined {
  if (typeof impact === 'string') return `Impact: ${impact}.`;
  if (typeof impact !== 'object' || impact === null) return undefined;
  const i = impact as ImpactFact;
  // Figures exactly as measured (no rounding of our own), so the text states nothing the facts do not.
  const exposure = i.exposureSeconds === null ? '' : ` for ${i.exposureSeconds} s`;
  const rate = i.canaryErrorRatePercent === null ? '' : ` (${i.canaryErrorRatePercent} %)`;
  const p95 = i.worstP95Ms === null ? '' : `; the worst p95 was ${i.worstP95Ms} ms`;
  return (
    `Impact: ${i.version} took at most ${i.highestCanaryWeightPercent} % of ${i.environment} traffic${exposure}; ` +
    `${i.canaryErrors} of its ${i.canaryRequests} sampled requests failed${rate}${p95}.`
  );
}

/** Prose for `summary` and `postmortem` facts from deployFacts; undefined when the facts have another shape. */
export function deployProse(kind: 'summary' | 'postmortem', facts: Record<string, unknown>): string | undefined {
  const { service, version, outcome, reason, durationSeconds, environments, approvals, samples, plan } = facts as {
    service?: string;
    version?: string;
    outcome?: string;
    reason?: string;
    durationSeconds?: number | null;
    environments?: unknown;
    approvals?: { environment: string; decision: string; by: string }[];
    samples?: { total: number; byVerdict: Record<string, number> };
    plan?: { source: string; risk: string; rationale: string } | null;
  };
  if (!service || !version || !outcome || !isEnvList(environments)) return undefined;
  const sentences: string[] = [];
  if (kind === 'postmortem') {
    const impact = impactSentence(facts['impact']);
    if (impact) sentences.push(impact);
  }
  const took = typeof durationSeconds === 'number' ? ` after ${durationSeconds} s` : '';
  sentences.push(`${service} ${version} ${OUTCOME[outcome] ?? outcome}${took}: ${reason ?? ''}.`);
  if (plan) sentences.push(`The ${plan.source} plan judged the change ${plan.risk} risk (${plan.rationale}).`);
  const where = environments.map((e) =>
    e.now === version && e.before !== version
      ? `${e.name} (${e.strategy}) went from ${e.before ?? 'nothing'} to ${version}`
      : `${e.name} still runs ${e.now ?? e.before ?? 'nothing'}`,
  );
  sentences.push(`${where.join('; ')}.`);
  for (const a of approvals ?? []) sentences.push(`${a.by} ${a.decision} ${a.environment}.`);
  if (samples && samples.total > 0) {
    const parts = Object.entries(samples.byVerdict).map(([verdict, n]) => `${n} ${verdict}`);
    sentences.push(`The health analysis took ${samples.total} samples: ${parts.join(', ')}.`);
  }
  if (kind === 'postmortem') {
    sentences.push(
      'The release was stopped by the automated analysis, not by a person; the samples and the timeline below are ' +
        'the record. Contributing factors and follow-ups are for the owning team to add.',
    );
  }
  return sentences.join(' ');
}
