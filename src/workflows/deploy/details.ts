import type { AnalysisSample } from '../../shared/analysis';
import type { DeployStatus } from '../../shared/deploy';
import { formatValue } from '../../shared/format';
import { inlineMarkdown } from '../../shared/markdown';

/** The markdown the Temporal UI shows as the workflow's current details. */
export function describeStatus(status: DeployStatus): string {
  const lines = [
    `**${status.phase}** ${status.service} ${status.version}${status.environment ? ` in ${status.environment}` : ''}`,
  ];
  if (status.canary)
    lines.push(`canary step ${status.canary.step}/${status.canary.steps} at ${status.canary.weight} %`);
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
  if (status.reason) lines.push(inlineMarkdown(status.reason));
  return lines.join('\n\n');
}

/** The last sample as a markdown table: each metric, its value, its limits, its verdict. */
function describeSample(sample: AnalysisSample): string {
  const head = `last sample (${sample.environment} at ${sample.weight} %): **${sample.verdict}** over ${sample.canary.requests} requests`;
  if (sample.checks.length === 0) return `${head}: ${inlineMarkdown(sample.reason)}`;
  const rows = sample.checks.map((c) => {
    const limits =
      c.kind === 'comparison'
        ? `stable ${formatValue(c.baseline, c.unit)}, limit ${formatValue(c.limit, c.unit)}`
        : `warn ${formatValue(c.warn, c.unit)}, critical ${formatValue(c.critical, c.unit)}`;
    return `| ${c.metric} | ${formatValue(c.value, c.unit)} | ${limits} | ${c.verdict} |`;
  });
  return [head, '', '| metric | canary | limits | verdict |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
