// What the agent answers: its status, a deploy request's acceptance, its final report and result.
import type { DerivedFigures } from './figures';
import type { StopArgs } from './input';
import type { AgentEndReason } from './input';
import type { ImprovementItem } from './review';
import type { DeployRecord } from './figures';
import type { AgentState, RecordedEvent, RunningDeploy } from './state';
import type { EndedFreeze, IncidentFreeze } from './freeze';

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
  /** Incident freezes in force, and the latest ended ones. */
  freezes: IncidentFreeze[];
  endedFreezes: EndedFreeze[];
}

/** What the agent answers a deploy request with: the deploy's id, which the CLI prints as before. */
export interface DeployAccepted {
  deployId: string;
  /** Null when the deploy was already running outside the agent. */
  runId: string | null;
  existing: boolean;
  agentId: string;
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
