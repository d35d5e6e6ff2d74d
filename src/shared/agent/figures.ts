// The DORA figures: counters folded from finished deploys and events, and the rates derived from them.
import { causeKey } from '../deploy/facts';
import type { DeployResult, Outcome } from '../deploy/status';
import type { AgentTargets } from './config';
import type { AgentEventArgs } from './input';
import type { RunningDeploy } from './state';
import { addSecurity, emptySecurity, type SecurityCounts } from './security';

/** What the feedback loop measured for one finished deploy from its status (samples and timeline). */
export interface DeployFacts {
  /** Time spent waiting for a person to approve; the pipeline's own time is the duration minus this. */
  approvalWaitMs: number;
  /** From the first failing sample (impact began) to the environment rolled back; only for rollbacks. */
  restoreMs: number | null;
  inconclusiveSamples: number;
  unmeasuredSamples: number;
  samples: number;
  /** The environment where it failed, when it did. */
  environment: string | null;
  /** Files the feedback loop wrote (post-mortem, runbook, log). */
  files: string[];
  /** Its security facts (absent in facts recorded before them). */
  security?: SecurityCounts;
}

/** One finished deploy as the agent keeps it. */
export interface DeployRecord {
  deployId: string;
  service: string;
  version: string;
  requestedBy: string;
  requestedAt: string;
  finishedAt: string;
  outcome: Outcome;
  reason: string;
  durationMs: number;
  /** Duration minus the wait for approval. */
  pipelineMs: number;
  /** Request to promoted (DORA lead time), for promoted deploys. */
  leadTimeMs: number | null;
  restoreMs: number | null;
  cause: string | null;
  files: string[];
}

/** Aggregated counters: figures stay exact however many deploys scroll out of the recent list. */
export interface Figures {
  requested: number;
  promoted: number;
  rolledBack: number;
  failed: number;
  cancelled: number;
  pipelineSumMs: number;
  pipelineMaxMs: number;
  pipelineCount: number;
  withinTarget: number;
  leadTimeSumMs: number;
  leadTimeCount: number;
  restoreSumMs: number;
  restoreMaxMs: number;
  restoreCount: number;
  restoreWithinTarget: number;
  inconclusiveSamples: number;
  unmeasuredSamples: number;
  events: number;
  warningEvents: number;
  criticalEvents: number;
  aborts: number;
  /** Failure causes, keyed "<service>/<cause>". */
  causes: Record<string, number>;
  /** opsflow's own security facts (absent in states carried over from agents before them). */
  security?: SecurityCounts;
}

/** The figures a person reads: rates and means against the targets. */
export interface DerivedFigures {
  deploys: number;
  promoted: number;
  rolledBack: number;
  failed: number;
  cancelled: number;
  /** promoted / (promoted + rolled back + failed); null without a finished change. */
  successRate: number | null;
  /** (rolled back + failed) / changes: the DORA change failure rate. */
  changeFailureRate: number | null;
  meanPipelineMs: number | null;
  maxPipelineMs: number | null;
  withinTarget: number;
  meanLeadTimeMs: number | null;
  meanRestoreMs: number | null;
  maxRestoreMs: number | null;
  restoresWithinTarget: number;
  restores: number;
  inconclusiveSamples: number;
  unmeasuredSamples: number;
  events: number;
  warningEvents: number;
  criticalEvents: number;
  aborts: number;
  causes: Record<string, number>;
  security: SecurityCounts;
}

export function emptyFigures(): Figures {
  return {
    requested: 0,
    promoted: 0,
    rolledBack: 0,
    failed: 0,
    cancelled: 0,
    pipelineSumMs: 0,
    pipelineMaxMs: 0,
    pipelineCount: 0,
    withinTarget: 0,
    leadTimeSumMs: 0,
    leadTimeCount: 0,
    restoreSumMs: 0,
    restoreMaxMs: 0,
    restoreCount: 0,
    restoreWithinTarget: 0,
    inconclusiveSamples: 0,
    unmeasuredSamples: 0,
    events: 0,
    warningEvents: 0,
    criticalEvents: 0,
    aborts: 0,
    causes: {},
    security: emptySecurity(),
  };
}

/** Builds the record of a finished deploy from its result, what the agent knew and what the feedback loop measured. */
export function deployRecord(
  result: DeployResult,
  running: RunningDeploy | undefined,
  facts: DeployFacts | null,
  finishedAt: string,
): DeployRecord {
  const requestedAt = running?.requestedAt ?? finishedAt;
  const leadTimeMs =
    result.outcome === 'promoted'
      ? Math.max(0, new Date(finishedAt).getTime() - new Date(requestedAt).getTime())
      : null;
  return {
    deployId: result.deployId,
    service: result.service,
    version: result.version,
    requestedBy: running?.requestedBy ?? 'unknown',
    requestedAt,
    finishedAt,
    outcome: result.outcome,
    reason: result.reason,
    durationMs: result.durationMs,
    pipelineMs: Math.max(0, result.durationMs - (facts?.approvalWaitMs ?? 0)),
    leadTimeMs,
    restoreMs: facts?.restoreMs ?? null,
    cause: causeKey(result.outcome, result.cause),
    files: facts?.files ?? [],
  };
}

/** Adds a finished deploy (and what the feedback loop measured) to a set of counters. */
export function foldDeploy(
  figures: Figures,
  record: DeployRecord,
  facts: DeployFacts | null,
  targets: AgentTargets,
): Figures {
  const f: Figures = { ...figures, causes: { ...figures.causes } };
  if (record.outcome === 'promoted') f.promoted += 1;
  else if (record.outcome === 'rolled-back') f.rolledBack += 1;
  else if (record.outcome === 'failed') f.failed += 1;
  else f.cancelled += 1;
  // A cancelled deploy changed nothing: its time says nothing about the pipeline's speed.
  if (record.outcome === 'promoted' || record.outcome === 'rolled-back' || record.outcome === 'failed') {
    f.pipelineSumMs += record.pipelineMs;
    f.pipelineMaxMs = Math.max(f.pipelineMaxMs, record.pipelineMs);
    f.pipelineCount += 1;
    if (record.pipelineMs <= targets.deployDuration) f.withinTarget += 1;
  }
  if (record.leadTimeMs !== null) {
    f.leadTimeSumMs += record.leadTimeMs;
    f.leadTimeCount += 1;
  }
  if (record.restoreMs !== null) {
    f.restoreSumMs += record.restoreMs;
    f.restoreMaxMs = Math.max(f.restoreMaxMs, record.restoreMs);
    f.restoreCount += 1;
    if (record.restoreMs <= targets.timeToRestore) f.restoreWithinTarget += 1;
  }
  if (facts) {
    f.inconclusiveSamples += facts.inconclusiveSamples;
    f.unmeasuredSamples += facts.unmeasuredSamples;
    f.security = addSecurity(f.security, facts.security);
  }
  if (record.cause && record.outcome !== 'rejected' && record.outcome !== 'approval-timed-out') {
    const key = `${record.service}/${record.cause}`;
    f.causes[key] = (f.causes[key] ?? 0) + 1;
  }
  return f;
}

/** Adds an event to a set of counters. */
export function foldEvent(figures: Figures, event: AgentEventArgs, aborted: number): Figures {
  return {
    ...figures,
    events: figures.events + 1,
    warningEvents: figures.warningEvents + (event.severity === 'warning' ? 1 : 0),
    criticalEvents: figures.criticalEvents + (event.severity === 'critical' ? 1 : 0),
    aborts: figures.aborts + aborted,
  };
}

const mean = (sum: number, count: number): number | null => (count > 0 ? sum / count : null);

/** Rates and means from counters. */
export function deriveFigures(f: Figures): DerivedFigures {
  const changes = f.promoted + f.rolledBack + f.failed;
  return {
    deploys: changes + f.cancelled,
    promoted: f.promoted,
    rolledBack: f.rolledBack,
    failed: f.failed,
    cancelled: f.cancelled,
    successRate: changes > 0 ? f.promoted / changes : null,
    changeFailureRate: changes > 0 ? (f.rolledBack + f.failed) / changes : null,
    meanPipelineMs: mean(f.pipelineSumMs, f.pipelineCount),
    maxPipelineMs: f.pipelineCount > 0 ? f.pipelineMaxMs : null,
    withinTarget: f.withinTarget,
    meanLeadTimeMs: mean(f.leadTimeSumMs, f.leadTimeCount),
    meanRestoreMs: mean(f.restoreSumMs, f.restoreCount),
    maxRestoreMs: f.restoreCount > 0 ? f.restoreMaxMs : null,
    restoresWithinTarget: f.restoreWithinTarget,
    restores: f.restoreCount,
    inconclusiveSamples: f.inconclusiveSamples,
    unmeasuredSamples: f.unmeasuredSamples,
    events: f.events,
    warningEvents: f.warningEvents,
    criticalEvents: f.criticalEvents,
    aborts: f.aborts,
    causes: { ...f.causes },
    security: addSecurity(f.security, undefined),
  };
}

/** Adds security facts the agent saw itself (a refused freeze request) to a set of counters. */
export function foldSecurity(figures: Figures, counts: Partial<SecurityCounts>): Figures {
  return { ...figures, security: addSecurity(figures.security, counts) };
}

/** DORA deployment frequency: promoted deploys per day since the agent started (at least one day). */
export function deploysPerDay(totals: Figures, startedAt: string, nowMs: number): number {
  const days = Math.max(1, (nowMs - new Date(startedAt).getTime()) / 86_400_000);
  return Math.round((totals.promoted / days) * 100) / 100;
}
