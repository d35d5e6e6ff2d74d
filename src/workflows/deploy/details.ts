import { describeCost } from '../../shared/cost';
import type { AnalysisSample, MetricCheck } from '../../shared/analysis';
import type { StepVerdict } from '../../shared/analysis/judge';
import type { DeployStatus } from '../../shared/deploy';
import { formatValue } from '../../shared/format';
import { inlineMarkdown } from '../../shared/markdown';

/** The markdown the Temporal UI shows as the workflow's current details. */
export function describeStatus(status: DeployStatus): string {
  const lines = [
    `**${status.phase}** ${status.service} ${status.version}${status.environment ? ` in ${status.environment}` : ''}`,
  ];
  if (status.canary)
    lines.push(
      `canary step ${status.canary.step}/${status.canary.steps} at ${status.canary.weight} %` +
        (status.canary.approximate ? ' (approximate: split by replica counts)' : ''),
    );
  if (status.blueGreen) {
    const bg = status.blueGreen;
    lines.push(
      `blue-green: ${bg.stage}, green ${bg.green}, blue ${bg.blue ?? '-'}${bg.keepBlueUntil ? ` warm until ${bg.keepBlueUntil}` : ''}`,
    );
  }
  if (status.paused) {
    const p = status.paused;
    lines.push(
      `paused by ${p.by}: ${inlineMarkdown(p.reason)}; rolls back at ${p.deadline} unless resumed, promoted or aborted`,
    );
  }
  if (status.approval)
    lines.push(`waiting for ${status.approval.approvers.join(' or ')} until ${status.approval.deadline}`);
  if (status.lastSample) lines.push(describeSample(status.lastSample));
  if (status.analysis) lines.push(describeStep(status.analysis.step));
  if (status.reason) lines.push(inlineMarkdown(status.reason));
  return lines.join('\n\n');
}

/** The last sample as a markdown table: each metric, its value, its limits, its verdict. */
function describeSample(sample: AnalysisSample): string {
  const warmUp = sample.warmUp && sample.verdict === 'warm-up' ? ` (not judged; checks ${sample.warmUp.verdict})` : '';
  const head = `last sample (${sample.environment} at ${sample.weight} %): **${sample.verdict}**${warmUp} over ${sample.canary.requests} requests`;
  if (sample.checks.length === 0) return `${head}: ${inlineMarkdown(sample.reason)}`;
  return [head, '', ...checkTable(sample.checks)].join('\n');
}

/** The running step judged on its whole window: verdict, score, requests against the bar, and its checks. */
function describeStep(step: StepVerdict): string {
  const score = step.score === null ? 'no score yet' : `score **${step.score}**`;
  const head =
    `whole step (${step.environment} at ${step.weight} %): **${step.verdict}**${step.rule ? ` (${step.rule})` : ''}, ` +
    `${score}, ${step.canaryRequests} requests (${step.minRequests} needed), ${step.samples} samples` +
    (step.warmUp ? ` and ${step.warmUp.samples} in warm-up (${step.warmUp.requests} requests, not judged)` : '') +
    (step.acceptedBy ? `, accepted by ${step.acceptedBy}` : '');
  const cost = step.cost
    ? ['', `${step.cost.verdict === 'increase' ? '**cost alert**: ' : ''}${inlineMarkdown(describeCost(step.cost))}`]
    : [];
  if (step.checks.length === 0) return [`${head}: ${inlineMarkdown(step.reason)}`, ...cost].join('\n');
  return [head, '', ...checkTable(step.checks), ...cost].join('\n');
}

/** Checks as table rows: the limits, and for a statistical test its p-value and effect size. */
function checkTable(checks: readonly MetricCheck[]): string[] {
  const rows = checks.map((c) => {
    const limits =
      c.kind === 'comparison'
        ? `stable ${formatValue(c.baseline, c.unit)}, limit ${formatValue(c.limit, c.unit)}`
        : `warn ${formatValue(c.warn, c.unit)}, critical ${formatValue(c.critical, c.unit)}`;
    const tail = c.tail
      ? `, ${c.tail.canary.events}/${c.tail.canary.trials} past ${formatValue(c.tail.limitMs, 'ms')} vs ` +
        `${c.tail.stable.events}/${c.tail.stable.trials} (${c.tail.test} p ${c.tail.pValue.toPrecision(2)})`
      : '';
    const quantile = c.quantile
      ? `${c.pValue !== undefined ? ', ' : ''}${formatValue(c.quantile.share, 'ratio')} over ` +
        `${formatValue(c.quantile.limit, 'ms')} (lower bound ${formatValue(c.quantile.lowerBound, 'ratio')})`
      : '';
    const evidence =
      c.pValue !== undefined
        ? `${c.test ?? ''} p ${c.pValue.toPrecision(2)}${c.effectSize === undefined ? '' : `, effect ${c.effectSize.toFixed(3)}`}${tail}${quantile}`
        : c.lowerBound !== undefined
          ? `lower bound ${formatValue(c.lowerBound, c.unit)}`
          : quantile || (c.note ?? '');
    return `| ${c.metric} | ${formatValue(c.value, c.unit)} | ${limits} | ${inlineMarkdown(evidence)} | ${c.verdict} |`;
  });
  return ['| metric | canary | limits | evidence | verdict |', '| --- | --- | --- | --- | --- |', ...rows];
}
