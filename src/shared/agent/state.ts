// The agent's state: small, bounded, carried over continue-as-new unchanged; and how events change it.
import { nextReviewTime, type AgentConfig } from './config';
import type { AgentEventArgs, StopArgs } from './input';
import { emptyFigures, foldDeploy, foldEvent, type DeployFacts, type DeployRecord, type Figures } from './figures';
import type { ImprovementItem, SelfReview } from './review';
import type { DeployResult } from '../deploy/status';
import type { EndedFreeze, IncidentFreeze } from './freeze';

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
  /** Incident freezes in force (absent in states carried over from agents before them). */
  freezes?: IncidentFreeze[];
  /** The most recent ended ones, newest last. */
  endedFreezes?: EndedFreeze[];
  /** Incident freezes raised so far: the next one's id. */
  freezeCount?: number;
  /** Nonces of the freeze statements accepted lately (a statement counts once; they expire in minutes). */
  freezeNonces?: string[];
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
