import {
  countsText,
  minutes,
  percent,
  securityText,
  type AgentFinalReport,
  type DerivedFigures,
  type SelfReview,
} from '../../shared/agent';
import { inlineMarkdown } from '../../shared/markdown';

/** How a self-review answer's status reads, in the review and in OPERATIONS.md. */
export const STATUS_MARK: Record<string, string> = {
  met: '✅ met',
  'below-target': '⚠️ below target',
  failing: '❌ failing',
  attention: '⚠️ needs attention',
  'no-data': '– no data',
  'not-measured': '– not measured',
};

const rate = (v: number | null) => (v === null ? '–' : percent(v));
const dur = (v: number | null) => (v === null ? '–' : minutes(v));

/** The figures table shared by the review and the final report. */
export function figuresTable(day: DerivedFigures | null, total: DerivedFigures): string[] {
  const col = (f: DerivedFigures | null, pick: (f: DerivedFigures) => string) => (f ? pick(f) : '');
  const rows: [string, (f: DerivedFigures) => string][] = [
    [
      'deployments (promoted / rolled back / failed / cancelled)',
      (f) => `${f.deploys} (${f.promoted} / ${f.rolledBack} / ${f.failed} / ${f.cancelled})`,
    ],
    ['success rate', (f) => rate(f.successRate)],
    ['change failure rate', (f) => rate(f.changeFailureRate)],
    ['mean pipeline time (excl. approval wait)', (f) => dur(f.meanPipelineMs)],
    ['slowest pipeline time', (f) => dur(f.maxPipelineMs)],
    ['within the speed target', (f) => `${f.withinTarget}`],
    ['mean lead time (request → promoted)', (f) => dur(f.meanLeadTimeMs)],
    ['mean time to restore', (f) => dur(f.meanRestoreMs)],
    ['restores within target', (f) => `${f.restoresWithinTarget} of ${f.restores}`],
    ['inconclusive / unmeasured samples', (f) => `${f.inconclusiveSamples} / ${f.unmeasuredSamples}`],
    ['events (critical / warning)', (f) => `${f.events} (${f.criticalEvents} / ${f.warningEvents})`],
    ['deploys aborted on a critical alert', (f) => `${f.aborts}`],
  ];
  const lines = day
    ? ['| figure | this day | all time |', '| --- | ---: | ---: |']
    : ['| figure | value |', '| --- | ---: |'];
  for (const [name, pick] of rows) {
    lines.push(day ? `| ${name} | ${col(day, pick)} | ${pick(total)} |` : `| ${name} | ${pick(total)} |`);
  }
  return lines;
}

function causes(c: Record<string, number>): string[] {
  const entries = Object.entries(c).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length ? entries.map(([k, n]) => `- ${k}: ${n}`) : ['- none'];
}

/** A deterministic narrative, used when no LLM is configured or it does not answer. */
export function plainNarrative(review: SelfReview): string {
  const d = review.day;
  if (d.deploys === 0 && d.events === 0) return 'A quiet day: no deployment and no infrastructure event.';
  const parts = [`${d.deploys} deployments (${d.promoted} promoted, ${d.rolledBack} rolled back, ${d.failed} failed).`];
  if (d.successRate !== null) parts.push(`Success rate ${percent(d.successRate)}.`);
  if (d.meanRestoreMs !== null) parts.push(`Service was restored in ${minutes(d.meanRestoreMs)} on average.`);
  if (review.improvementsOpened.length) parts.push(`Opened: ${review.improvementsOpened.join(', ')}.`);
  if (review.improvementsClosed.length) parts.push(`Closed: ${review.improvementsClosed.join(', ')}.`);
  return parts.join(' ');
}

/** docs/operations/self-review/<date>.md; `narrative.text` is markdown already (a model's comes escaped). Pure. */
export function renderSelfReview(review: SelfReview, narrative: { text: string; source: string }): string {
  const lines = [
    `# ${review.manual ? 'Self-review (asked for)' : 'Daily self-review'} ${review.date}: ${review.project}`,
    '',
    `Window ${review.from} → ${review.to} (UTC). Figures are measured by the ops agent; nothing here is estimated.`,
    '',
    `> ${narrative.text} _(${narrative.source})_`,
    '',
    '## Questions',
    '',
    '| question | status | answer | source |',
    '| --- | --- | --- | --- |',
    ...review.answers.map(
      (a) =>
        `| ${a.question} | ${STATUS_MARK[a.status] ?? a.status} | ${inlineMarkdown(a.answer)} | ` +
        `${inlineMarkdown(a.source ?? '–')} |`,
    ),
    '',
    ...measuredSections(review),
    '## Figures',
    '',
    ...figuresTable(review.day, review.total),
    '',
    `Deployment frequency: ${review.deploysPerDay} promoted deploys per day since the agent started.`,
    `Targets: deploy ≤ ${minutes(review.targets.deployDuration)}, success ≥ ${percent(review.targets.successRate)} ` +
      `(floor ${percent(review.targets.successRateFloor)}), restore ≤ ${minutes(review.targets.timeToRestore)}.`,
    '',
    '## Rollbacks and their causes (this day)',
    '',
    ...causes(review.day.causes),
    '',
    '## Open improvement items',
    '',
    ...(review.improvements.length
      ? review.improvements.map((i) => `- **${i.key}** (since ${i.openedAt.slice(0, 10)}): ${i.text}`)
      : ['- none']),
    ...(review.improvementsClosed.length ? ['', `Closed today: ${review.improvementsClosed.join(', ')}.`] : []),
    '',
  ];
  return lines.join('\n');
}

/** The vulnerability scan per service, the day's security facts and the metrics source per service and environment. */
function measuredSections(review: SelfReview): string[] {
  const lines = ['## Security', ''];
  const scan = review.measures?.vulnerabilities;
  if (scan) {
    lines.push(`Scanned by ${inlineMarkdown(scan.scanner)}, run by the worker:`, '');
    lines.push('| service | version | scanned | found | worst |', '| --- | --- | --- | --- | --- |');
    for (const r of scan.scans) {
      const worst = (r.top ?? []).map((v) => `${v.package} ${v.id} (${v.severity}): ${v.title}`).join('; ');
      lines.push(
        `| ${inlineMarkdown(r.service)} | ${inlineMarkdown(r.version ?? '–')} | ${inlineMarkdown(r.target)} | ` +
          `${inlineMarkdown(r.counts ? countsText(r.counts) : `no answer: ${r.error ?? 'unknown'}`)} | ${inlineMarkdown(worst || '–')} |`,
      );
    }
  } else {
    lines.push(
      review.measures
        ? 'No vulnerability scanner is configured on the worker (`security` in opsflow.yaml): not measured.'
        : 'No scan by the worker reached this review: not measured.',
    );
  }
  lines.push(
    '',
    `opsflow's own security facts this day: ${securityText(review.day.security)}.`,
    '',
    '## Metrics sources',
    '',
  );
  const coverage = review.measures?.monitoring;
  if (coverage) {
    lines.push('| service | environment | source |', '| --- | --- | --- |');
    for (const c of coverage) {
      lines.push(
        `| ${inlineMarkdown(c.service)} | ${inlineMarkdown(c.environment)} | ` +
          `${c.provider ? '' : '**none**: '}${inlineMarkdown(c.detail)} |`,
      );
    }
  } else lines.push('Not measured: no opsflow.yaml of this project reached the worker.');
  return [...lines, ''];
}

/** The agent's final report as markdown. Pure. */
export function renderFinalReport(report: AgentFinalReport): string {
  return [
    `# Ops agent final report: ${report.project}`,
    '',
    `**Ended (${report.reason})**: ${inlineMarkdown(report.detail)}.`,
    '',
    `Ran from ${report.startedAt} to ${report.endedAt} as \`${report.workflowId}\`; ${report.reviews} daily self-reviews.`,
    '',
    '## Figures',
    '',
    ...figuresTable(null, report.total),
    '',
    `Deployment frequency: ${report.deploysPerDay} promoted deploys per day.`,
    '',
    '## Recent deployments',
    '',
    ...(report.recentDeploys.length
      ? report.recentDeploys.map(
          (d) =>
            `- ${d.finishedAt} ${d.deployId}: **${d.outcome}** in ${minutes(d.durationMs)}${d.cause ? ` (${d.cause})` : ''}`,
        )
      : ['- none']),
    '',
    '## Recent events',
    '',
    ...(report.recentEvents.length
      ? report.recentEvents.map(
          (e) =>
            `- ${e.at} ${e.severity} ${e.type}${e.service ? ` ${e.service}` : ''}: ${e.message}${e.actions.length ? ` → ${e.actions.join('; ')}` : ''}`,
        )
      : ['- none']),
    '',
    '## Open improvement items',
    '',
    ...(report.improvements.length ? report.improvements.map((i) => `- **${i.key}**: ${i.text}`) : ['- none']),
    '',
    '## Files the agent wrote',
    '',
    ...(report.artifacts.length ? report.artifacts.map((f) => `- \`${f}\``) : ['- none']),
    '',
  ].join('\n');
}
