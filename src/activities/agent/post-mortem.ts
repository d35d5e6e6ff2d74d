import type { DeployResult, DeployStatus } from '../../shared/deploy';
import { minutes, percent } from '../../shared/agent';
import { inlineMarkdown } from '../../shared/markdown';
import type { Impact } from './facts';

/** Untrusted text (reasons, timeline messages) in a line or table cell: escaped, one line. */
const cell = inlineMarkdown;
const time = (iso: string) => iso.slice(11, 19);

/** What a runbook entry tells the next person to check for a failure cause. */
export const CAUSE_CHECKS: Record<string, string> = {
  'error-rate':
    'Compare the canary error rate with the stable version; read the new version logs for the failing route.',
  latency: 'Compare p95 with the stable version; look for a slow dependency or a missing index in the change.',
  'latency-p99': 'Look at the slowest requests of the new version: a tail that p95 hides (timeouts, retries, locks).',
  'error-rate-vs-stable':
    'The new version fails more often than stable under the same traffic: read its logs for the failing route.',
  'latency-vs-stable': 'The new version is slower than stable under the same traffic: profile the changed code path.',
  paused: 'A person paused the deploy and nobody decided within the pause timeout: agree who decides.',
  error: 'An operation on the target failed after its retries: read the deploy timeline and the worker log.',
  cancelled: 'The deploy workflow was cancelled: find out who cancelled it and why.',
  cost:
    'The new version costs more per 1,000 requests than stable: profile its CPU per request (or what the cost source ' +
    'prices), and compare a warm canary with stable before deploying again.',
  'cost-unmeasured':
    "The analysis requires cost and the cost source gave none: check the worker's cost settings and its Prometheus.",
  'no-data': 'The canary got too little traffic to judge: raise the step weight or traffic, or lower minRequests.',
  unmeasured: 'The metrics source did not answer: check that Prometheus (or the platform stats) is reachable.',
  score:
    'The step scored below marginal over its whole window: read which checks failed in its evidence, not one sample.',
  marginal:
    'A step scored between marginal and pass and nobody decided within the pause timeout: agree who judges such steps.',
  failing: 'Samples kept failing over the run: read the failing checks of the step verdicts in summary.md.',
  aborted: 'The deploy was aborted by an operator or a critical alert: read the alert that triggered it.',
  other: 'Read the deploy timeline and the worker log for what stopped it.',
};

export interface PostMortemInput {
  result: DeployResult;
  status: DeployStatus | null;
  impact: Impact | null;
  requestedBy: string;
  requestedAt: string;
  cause: string;
  causeCount: number;
  targetRestoreMs: number;
  runbook: string | null;
}

/** A blameless post-mortem that leads with impact, then the timeline and the analysis samples. Pure. */
export function renderPostMortem(p: PostMortemInput): string {
  const { result, status, impact } = p;
  const env = impact?.environment ?? 'an unknown environment';
  const lines = [
    `# Post-mortem: ${result.service} ${result.version} ${result.outcome === 'failed' ? 'failed' : 'rolled back'} in ${env}`,
    '',
    '_Blameless: this records what the system and the process did, so the next deploy goes better; it names no one at fault._',
    '',
    '## Impact',
    '',
  ];
  if (impact && impact.requests > 0) {
    const rate = impact.requests > 0 ? impact.errors / impact.requests : 0;
    lines.push(
      `- **${env}** sent up to **${impact.maxWeight} %** of its traffic to ${result.service} ${result.version}; ` +
        `the analysis measured **${impact.errors} errors in ${impact.requests} requests** (${percent(rate)}) on the new version.`,
    );
  } else {
    lines.push(`- No request reached ${result.service} ${result.version} in ${env} that the analysis measured.`);
  }
  if (impact?.restoreMs !== null && impact?.restoreMs !== undefined) {
    const met = impact.restoreMs <= p.targetRestoreMs;
    lines.push(
      `- **Time to restore: ${minutes(impact.restoreMs)}** (from ${time(impact.startedAt ?? '')} to ${time(impact.restoredAt ?? '')} UTC), ` +
        `target ${minutes(p.targetRestoreMs)}: ${met ? 'met' : '**missed**'}.`,
    );
  } else {
    lines.push('- Time to restore: not measurable from the timeline.');
  }
  const weight = impact?.maxWeight ?? 0;
  lines.push(
    weight > 0 && weight < 100
      ? `- The rollback was automatic; nobody had to be paged. The stable version kept serving the other ${100 - weight} %.`
      : `- The rollback was automatic; nobody had to be paged.`,
    '',
    '## What happened',
    '',
    `${result.deployId}, requested by ${p.requestedBy} at ${p.requestedAt}, ended **${result.outcome}** ` +
      `after ${minutes(result.durationMs)}: ${cell(result.reason)}`,
    '',
    `Cause: **${p.cause}** (${p.causeCount === 1 ? 'first time' : `${p.causeCount} times`} for ${result.service}).` +
      (p.runbook ? ` The cause repeats: see [the runbook](../operations/runbook.md).` : ''),
    '',
    '## Timeline (UTC)',
    '',
  );
  if (status) {
    lines.push('| time | phase | environment | event |', '| --- | --- | --- | --- |');
    for (const t of status.timeline) {
      lines.push(`| ${time(t.at)} | ${t.phase} | ${t.environment ?? ''} | ${cell(t.message)} |`);
    }
  } else lines.push('The deploy status could not be read; see the handoff summary.');
  lines.push('', '## Analysis samples', '');
  const samples = impact?.samples ?? [];
  if (samples.length) {
    lines.push(
      '| time | environment | step | weight | requests | errors | error rate | p95 | verdict | reason |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    );
    for (const s of samples) {
      lines.push(
        `| ${time(s.at)} | ${s.environment} | ${s.step < 0 ? 'verify' : s.step + 1} | ${s.weight} % | ${s.canary.requests} | ` +
          `${s.canary.errors} | ${s.errorRate === null ? '–' : percent(s.errorRate)} | ` +
          `${s.canary.p95Ms === null ? '–' : `${Math.round(s.canary.p95Ms)} ms`} | **${s.verdict}** | ${cell(s.reason)} |`,
      );
    }
  } else lines.push('No analysis sample was taken in the failing environment.');
  lines.push(
    '',
    '## What to check next time',
    '',
    `- ${CAUSE_CHECKS[p.cause] ?? CAUSE_CHECKS['other']}`,
    '',
    '## Links',
    '',
    ...(result.report ? [`- Handoff summary: \`${result.report.dir}/summary.md\``] : []),
    `- Workflow: \`${result.deployId}\``,
    '',
  );
  return lines.join('\n');
}
