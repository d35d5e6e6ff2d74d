import { describeCost } from '../shared/cost';
import type { AgentStatus, DerivedFigures, IncidentFreeze } from '../shared/agent';
// From review.ts, not the index: the index brings the agent's zod schemas, which `deploy status` has no use for.
import { freezeScope } from '../shared/agent/freeze';
import { minutes, percent } from '../shared/agent/review';
import type { AnalysisSample } from '../shared/analysis';
import { measurementErrorLimit } from '../shared/analysis/budget';
import type { StepVerdict } from '../shared/analysis/judge';
import { JUDGEMENT_RULES, rulesOf } from '../shared/analysis/rules';
import { warmUpOf } from '../shared/analysis/warm-up';
import { formatDuration } from '../shared/duration';
import { millis, percent as pct } from '../shared/format';
import type { DeployStatus, TimelineEntry } from '../shared/deploy';
import { rollbackStepText } from '../shared/deploy/rollback';

function time(iso: string): string {
  return iso.slice(11, 19);
}

/** One timeline entry as a line: "12:00:03 CANARY      production  step 1/4: 10 % for 6.0s". */
export function formatTimelineEntry(entry: TimelineEntry): string {
  return `${time(entry.at)} ${entry.phase.padEnd(17)} ${(entry.environment ?? '').padEnd(11)} ${entry.message}`;
}

/** One analysis sample as a line. */
export function formatSample(s: AnalysisSample): string {
  const p95 = millis(s.canary.p95Ms);
  const stable =
    s.stable && s.stable.requests > 0
      ? ` (stable ${pct(s.stable.errors / s.stable.requests)}, p95 ${millis(s.stable.p95Ms)})`
      : '';
  return (
    `${time(s.at)}   sample ${s.environment} @${s.weight}%: ${s.verdict.toUpperCase()}` +
    `${s.warmUp && s.verdict === 'warm-up' ? ` (checks ${s.warmUp.verdict})` : ''} ` +
    `req=${s.canary.requests} err=${pct(s.errorRate)}${stable} p95=${p95} — ${s.reason}`
  );
}

/** A step's verdict on its whole window as a line: "step production @10%: PASS score 100, 2250 requests (750 needed)…". */
export function formatStepVerdict(v: StepVerdict): string {
  const score = v.score === null ? 'no score yet' : `score ${v.score}`;
  const rule = v.rule ? ` (${v.rule})` : '';
  const accepted = v.acceptedBy ? `, accepted by ${v.acceptedBy}` : '';
  return (
    `step ${v.environment} @${v.weight}%: ${v.verdict.toUpperCase()}${rule} ${score}, ` +
    `${v.canaryRequests} requests (${v.minRequests} needed), ${v.samples} samples` +
    `${v.unmeasured ? ` (+${v.unmeasured} unmeasured)` : ''}` +
    `${v.warmUp ? ` (+${v.warmUp.samples} in warm-up, ${v.warmUp.requests} requests not judged)` : ''}` +
    `${accepted} — ${v.reason}` +
    (v.cost ? `; ${v.cost.verdict === 'increase' ? 'COST ALERT: ' : ''}${describeCost(v.cost)}` : '')
  );
}

/**
 * The status as a person reads it, one string per line. Every field may come from others (names, comments, reasons,
 * timeline messages): print each line with `print`, which shows their control characters escaped.
 */
export function formatStatus(status: DeployStatus): string[] {
  const lines = [
    `${status.deployId}: ${status.phase}${status.outcome ? ` (${status.outcome})` : ''}`,
    `  ${status.service} ${status.version}, requested by ${status.requestedBy}${requesterProof(status)}, started ${status.startedAt}` +
      (status.endedAt ? `, ended ${status.endedAt}` : ''),
  ];
  if (status.environment) lines.push(`  environment: ${status.environment}`);
  if (status.canary) {
    const split = status.canary.approximate ? ' (approximate: split by replica counts)' : '';
    lines.push(
      `  canary: step ${status.canary.step}/${status.canary.steps}, ${status.canary.weight} % of traffic${split}`,
    );
  }
  if (status.blueGreen) {
    const bg = status.blueGreen;
    lines.push(
      `  blue-green: ${bg.stage}; green ${bg.green}, blue ${bg.blue ?? '–'}` +
        (bg.keepBlueUntil ? ` (warm until ${bg.keepBlueUntil})` : ''),
    );
  }
  if (status.paused) {
    const p = status.paused;
    lines.push(
      `  PAUSED (${p.cause}) by ${p.by} since ${p.since}: ${p.reason}`,
      `    rolls back at ${p.deadline} unless someone decides:`,
      `    opsflow deploy resume|promote|abort ${status.deployId} --by <name> [--reason "..."]`,
    );
  }
  if (status.approval) {
    lines.push(
      `  waiting for approval of ${status.approval.environment} by ${status.approval.approvers.join(' or ')} until ${status.approval.deadline}`,
      `    opsflow deploy approve ${status.deployId} --by <name> --comment "..."`,
    );
  }
  if (status.lastSample) lines.push(`  last sample: ${formatSample(status.lastSample).trim()}`);
  if (status.analysis) {
    const { counts, step, environment } = status.analysis;
    const env = status.rollout?.find((e) => e.name === environment);
    const limits = env?.analysis;
    lines.push(
      `  whole window: ${formatStepVerdict(step)}`,
      `  failures in ${environment}: ${counts.failures}${limits ? `/${limits.failureLimit}` : ''} in the run, ` +
        `${counts.consecutiveFailures}${limits ? `/${limits.consecutiveFailureLimit}` : ''} in a row` +
        (counts.unmeasured ? ` (${counts.unmeasured} unmeasured)` : ''),
    );
    if (env && limits && rulesOf(env) >= JUDGEMENT_RULES.errorsApart) {
      const { limit, action } = measurementErrorLimit(limits);
      lines.push(
        `  measurement errors in ${environment}: ${counts.errors ?? 0} in the run, ` +
          `${counts.consecutiveErrors ?? 0}/${limit} in a row ${action === 'pause' ? 'pause' : 'roll back'} ` +
          '(never counted as failures)',
      );
    }
    if (env && limits && rulesOf(env) >= JUDGEMENT_RULES.latencyConfidence) {
      const warmUp = warmUpOf(limits);
      lines.push(
        `  warm-up in ${environment}: each step's samples not judged while their window began in its first ` +
          `${formatDuration(warmUp.durationMs)} or the canary had served fewer than ${warmUp.requests} requests in it`,
      );
    }
  }
  for (const a of status.approvals) {
    lines.push(`  ${a.decision} ${a.environment} by ${a.by} at ${a.at}${a.comment ? `: "${a.comment}"` : ''}`);
  }
  for (const c of status.controls) {
    lines.push(`  ${c.action} by ${c.by} at ${c.at} during ${c.phase}${c.reason ? `: "${c.reason}"` : ''}`);
  }
  if (status.rollback) {
    lines.push(`  rollback of ${status.rollback.environment}: ${status.rollback.reason}`);
    for (const step of status.rollback.steps) {
      lines.push(`    ${step.ok ? 'ok    ' : 'FAILED'} ${step.step}: ${rollbackStepText(step)}`);
    }
  }
  if (status.frozen) {
    const f = status.frozen;
    lines.push(
      `  frozen: ${f.environment} by "${f.freeze}" ${f.until ? `until ${f.until}` : 'until someone ends it (opsflow freeze end)'}; ` +
        `break-glass overrides ${f.overriddenBy.length} of ` +
        `${f.breakGlass}${f.overriddenBy.length ? ` (${f.overriddenBy.join(', ')})` : ''}`,
    );
  }
  if (status.notifications?.length) {
    const deliveries = status.notifications.flatMap((n) => n.deliveries.map((d) => ({ ...d, event: n.event })));
    const failed = [
      ...deliveries.filter((d) => !d.ok).map((d) => `${d.channel} (${d.event}): ${d.detail}`),
      ...status.notifications.filter((n) => n.error).map((n) => `${n.event}: ${n.error}`),
    ];
    lines.push(
      `  notifications: ${status.notifications.length} events, ${deliveries.filter((d) => d.ok).length} delivered, ` +
        `${failed.length} failed`,
    );
    for (const line of failed.slice(-5)) lines.push(`    not delivered: ${line}`);
  }
  if (status.reason) lines.push(`  ${status.reason}`);
  if (status.report) lines.push(`  report: ${status.report.dir}/summary.md`);
  lines.push('  timeline:');
  for (const entry of status.timeline) lines.push(`    ${formatTimelineEntry(entry)}`);
  return lines;
}

const dur = (ms: number | null) => (ms === null ? '–' : minutes(ms));
const rate = (r: number | null) => (r === null ? '–' : percent(r));

function figuresLine(f: DerivedFigures): string {
  return (
    `${f.deploys} deploys (${f.promoted} promoted, ${f.rolledBack} rolled back, ${f.failed} failed, ${f.cancelled} cancelled); ` +
    `success ${rate(f.successRate)}; change failure ${rate(f.changeFailureRate)}; pipeline ${dur(f.meanPipelineMs)}; ` +
    `lead time ${dur(f.meanLeadTimeMs)}; time to restore ${dur(f.meanRestoreMs)}`
  );
}

/** The agent's status for people, one string per line (printed with `print`, like `formatStatus`). */
export function formatAgentStatus(s: AgentStatus): string[] {
  const lines = [
    `${s.workflowId}: ${s.state} since ${s.startedAt}${s.continuedAsNew ? ` (continued as new ${s.continuedAsNew}×)` : ''}`,
    `  idle deadline  ${s.idleDeadline} (last activity ${s.lastActivityAt})`,
    `  next review    ${s.nextReview}${s.reviews.last ? ` (last: ${s.reviews.last.file})` : ''}`,
    `  all time       ${figuresLine(s.figures.total)}; ${s.figures.deploysPerDay} promoted/day`,
    `  since review   ${figuresLine(s.figures.sinceLastReview)}`,
  ];
  if (s.stop) lines.push(`  stopping       requested by ${s.stop.by} at ${s.stop.at}: ${s.stop.reason}`);
  lines.push(`  running        ${s.running.length ? '' : 'none'}`);
  for (const r of s.running) lines.push(`    ${r.deployId} (requested by ${r.requestedBy} at ${r.requestedAt})`);
  lines.push(`  recent deploys ${s.recentDeploys.length ? '' : 'none'}`);
  for (const d of s.recentDeploys.slice(-5)) {
    lines.push(`    ${d.finishedAt} ${d.deployId}: ${d.outcome}${d.cause ? ` (${d.cause})` : ''}`);
  }
  lines.push(`  recent events  ${s.recentEvents.length ? '' : 'none'}`);
  for (const e of s.recentEvents.slice(-5)) {
    lines.push(
      `    ${e.at} ${e.severity} ${e.type}${e.service ? ` ${e.service}` : ''}: ${e.message}` +
        (e.actions.length ? ` → ${e.actions.join('; ')}` : ''),
    );
  }
  if (s.freezes?.length) {
    lines.push('  frozen');
    for (const f of s.freezes) lines.push(`    ${formatIncidentFreeze(f)}`);
  }
  if (s.improvements.length) {
    lines.push('  improvements');
    for (const i of s.improvements) lines.push(`    ${i.key}: ${i.text}`);
  }
  return lines;
}

/** One incident freeze, on one line: its id, what it holds, since when, by whom, why. */
export function formatIncidentFreeze(f: IncidentFreeze): string {
  return (
    `${f.id}: ${freezeScope(f.environment)} since ${f.raisedAt} by ${f.raisedBy}` +
    `${f.source === 'event' ? ` (incident${f.key ? ` ${f.key}` : ''})` : ''}: ${f.reason}`
  );
}

/** How the requester is known: a signed start (its key's fingerprint) or a typed name; nothing for older deploys. */
function requesterProof(status: DeployStatus): string {
  const requester = status.requester;
  if (!requester) return '';
  return requester.signed ? ` (signed, ${requester.fingerprint ?? ''})` : ' (typed name, unsigned)';
}
