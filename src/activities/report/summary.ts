import { costImpactOf } from '../../shared/analysis/cost';
import { describeCost } from '../../shared/cost';
import type { AnalysisSample } from '../../shared/analysis';
import { measurementErrorLimit } from '../../shared/analysis/budget';
import type { StepVerdict, UnmeasuredSample } from '../../shared/analysis/judge';
import { JUDGEMENT_RULES, rulesOf } from '../../shared/analysis/rules';
import { warmUpOf } from '../../shared/analysis/warm-up';
import { EXACT_EXPECTED_TAIL } from '../../shared/exact-rank-test';
import { inlineMarkdown, safeLink } from '../../shared/markdown';
import {
  planOf,
  restoreMs,
  resultsOf,
  rollbackStepText,
  stoppedEnvironment,
  type DeployInput,
  type DeployStatus,
  type EnvironmentPlan,
  type EnvironmentResult,
  type FilesChanged,
  type RolloutEnvironment,
} from '../../shared/deploy';
import { formatDuration } from '../../shared/duration';
import { formatValue, millis, percent } from '../../shared/format';
import { llmSummaryLines, type LlmReport } from '../llm/report';

const OUTCOME_TITLE: Record<string, string> = {
  promoted: 'Promoted',
  'rolled-back': 'Rolled back automatically',
  rejected: 'Rejected at approval',
  'approval-timed-out': 'Approval timed out',
  failed: 'Failed',
};

function ms(iso: string): number {
  return new Date(iso).getTime();
}

/** Untrusted text in a table cell or a line: escaped, one line. */
const cell = inlineMarkdown;

/** What one environment runs now and how it got there, from its facts. */
function environmentState(result: EnvironmentResult | undefined, version: string): string {
  const before = result?.fromVersion ?? 'nothing';
  switch (result?.outcome ?? 'not-reached') {
    case 'promoted':
      return `now runs ${version} (was ${before})`;
    case 'rolled-back':
      return `rolled back: still runs ${before}`;
    case 'failed':
      return `failed, rollback incomplete: meant to run ${before}`;
    case 'unchanged':
      return `unchanged: runs ${before}`;
    case 'not-reached':
      return `not reached: runs ${before}`;
  }
}

function sampleTable(samples: AnalysisSample[]): string[] {
  const rows = [
    '| time | weight | requests | errors | error rate | p95 | p99 | stable requests | stable error rate | stable p95 | verdict | reason |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const s of samples) {
    const stableRate = s.stable && s.stable.requests > 0 ? s.stable.errors / s.stable.requests : null;
    rows.push(
      `| ${s.at.slice(11, 19)} | ${s.weight} % | ${s.canary.requests} | ${s.canary.errors} | ${percent(s.errorRate)} | ` +
        `${millis(s.canary.p95Ms)} | ${millis(s.canary.p99Ms)} | ${s.stable?.requests ?? '–'} | ${percent(stableRate)} | ` +
        `${millis(s.stable?.p95Ms ?? null)} | **${s.verdict}** | ${cell(s.reason)} |`,
    );
  }
  return rows;
}

/** A step's verdict on its whole window, beside its samples: the score, the rule that decided, the statistics. */
function stepVerdictLines(v: StepVerdict): string[] {
  const score = v.score === null ? 'no score' : `score ${v.score}`;
  const head =
    `**Whole step: ${v.verdict}**${v.rule ? ` (rule: ${v.rule})` : ''}, ${score} over ${v.canaryRequests} canary ` +
    `requests (${v.minRequests} needed) and ${v.stableRequests} stable, ${v.samples} samples` +
    (v.unmeasured ? `, ${v.unmeasured} unmeasured` : '') +
    (v.warmUp ? `, and ${v.warmUp.samples} in its warm-up (${v.warmUp.requests} canary requests, not judged)` : '') +
    (v.acceptedBy ? `; accepted by ${cell(v.acceptedBy)}` : '');
  const cost = v.cost ? [`Cost: ${cell(describeCost(v.cost))}`] : [];
  if (v.checks.length === 0) return [head, '', cell(v.reason), ...(cost.length ? ['', ...cost] : [])];
  const rows = v.checks.map((c) => {
    const stable = c.kind === 'comparison' ? formatValue(c.baseline, c.unit) : '–';
    const limit =
      c.kind === 'comparison'
        ? formatValue(c.limit, c.unit)
        : `${formatValue(c.warn, c.unit)} / ${formatValue(c.critical, c.unit)}`;
    const p = c.pValue === undefined ? '–' : c.pValue < 0.001 ? '< 0.001' : c.pValue.toFixed(3);
    const effect =
      c.effectSize === undefined
        ? '–'
        : c.test === 'mann-whitney' || c.test === 'mann-whitney-exact'
          ? `P(slower) ${c.effectSize.toFixed(2)}`
          : `${(c.effectSize * 100).toFixed(2)} pts`;
    const tail = c.tail
      ? `; tail ${c.tail.test} p ${c.tail.pValue < 0.001 ? '< 0.001' : c.tail.pValue.toFixed(3)}: ` +
        `${c.tail.canary.events}/${c.tail.canary.trials} past ${formatValue(c.tail.limitMs, 'ms')} vs ` +
        `${c.tail.stable.events}/${c.tail.stable.trials}`
      : '';
    const quantile = c.quantile
      ? `, ${formatValue(c.quantile.share, 'ratio')} over ${formatValue(c.quantile.limit, 'ms')} (lower bound ` +
        `${formatValue(c.quantile.lowerBound, 'ratio')})`
      : '';
    const test = c.skipped
      ? `skipped: ${c.skipped}`
      : c.lowerBound !== undefined
        ? `${c.test ?? ''}, lower bound ${formatValue(c.lowerBound, c.unit)}`
        : `${c.test ?? '–'}${tail}${quantile}`;
    return `| ${c.metric} | ${formatValue(c.value, c.unit)} | ${stable} | ${limit} | ${test} | ${p} | ${effect} | ${c.verdict} |`;
  });
  return [
    head,
    '',
    '| metric | canary | stable | limit (warn / critical) | test | p | effect | verdict |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |',
    ...rows,
    ...(cost.length ? ['', ...cost] : []),
  ];
}

/** The samples of a step that could not be measured, and how the rules the deploy ran under counted them. */
function measurementErrorLines(env: RolloutEnvironment, errors: UnmeasuredSample[]): string[] {
  const apart = rulesOf(env) >= JUDGEMENT_RULES.errorsApart;
  return [
    `**${errors.length} ${errors.length === 1 ? 'sample' : 'samples'} could not be measured** ` +
      (apart ? '(measurement errors, not held against the canary):' : '(counted as failing samples):'),
    '',
    ...errors.map((u) => `- ${u.at.slice(11, 19)} at ${u.weight} %: ${cell(u.reason)}`),
  ];
}

/** The heading of one step's samples: what was being judged there. */
function stepTitle(env: EnvironmentPlan, step: number, weight: number | undefined): string {
  if (step < 0) return `${env.name}: verification`;
  if (env.strategy === 'blue-green') {
    return step === 0 ? `${env.name}: green verified after the switch` : `${env.name}: green while blue was kept warm`;
  }
  return `${env.name}: canary step ${step + 1} at ${weight} %`;
}

/**
 * summary.md for the handoff: the sections of the devops-automator template that apply to one
 * deployment, filled with this run's own figures. Pure: the same status gives the same text.
 */
export function renderSummary(
  input: DeployInput,
  status: DeployStatus,
  files: FilesChanged,
  links: { ui?: string } = {},
  llm?: LlmReport,
): string {
  const outcome = status.outcome ?? 'failed';
  const ui = safeLink(links.ui);
  const totalMs = ms(status.endedAt ?? status.startedAt) - ms(status.startedAt);
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);

  push(`# DevOps Automator Summary: ${input.feature}`, '');
  push(
    `**${OUTCOME_TITLE[outcome] ?? outcome}**: ${input.service} ${input.version} — ${cell(status.reason ?? '')}`,
    '',
    `- Deploy: \`${input.deployId}\`${ui ? ` ([history in the Temporal UI](${ui}))` : ''}`,
    `- Requested by ${input.requestedBy}${input.reason ? `: ${cell(input.reason)}` : ''}`,
    `- Started ${status.startedAt}, ended ${status.endedAt ?? '–'}, took ${formatDuration(totalMs)} ` +
      `(target: under 5m)`,
  );
  const stopped = stoppedEnvironment(resultsOf(status));
  const restore = stopped ? restoreMs(stopped) : null;
  if (stopped && restore !== null) {
    push(
      `- Time to restore in ${stopped.environment}: ${formatDuration(restore)}, from the first failing window ` +
        `(${stopped.failingSince}) to no traffic on ${input.version} (${stopped.restoredAt})`,
    );
  }
  push('');
  if (llm) push(...llmSummaryLines(llm, llm.narrative.kind === 'postmortem' ? 'Post-mortem (blameless)' : 'Narrative'));

  // The rollout that ran: the plan may have tightened the configured one.
  const rollout: RolloutEnvironment[] = status.rollout ?? input.environments;
  const results = resultsOf(status);
  const resultOf = (name: string) => results.find((r) => r.environment === name);
  push('## Work Completed', '', '### Deployment', '');
  for (const env of rollout) {
    push(`- **${env.name}** (${env.strategy}): ${environmentState(resultOf(env.name), input.version)}`);
    const cost = costImpactOf(status.stepVerdicts, env.name);
    if (cost) push(`  - **Cost impact**: ${cell(describeCost(cost))}${cost.verdict === 'increase' ? ' (ALERT)' : ''}`);
  }
  push('', '### Files', '');
  for (const f of files.created) push(`- \`${f}\` (created)`);
  for (const f of files.modified) push(`- \`${f}\` (modified)`);
  push('');

  push('## Implementation Details', '', '### Deployment Strategy', '');
  if (status.rollout && JSON.stringify(status.rollout.map(planOf)) !== JSON.stringify(input.environments)) {
    push('The plan tightened the configured rollout; this is the rollout that ran:', '');
  }
  for (const env of rollout) {
    if (env.strategy === 'canary') {
      const ramp = env.steps.map((s) => `${s.weight} % for ${formatDuration(s.bake)}`).join(' → ');
      push(`- **${env.name}**: canary beside the stable version: ${ramp}, then promotion to 100 %`);
    } else if (env.strategy === 'blue-green') {
      push(
        `- **${env.name}**: blue-green: green started beside blue, 100 % switched at once, verified for ` +
          `${formatDuration(env.blueGreen.verifyMs)}, blue kept warm ${formatDuration(env.blueGreen.keepBlueMs)} ` +
          'for an instant switch back, then retired',
      );
    } else {
      push(`- **${env.name}**: direct replacement, verified for ${formatDuration(env.verifyMs)} before promotion`);
    }
    if (resultOf(env.name)?.approximateSplit) {
      push('  - Traffic split by replica counts (the target has no traffic router): each weight was approximate');
    }
    if (env.approval.required) {
      push(
        `  - Manual approval by ${env.approval.approvers.join(' or ')} within ${formatDuration(env.approval.timeoutMs)}`,
      );
    }
  }
  push(
    '- **Rollback**: automated on a critical sample, on a failure budget, on a step whose whole window fails, on ' +
      'an abort or an unanswered pause: ' +
      'canary traffic to 0 % first, then the new release stopped, then the stable version verified',
    '',
  );

  push('### Monitoring and Observability', '');
  for (const env of rollout) {
    const a = env.analysis;
    push(
      `- **${env.name}**: a sample every ${formatDuration(a.interval)}; error rate warn > ${percent(a.errorRate.warn)}, ` +
        `critical > ${percent(a.errorRate.critical)}; p95 warn > ${formatDuration(a.latencyP95.warn)}, critical > ` +
        `${formatDuration(a.latencyP95.critical)}` +
        (a.latencyP99
          ? `; p99 warn > ${formatDuration(a.latencyP99.warn)}, critical > ${formatDuration(a.latencyP99.critical)}`
          : '') +
        a.custom.map((c) => `; ${c.name} (${c.direction}) warn ${c.warn}, critical ${c.critical}`).join('') +
        `; under ${a.minRequests} requests a sample is inconclusive; metrics from ${a.provider}`,
    );
    const errors = measurementErrorLimit(a);
    push(
      (rulesOf(env) >= JUDGEMENT_RULES.errorsApart
        ? `  - Failing samples: ${a.failureLimit} in the run (failureLimit) or ${a.consecutiveFailureLimit} in a ` +
          `row (consecutiveFailureLimit) roll back; samples that cannot be measured (provider or platform ` +
          `unreachable) are not held against the canary: ${errors.limit} in a row (consecutiveErrorLimit) ` +
          `${errors.action === 'pause' ? 'pause for a person' : 'roll back'}; missing data: `
        : `  - Failing or unmeasurable samples: ${a.failureLimit} in the run (failureLimit) or ` +
          `${a.consecutiveFailureLimit} in a row (consecutiveFailureLimit) roll back; missing data: `) +
        `${a.inconclusiveLimit} in a row pause for a person (a pause rolls back after ` +
        `${formatDuration(env.pauseTimeoutMs)} without a decision)`,
      `  - Each step is judged on its whole window once its bake has passed and its canary has served ` +
        `${a.minStepRequests ?? `${a.minRequests} requests per sample of its bake`}: thresholds and the comparison ` +
        `must pass, then a score of ${a.score.pass} or more passes, ${a.score.marginal} or more pauses for a person, ` +
        `less rolls back; without the requests by ${a.maxBakeFactor} × its bake the step is inconclusive and ` +
        `${a.onInconclusive === 'pause' ? 'pauses for a person' : 'rolls back'}`,
    );
    const confident = rulesOf(env) >= JUDGEMENT_RULES.latencyConfidence;
    if (confident) {
      const warmUp = warmUpOf(a);
      push(
        `  - Warm-up: at the start of each step, samples whose window began in its first ` +
          `${formatDuration(warmUp.durationMs)} or before the canary had served ${warmUp.requests} requests in it ` +
          `are measured and recorded, not judged (a critical error rate aside), and stay out of the step's window; ` +
          `a p95 or p99 is past its critical threshold only when significantly more than 5 % (1 %) of requests ` +
          `are slower than it (Wilson bound)`,
      );
    }
    if (a.compare.enabled) {
      push(
        `  - Against stable over the same window: failing when the error rate exceeds stable's by more than ` +
          `${percent(a.compare.errorRateIncrease)} (two-proportion z-test, or Fisher's exact test on few errors: ` +
          `one-sided p < 0.001 for a sample; for a step's whole window, the 95 % interval of the difference wholly ` +
          `above the tolerance), or ` +
          (confident
            ? `when more of the canary's requests than stable's are slower than the latency tolerance, ` +
              `${a.compare.latencyRatio}× stable's p95 and stable's + ${formatDuration(a.compare.latencyIncrease)} ` +
              `(the same tests), and significantly more than 5 % of them (Wilson bound), where the provider gives latency histograms; slower across the board by Mann–Whitney ` +
              `U (its exact conditional test when fewer than ${EXACT_EXPECTED_TAIL} of the smaller version's ` +
              `requests are expected outside the most common bucket) is a warning`
            : `latencies are slower (Mann–Whitney U on the histograms, where the provider gives them) with a p95 ` +
              `over ${a.compare.latencyRatio}× stable's and stable's + ${formatDuration(a.compare.latencyIncrease)}`),
      );
    }
  }
  push('');

  if (status.plan) {
    push(
      '### Plan',
      '',
      `- Source: ${status.plan.source}${status.plan.handoffPlanPath ? ` (${cell(status.plan.handoffPlanPath)})` : ''}`,
    );
    push(`- Risk: **${status.plan.risk}** — ${cell(status.plan.rationale)}`);
    for (const step of status.plan.steps) push(`- ${step.environment}: ${cell(step.action)}`);
    push(`- Rollback plan: ${cell(status.plan.rollbackPlan)}`);
    for (const q of status.plan.questions) push(`- Question: ${cell(q)}`);
    push('');
  }

  push('## Integration Points (For Other Specialists)', '', '### Deployed Infrastructure', '', '```yaml');
  for (const env of rollout) {
    const result = resultOf(env.name);
    push(`${env.name}: ${input.service} ${result?.toVersion ?? status.previousVersions[env.name] ?? 'nothing'}`);
  }
  push('```', '');

  push('## Verification Criteria (For Reality-Checker)', '');
  const approvals = status.approvals;
  push('### Approvals', '');
  if (approvals.length === 0) push('- none recorded');
  for (const a of approvals) {
    push(
      `- ${a.environment}: **${a.decision}** by ${a.by} at ${a.at} via ${a.via}${a.comment ? ` — "${cell(a.comment)}"` : ''}`,
    );
  }
  push('');

  if (status.controls.length > 0) {
    push('### Operator Actions', '');
    for (const c of status.controls) {
      push(
        `- **${c.action}** by ${c.by} at ${c.at} during ${c.phase} via ${c.via}${c.reason ? ` — "${cell(c.reason)}"` : ''}`,
      );
    }
    push('');
  }

  if (status.rollback) {
    const r = status.rollback;
    const took = r.endedAt ? `, took ${formatDuration(ms(r.endedAt) - ms(r.startedAt))}` : '';
    push('### Rollback', '', `- ${r.environment}, started ${r.startedAt}${took}: ${cell(r.reason)}`);
    for (const step of r.steps)
      push(`- ${step.ok ? 'done' : '**FAILED**'}: ${step.step} at ${step.at} — ${cell(rollbackStepText(step))}`);
    push('');
  }

  push('## Testing Evidence', '');
  for (const r of results) {
    if (!r.startedAt) continue;
    const samples = Object.entries(r.samples)
      .filter(([, n]) => n > 0)
      .map(([verdict, n]) => `${n} ${verdict}`);
    push(
      `- ${r.environment}: ${formatDuration(ms(r.endedAt ?? status.endedAt ?? r.startedAt) - ms(r.startedAt))}` +
        (samples.length ? `; samples: ${samples.join(', ')}` : ''),
    );
  }
  push('');
  for (const env of rollout) {
    const samples = status.samples.filter((s) => s.environment === env.name);
    const unmeasured = (status.unmeasured ?? []).filter((u) => u.environment === env.name);
    const steps = [...new Set([...samples, ...unmeasured].map((s) => s.step))].sort((a, b) => a - b);
    for (const step of steps) {
      const rows = samples.filter((s) => s.step === step);
      const errors = unmeasured.filter((u) => u.step === step);
      push(`### ${stepTitle(env, step, rows[0]?.weight ?? errors[0]?.weight)}`, '');
      if (rows.length) push(...sampleTable(rows), '');
      if (errors.length) push(...measurementErrorLines(env, errors), '');
      const verdict = status.stepVerdicts?.find((v) => v.environment === env.name && v.step === step);
      if (verdict) push(...stepVerdictLines(verdict), '');
    }
  }

  push('### Timeline', '', '| time | phase | environment | event |', '| --- | --- | --- | --- |');
  for (const t of status.timeline)
    push(`| ${t.at.slice(11, 23)} | ${t.phase} | ${t.environment ?? ''} | ${cell(t.message)} |`);
  push('');

  push(
    '## Files Changed',
    '',
    `**Created**: ${files.created.length} files`,
    `**Modified**: ${files.modified.length} files`,
  );
  push(`**Deleted**: ${files.deleted.length} files`, '');

  push('## Next Steps', '');
  if (outcome === 'promoted')
    push(`- ${input.version} is live; watch the production dashboards through the next traffic peak`);
  if (outcome === 'rolled-back') {
    push(`- Investigate ${input.version} before another attempt: the samples above show why it was rolled back`);
    push('- Write the blameless post-mortem: impact first, then the timeline above');
  }
  if (outcome === 'rejected' || outcome === 'approval-timed-out') {
    push("- Address the approvers' concerns, then start the deploy again");
  }
  if (outcome === 'failed')
    push('- Read the timeline and the worker log for the failing step, fix it, then start again');
  push('');
  return lines.join('\n');
}
