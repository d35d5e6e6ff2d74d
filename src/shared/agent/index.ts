import { z } from 'zod';
import { agentConfigSchema, nextReviewTime, type AgentConfig, type AgentTargets } from '../agent-config';
import { nameSchema } from '../validation';
import { causeKey, deployInputSchema, type DeployResult, type Outcome } from '../deploy';

/** Infrastructure event types the agent takes (the spec's "deployment or infrastructure events"). */
export const EVENT_TYPES = ['deploy', 'incident', 'scale', 'config', 'alert'] as const;
export const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** An infrastructure event as the CLI, the UI or another system reports it. */
export const agentEventArgsSchema = z
  .object({
    type: z.enum(EVENT_TYPES),
    severity: z.enum(SEVERITIES),
    message: z.string().min(1, 'say what happened').max(1000),
    /** The service it concerns; a critical alert for a service whose deploy runs aborts that deploy. */
    service: nameSchema.optional(),
    /** Who or what reports it. */
    by: nameSchema.optional(),
  })
  .strict();
export type AgentEventArgs = z.infer<typeof agentEventArgsSchema>;

/** A deploy request to the agent: the deploy's input as the CLI resolves it from opsflow.yaml. */
export const deployRequestArgsSchema = z
  .object({
    input: deployInputSchema,
    /** Whether the namespace has opsflow's search attributes, so the deploy is findable by service and phase. */
    searchAttributes: z.boolean().default(false),
  })
  .strict();
export type DeployRequestArgs = z.input<typeof deployRequestArgsSchema>;

/** A termination request: who asks, and why. */
export const stopArgsSchema = z.object({ by: nameSchema, reason: z.string().min(1, 'say why').max(1000) }).strict();
export type StopArgs = z.infer<typeof stopArgsSchema>;

/** An event as the agent recorded it, with what it did about it. */
export interface RecordedEvent extends AgentEventArgs {
  id: number;
  at: string;
  actions: string[];
}

/** A deploy the agent started that has not told it its outcome yet. */
export interface RunningDeploy {
  deployId: string;
  runId: string;
  service: string;
  version: string;
  requestedBy: string;
  requestedAt: string;
  /** Set when the agent aborted it (critical alert); the abort is not sent twice. */
  abortedAt?: string;
}

/** A deploy's outcome as the agent learnt it, waiting for the feedback loop. */
export interface FinishedDeploy {
  result: DeployResult;
  running?: RunningDeploy;
  finishedAt: string;
}

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
}

/** An improvement item the feedback loop or the review opened. */
export interface ImprovementItem {
  key: string;
  openedAt: string;
  text: string;
}

/** The agent's whole state: small and bounded, carried over continue-as-new unchanged. */
export interface AgentState {
  startedAt: string;
  continuedAsNew: number;
  lastActivityAt: string;
  idleDeadlineMs: number;
  nextReviewMs: number;
  stop?: StopArgs & { at: string };
  running: RunningDeploy[];
  /** Finished deploys whose feedback loop has not run yet. */
  pendingFeedback: FinishedDeploy[];
  recentDeploys: DeployRecord[];
  recentEvents: RecordedEvent[];
  eventCount: number;
  totals: Figures;
  /** Since the last self-review (or the start), which began at dayStartedMs. */
  day: Figures;
  dayStartedMs: number;
  improvements: ImprovementItem[];
  improvementsClosed: number;
  reviews: { count: number; last?: { date: string; file: string } };
  /** The most recent files the agent wrote. */
  artifacts: string[];
}

/** The agent workflow's input. */
export const agentInputSchema = z
  .object({
    project: nameSchema,
    /** Absolute working directory the docs are written under. */
    workdir: z.string().startsWith('/'),
    config: agentConfigSchema,
    uiUrl: z.string().url().optional(),
    /** State carried over by continue-as-new. */
    state: z.custom<AgentState>((v) => typeof v === 'object' && v !== null && 'totals' in v).optional(),
  })
  .strict();
export type AgentInput = z.input<typeof agentInputSchema>;

/** How the agent ended. */
export type AgentEndReason = 'idle' | 'requested';

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
}

/** The agent's status, as `opsflow agent status` shows it. */
export interface AgentStatus {
  project: string;
  workflowId: string;
  state: 'running' | 'stopping';
  startedAt: string;
  continuedAsNew: number;
  lastActivityAt: string;
  idleDeadline: string;
  nextReview: string;
  stop?: StopArgs & { at: string };
  running: RunningDeploy[];
  recentDeploys: DeployRecord[];
  recentEvents: RecordedEvent[];
  figures: { total: DerivedFigures; sinceLastReview: DerivedFigures; deploysPerDay: number };
  improvements: ImprovementItem[];
  reviews: AgentState['reviews'];
  artifacts: string[];
}

/** What the agent answers a deploy request with: the deploy's id, which the CLI prints as before. */
export interface DeployAccepted {
  deployId: string;
  /** Null when the deploy was already running outside the agent. */
  runId: string | null;
  existing: boolean;
  agentId: string;
}

/** One question of the spec's daily self-review, answered from figures. */
export interface ReviewAnswer {
  question: string;
  status: 'met' | 'below-target' | 'failing' | 'attention' | 'no-data' | 'not-measured';
  answer: string;
}

/** A daily self-review: figures of the day and all time, the five questions, open improvement items. */
export interface SelfReview {
  project: string;
  date: string;
  /** Asked for by a person (`opsflow agent review`) rather than the daily schedule. */
  manual: boolean;
  from: string;
  to: string;
  day: DerivedFigures;
  total: DerivedFigures;
  deploysPerDay: number;
  targets: AgentTargets;
  answers: ReviewAnswer[];
  improvements: ImprovementItem[];
  improvementsClosed: string[];
  improvementsOpened: string[];
}

/** The agent's final report, written when it ends. */
export interface AgentFinalReport {
  project: string;
  workflowId: string;
  reason: AgentEndReason;
  detail: string;
  startedAt: string;
  endedAt: string;
  total: DerivedFigures;
  deploysPerDay: number;
  reviews: number;
  recentDeploys: DeployRecord[];
  recentEvents: RecordedEvent[];
  improvements: ImprovementItem[];
  artifacts: string[];
}

/** What the agent workflow returns. */
export interface AgentResult {
  project: string;
  reason: AgentEndReason;
  detail: string;
  startedAt: string;
  endedAt: string;
  total: DerivedFigures;
  reviews: number;
  files: string[];
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
  };
}

/** A fresh state for an agent started at `nowMs`. */
export function initialState(nowMs: number, config: AgentConfig, nextReviewMs: number): AgentState {
  const now = new Date(nowMs).toISOString();
  return {
    startedAt: now,
    continuedAsNew: 0,
    lastActivityAt: now,
    idleDeadlineMs: nowMs + config.idleTimeout,
    nextReviewMs,
    running: [],
    pendingFeedback: [],
    recentDeploys: [],
    recentEvents: [],
    eventCount: 0,
    totals: emptyFigures(),
    day: emptyFigures(),
    dayStartedMs: nowMs,
    improvements: [],
    improvementsClosed: 0,
    reviews: { count: 0 },
    artifacts: [],
  };
}

/** Appends and keeps the last `keep` items. */
export function pushBounded<T>(list: T[], item: T, keep: number): T[] {
  const next = [...list, item];
  return next.length > keep ? next.slice(next.length - keep) : next;
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
  };
}

/** DORA deployment frequency: promoted deploys per day since the agent started (at least one day). */
export function deploysPerDay(totals: Figures, startedAt: string, nowMs: number): number {
  const days = Math.max(1, (nowMs - new Date(startedAt).getTime()) / 86_400_000);
  return Math.round((totals.promoted / days) * 100) / 100;
}

/** The review's file name stem: the date, and the time for one asked for by a person. */
export function reviewName(review: Pick<SelfReview, 'date' | 'manual' | 'to'>): string {
  return review.manual ? `${review.date}-${review.to.slice(11, 16).replace(':', '')}` : review.date;
}

/** "12.5 %" */
export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio === 0 || ratio === 1 ? 0 : 1)} %`;
}

/** "3m 20s", for review texts (kept here so workflow and activities agree). */
export function minutes(ms: number): string {
  const totalSeconds = Math.round(ms / 1_000);
  const m = Math.floor(totalSeconds / 60);
  const s = totalSeconds % 60;
  if (m === 0) return `${s}s`;
  return s ? `${m}m ${s}s` : `${m}m`;
}

function causesText(causes: Record<string, number>): string {
  const entries = Object.entries(causes).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length ? entries.map(([k, n]) => `${k} ×${n}`).join(', ') : 'none';
}

/** The spec's daily questions (and the DORA figures) answered from measured figures only. */
export function reviewAnswers(day: DerivedFigures, targets: AgentTargets, openItems: number): ReviewAnswer[] {
  const answers: ReviewAnswer[] = [];
  const changes = day.promoted + day.rolledBack + day.failed;
  answers.push(
    day.meanPipelineMs === null
      ? { question: 'Are deployments meeting speed targets?', status: 'no-data', answer: 'No deployment ran.' }
      : {
          question: 'Are deployments meeting speed targets?',
          status: day.withinTarget === changes ? 'met' : 'below-target',
          answer:
            `${day.withinTarget} of ${changes} deployments took at most ${minutes(targets.deployDuration)} ` +
            `(mean ${minutes(day.meanPipelineMs)}, slowest ${minutes(day.maxPipelineMs ?? 0)}, not counting the wait for approval).`,
        },
  );
  answers.push(
    day.successRate === null
      ? {
          question: 'Is the deployment success rate on target?',
          status: 'no-data',
          answer: 'No change reached an ending.',
        }
      : {
          question: 'Is the deployment success rate on target?',
          status:
            day.successRate >= targets.successRate
              ? 'met'
              : day.successRate >= targets.successRateFloor
                ? 'below-target'
                : 'failing',
          answer:
            `${percent(day.successRate)} (${day.promoted} of ${changes}) against ${percent(targets.successRate)}, ` +
            `floor ${percent(targets.successRateFloor)}; change failure rate ${percent(day.changeFailureRate ?? 0)}.`,
        },
  );
  answers.push(
    day.restores === 0
      ? {
          question: 'Was service restored within the time-to-restore target?',
          status: day.rolledBack + day.failed > 0 ? 'attention' : 'no-data',
          answer:
            day.rolledBack + day.failed > 0
              ? 'Failures happened but no restore time could be measured.'
              : 'Nothing needed restoring.',
        }
      : {
          question: 'Was service restored within the time-to-restore target?',
          status: day.restoresWithinTarget === day.restores ? 'met' : 'below-target',
          answer:
            `${day.restoresWithinTarget} of ${day.restores} restores within ${minutes(targets.timeToRestore)} ` +
            `(mean ${minutes(day.meanRestoreMs ?? 0)}, longest ${minutes(day.maxRestoreMs ?? 0)}). ` +
            `Rollbacks: ${day.rolledBack}; causes: ${causesText(day.causes)}.`,
        },
  );
  answers.push({
    question: 'Any security vulnerabilities detected?',
    status: day.criticalEvents > 0 ? 'attention' : 'not-measured',
    answer:
      `No vulnerability scanner reports to the agent; ${day.events} infrastructure events ` +
      `(${day.criticalEvents} critical, ${day.warningEvents} warning)` +
      (day.aborts ? `; ${day.aborts} deploys aborted on a critical alert.` : '.'),
  });
  const noisy = day.inconclusiveSamples + day.unmeasuredSamples;
  answers.push({
    question: 'How can monitoring be improved?',
    status: noisy > 0 ? 'attention' : changes > 0 ? 'met' : 'no-data',
    answer:
      noisy > 0
        ? `${day.inconclusiveSamples} inconclusive and ${day.unmeasuredSamples} unmeasured analysis samples: ` +
          'the canary saw too little traffic or the metrics source did not answer.'
        : changes > 0
          ? 'Every analysis sample was conclusive.'
          : 'No analysis ran.',
  });
  answers.push({
    question: 'Are costs optimized without sacrificing performance?',
    status: 'not-measured',
    answer: 'No cost source is configured; nothing is claimed.',
  });
  answers.push({
    question: 'What automation opportunities exist?',
    status: openItems > 0 ? 'attention' : 'met',
    answer: openItems > 0 ? `${openItems} open improvement items (below).` : 'No open improvement item.',
  });
  return answers;
}

/**
 * Opens improvement items for what the day's figures show (slow deploys, slow restores, noisy analysis,
 * repeated failure causes) and closes those the day shows fixed. Bounded to 20 open items.
 */
export function reviseImprovements(
  items: ImprovementItem[],
  day: DerivedFigures,
  targets: AgentTargets,
  at: string,
): { items: ImprovementItem[]; opened: string[]; closed: string[] } {
  const wanted = new Map<string, string>();
  const changes = day.promoted + day.rolledBack + day.failed;
  if (day.meanPipelineMs !== null && day.withinTarget < changes) {
    wanted.set(
      'speed',
      `${changes - day.withinTarget} of ${changes} deployments exceeded ${minutes(targets.deployDuration)}: ` +
        'shorten bake times or canary steps where the analysis is conclusive early.',
    );
  }
  if (day.restores > day.restoresWithinTarget) {
    wanted.set('restore', `Restores took longer than ${minutes(targets.timeToRestore)}: tighten failureLimit.`);
  }
  if (day.inconclusiveSamples + day.unmeasuredSamples > 0) {
    wanted.set(
      'monitoring',
      `${day.inconclusiveSamples + day.unmeasuredSamples} analysis samples were inconclusive or unmeasured: ` +
        'raise canary traffic or lower minRequests, and check the metrics source.',
    );
  }
  for (const [key, count] of Object.entries(day.causes)) {
    if (count >= 2)
      wanted.set(`cause:${key}`, `${key} failed ${count} times in a day: fix the cause, see the runbook.`);
  }
  const opened: string[] = [];
  const closed: string[] = [];
  const next: ImprovementItem[] = [];
  for (const item of items) {
    const fixed =
      changes > 0 &&
      !wanted.has(item.key) &&
      (item.key.startsWith('cause:') ? !day.causes[item.key.slice(6)] && day.promoted > 0 : true);
    if (fixed) closed.push(item.key);
    else next.push(item);
  }
  for (const [key, text] of wanted) {
    if (next.some((i) => i.key === key)) continue;
    next.push({ key, openedAt: at, text });
    opened.push(key);
  }
  return { items: next.slice(-20), opened, closed };
}

/** Adds files to the bounded list of what the agent wrote. */
export function withArtifacts(state: AgentState, files: string[], keep: number): void {
  for (const file of files) {
    if (!state.artifacts.includes(file)) state.artifacts = pushBounded(state.artifacts, file, keep);
  }
}

/** Folds a finished deploy into the state: counters, the bounded list of recent deploys, artifacts. */
export function applyDeploy(
  state: AgentState,
  record: DeployRecord,
  facts: DeployFacts | null,
  config: AgentConfig,
): void {
  state.totals = foldDeploy(state.totals, record, facts, config.targets);
  state.day = foldDeploy(state.day, record, facts, config.targets);
  state.recentDeploys = pushBounded(state.recentDeploys, record, config.keep);
  withArtifacts(state, record.files, config.keep);
}

/** Folds an event into the state: counters and the bounded list of recent events. */
export function applyEvent(state: AgentState, recorded: RecordedEvent, aborted: number, keep: number): void {
  state.totals = foldEvent(state.totals, recorded, aborted);
  state.day = foldEvent(state.day, recorded, aborted);
  state.recentEvents = pushBounded(state.recentEvents, recorded, keep);
}

/** After a review: the window's counters start again; a scheduled review also moves the schedule on. */
export function applyReview(
  state: AgentState,
  review: SelfReview,
  improvements: ImprovementItem[],
  files: string[] | null,
  atMs: number,
  config: AgentConfig,
): void {
  if (files) {
    withArtifacts(state, files, config.keep);
    state.reviews = { count: state.reviews.count + 1, last: { date: review.date, file: files[0] ?? '' } };
  }
  state.improvementsClosed += review.improvementsClosed.length;
  state.improvements = improvements;
  state.day = emptyFigures();
  state.dayStartedMs = atMs;
  if (!review.manual) state.nextReviewMs = nextReviewTime(atMs, config.reviewAt);
}

/** Builds the day's self-review from the counters. */
export function buildSelfReview(args: {
  project: string;
  state: AgentState;
  fromMs: number;
  nowMs: number;
  config: AgentConfig;
  manual?: boolean;
}): { review: SelfReview; improvements: ImprovementItem[] } {
  const { state, config, nowMs } = args;
  const day = deriveFigures(state.day);
  const at = new Date(nowMs).toISOString();
  const revised = reviseImprovements(state.improvements, day, config.targets, at);
  const review: SelfReview = {
    project: args.project,
    date: at.slice(0, 10),
    manual: args.manual ?? false,
    from: new Date(args.fromMs).toISOString(),
    to: at,
    day,
    total: deriveFigures(state.totals),
    deploysPerDay: deploysPerDay(state.totals, state.startedAt, nowMs),
    targets: config.targets,
    answers: reviewAnswers(day, config.targets, revised.items.length),
    improvements: revised.items,
    improvementsOpened: revised.opened,
    improvementsClosed: revised.closed,
  };
  return { review, improvements: revised.items };
}
