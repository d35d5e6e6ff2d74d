// What OPERATIONS.md is rendered from: typed facts, each with the source it names. Nothing here is parsed from prose.
import type { OpsflowConfig } from '../../config/schema';
import type { AgentTargets, DerivedFigures, ImprovementItem, ReviewMeasures } from '../../shared/agent';
import type { Outcome } from '../../shared/deploy';

/** Why a source gave nothing: one line for people, shown where its sections would be. */
export interface Missing {
  missing: string;
}

/** The project's opsflow.yaml as loaded (the worker's own, or the one the CLI was given). */
export interface ConfigFacts {
  config: OpsflowConfig;
  /** The file it was read from, named as the source of the sections it fills. */
  path: string;
}

/** What the ops agent knows: its figures, targets and improvement items, from its self-review or its status query. */
export interface AgentFacts {
  /** Where the figures come from, for people: "the self-review of 2026-11-24", "the status query of ops-agent-x". */
  source: string;
  workflowId: string;
  /** When the figures were taken. */
  asOf: string;
  /** When the agent started (absent when the source does not say). */
  startedAt?: string;
  total: DerivedFigures;
  /** Promoted deploys per day since the agent started (DORA deployment frequency). */
  deploysPerDay: number;
  targets: AgentTargets;
  /** The improvement items open after the last review. */
  improvements: ImprovementItem[];
  /** Items the review this comes from closed (empty when the source is the status). */
  improvementsClosed: string[];
  /** The last self-review written, when there is one. */
  lastReview: { date: string; file: string } | null;
  /** What the worker measured for that review (vulnerabilities, metrics sources); null when the source has none. */
  measures: ReviewMeasures | null;
}

/** One finished deploy as the feedback loop logged it in docs/operations/agent-log.jsonl. */
export interface LoggedDeploy {
  at: string;
  deployId: string;
  service: string;
  version: string;
  outcome: Outcome;
  cause: string | null;
  restoreMs: number | null;
  /** The blameless post-mortem it wrote under docs/incidents/ (a path relative to the workdir), if any. */
  postMortem: string | null;
}

/** The agent's log of finished deploys, and the runbook it keeps, in the working directory. */
export interface DeployLogFacts {
  /** The log's path relative to the workdir. */
  path: string;
  /** Every deploy the log holds for this project, oldest first. */
  deploys: LoggedDeploy[];
  /** docs/operations/runbook.md when the agent has written it. */
  runbook: string | null;
}

/** One notification channel as OPERATIONS.md may show it: its kind and where its credential comes from, never a value. */
export interface ChannelFacts {
  name: string;
  kind: string;
  /** "$SLACK_BOT_TOKEN", "a file of the worker (secretFile)", "no login", or why its settings cannot be read. */
  credential: string;
}

/** Everything one OPERATIONS.md is rendered from. */
export interface OperationsInput {
  project: string;
  generatedAt: string;
  /** Who wrote it: "opsflow docs operations", "the ops agent's self-review of 2026-11-24". */
  generatedBy: string;
  /**
   * The workdir's docs/ folder as seen from the document, for its links to post-mortems and reviews: '' when it is
   * docs/OPERATIONS.md itself (POSIX separators).
   */
  linkBase: string;
  config: ConfigFacts | Missing;
  agent: AgentFacts | Missing;
  log: DeployLogFacts | Missing;
}
