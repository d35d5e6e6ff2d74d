import type { CostComparison } from '../cost';
import type { Delivery, EventType } from '../notify/events';
import type { AnalysisSample, DecisionRule, MetricCheck, Verdict } from '../analysis';
import type { AnalysisProgress, StepVerdict, UnmeasuredSample } from '../analysis/judge';
import type { ChatVia } from '../signing';
import type { ControlAction, Plan, Requester, RolloutEnvironment } from './input';

export type Phase =
  | 'PLANNING'
  | 'DEPLOYING'
  | 'VERIFYING'
  | 'AWAITING_APPROVAL'
  | 'FROZEN'
  | 'CANARY'
  | 'BLUE_GREEN'
  | 'PAUSED'
  | 'PROMOTING'
  | 'ROLLING_BACK'
  | 'REPORTING'
  | 'PROMOTED'
  | 'ROLLED_BACK'
  | 'CANCELLED'
  | 'FAILED';

export type Outcome = 'promoted' | 'rolled-back' | 'rejected' | 'approval-timed-out' | 'failed';

export const FINAL_PHASES: readonly Phase[] = ['PROMOTED', 'ROLLED_BACK', 'CANCELLED', 'FAILED'];

export interface Decision {
  by: string;
  at: string;
  comment?: string;
}

export interface ApprovalRecord extends Decision {
  environment: string;
  decision: 'approved' | 'rejected';
  via: 'update' | 'signal';
  /** Set when the decision was proven by a signature: the nonce of the signed statement. */
  signedNonce?: string;
  /** Set when it came through a chat bridge (signed by the bridge for `by`): which bridge, platform and user. */
  through?: ChatVia;
}

/** What a waiting environment needs, and what a person signs to approve it. */
export interface PendingApproval {
  environment: string;
  approvers: string[];
  deadline: string;
  /** Distinct approvals needed, and groups of which one member must approve. */
  required?: number;
  requireGroups?: string[];
  /** Who approved so far. */
  approvedBy?: string[];
  /** What a signed statement must bind to: the first run id and the hash of the rollout being approved. */
  runId?: string;
  planHash?: string;
  namespace?: string;
  /** Whether approving needs a signed statement. */
  signed?: boolean;
}

export interface TimelineEntry {
  at: string;
  phase: Phase;
  environment?: string;
  message: string;
}

/** The whole status a query returns: phase, step, weight, last analysis, approvals, timeline. */
export interface DeployStatus {
  deployId: string;
  service: string;
  version: string;
  feature: string;
  requestedBy: string;
  phase: Phase;
  environment?: string;
  startedAt: string;
  endedAt?: string;
  /** The version each environment ran before this deploy. */
  previousVersions: Record<string, string>;
  canary?: {
    environment: string;
    step: number;
    steps: number;
    weight: number;
    /** The target splits by replica counts (no traffic router): the weight is approximate. */
    approximate?: boolean;
  };
  /** Blue-green: which stage the switch is in, and until when blue stays warm. */
  blueGreen?: {
    environment: string;
    blue: string | null;
    green: string;
    stage: BlueGreenStage;
    keepBlueUntil?: string;
  };
  /**
   * Set while a freeze holds the deploy: which, until when (absent: an incident freeze, until someone ends it), and the
   * break-glass overrides signed so far.
   */
  frozen?: { environment: string; freeze: string; until?: string; breakGlass: number; overriddenBy: string[] };
  /** Set while the deploy is paused, by a person or on inconclusive data. */
  paused?: PauseState;
  /** Operator actions taken while it ran: pause, resume, promote, abort. */
  controls: ControlRecord[];
  /** The rollback's steps, when there was one, each with what it did or why it failed. */
  rollback?: RollbackStatus;
  approval?: PendingApproval;
  approvals: ApprovalRecord[];
  /** What a signed decision binds to: the namespace, the first run id and each environment's plan hash. */
  signing?: { namespace: string; runId: string; planHashes: Record<string, string> };
  /** How decisions are proven: signed against the worker's policy, typed names (demo mode), or legacy (before policy). */
  trust?: { mode: 'signed' | 'typed-names'; source: string };
  /** Who asked for the deploy: proven by a signed start (with the key's fingerprint), or a typed name. */
  requester?: Requester;
  samples: AnalysisSample[];
  lastSample?: AnalysisSample;
  /** Samples that could not be measured, where and why (absent in deploys recorded before steps were judged whole). */
  unmeasured?: UnmeasuredSample[];
  /** The environment being analysed: its failure counts and the running step's cumulative verdict and score. */
  analysis?: AnalysisProgress;
  /** Every step judged on its whole window, in order: its verdict, score and the rule that decided. */
  stepVerdicts?: StepVerdict[];
  plan?: Plan;
  outcome?: Outcome;
  reason?: string;
  /** Why the deploy stopped short of promotion, as the decision that stopped it. */
  cause?: StopCause;
  /** The rollout that ran: the configured environments, or the plan's tightened ones. */
  rollout?: RolloutEnvironment[];
  /** What happened in each environment so far, in pipeline order: the facts reports and figures read. */
  results?: EnvironmentResult[];
  /** Every notification the deploy sent, or could not: which event, and what each channel answered. */
  notifications?: NotificationRecord[];
  /** For people only: rendered from the facts, never parsed. */
  timeline: TimelineEntry[];
  report?: ReportResult;
}

/** One event the deploy told people of, and what became of it on each channel. */
export interface NotificationRecord {
  event: EventType;
  eventId: string;
  at: string;
  environment?: string;
  deliveries: Delivery[];
  /** Set when the notify activity itself failed (timed out): nothing is known of the channels. */
  error?: string;
}

export type BlueGreenStage = 'green-started' | 'switched' | 'blue-warm';

export interface PauseState {
  environment: string;
  /**
   * manual: a person; inconclusive: too little data (or traffic) to judge; marginal: a step's score below pass;
   * unmeasured: too many samples in a row could not be measured (the provider or platform could not be read).
   */
  cause: 'manual' | 'inconclusive' | 'marginal' | 'unmeasured';
  /** The analysis rule that paused (`score`, `max-bake`); absent for a person's pause and missing data in a row. */
  rule?: DecisionRule;
  by: string;
  reason: string;
  since: string;
  /** When it rolls back unless someone resumes, promotes or aborts (pauseTimeout). */
  deadline: string;
  /** The phase to return to on resume. */
  resumePhase: Phase;
}

/**
 * Who did what a rollback step reports, as the target's own record tells (never the deploy's input or history): this
 * attempt of the step; an earlier attempt, whose work took effect but whose answer was lost (its worker died), so this
 * one found it done and changed nothing; or unknown: nothing was left to do, and the target keeps no record that tells
 * whether an earlier attempt did it or there was never anything to do.
 */
export type DoneBy = 'this-attempt' | 'earlier-attempt' | 'unknown';

export interface RollbackStep {
  step: 'traffic-to-zero' | 'scale-down' | 'verify-stable' | 'rollback';
  at: string;
  ok: boolean;
  /** For people: what the step did or found, or why it failed (rendered with `by`, never parsed). */
  detail: string;
  /** Who did it (absent: a step that does not tell, such as verify-stable, or one recorded before this field). */
  by?: DoneBy;
}

export interface RollbackStatus {
  environment: string;
  reason: string;
  startedAt: string;
  endedAt?: string;
  steps: RollbackStep[];
}

/** What the deploy workflow returns, and the orchestrator reads from report.json. */
export interface DeployResult {
  deployId: string;
  service: string;
  version: string;
  outcome: Outcome;
  /** For people: rendered from the facts below, never read back. */
  reason: string;
  phase: Phase;
  durationMs: number;
  report: ReportResult | null;
  /** Why the deploy stopped short of promotion; absent when promoted (and in results recorded before facts). */
  cause?: StopCause;
  /** What happened in each environment of the pipeline, in order (absent in results recorded before facts). */
  environments?: EnvironmentResult[];
}

export interface ReportResult {
  dir: string;
  files: string[];
  filesChanged: FilesChanged;
}

export interface FilesChanged {
  created: string[];
  modified: string[];
  deleted: string[];
}

/** What an operator action did, as the Update answers it. */
export interface ControlRecord {
  /** An operator action, or a signed break-glass override of a freeze. */
  action: ControlAction | 'override';
  by: string;
  at: string;
  reason?: string;
  via: 'update' | 'signal';
  /** The phase the deploy was in when the action was taken. */
  phase: Phase;
  /** Set when the action was proven by a signature: the nonce of the signed statement. */
  signedNonce?: string;
  /** Set when it came through a chat bridge whose signature was checked: which bridge, platform and user. */
  through?: ChatVia;
}

/** A check that decided a sample's verdict: which metric, judged how, its value and the limit it crossed. */
export interface DecidingCheck {
  metric: string;
  kind: MetricCheck['kind'];
  verdict: Verdict;
  value: number | null;
  /** The threshold (critical or warn) or the comparison's limit that was crossed. */
  limit: number | null;
  /** The comparison's one-sided p-value and effect size, when a test decided it. */
  pValue?: number;
  effectSize?: number;
}

/**
 * Why an environment's rollout stopped, as the decision that stopped it. Reports, the LLM facts, the agent's figures
 * and post-mortems read this; the `reason` strings are rendered from it for people.
 */
export type StopCause =
  /** A sample crossed a critical threshold: rolled back at once. */
  | { kind: 'critical'; checks: DecidingCheck[]; rule?: 'critical' }
  /**
   * Failing or unmeasurable samples reached a limit: `consecutive` in a row, or the run's `budget` (absent: in a row,
   * as every such stop was before the budget); `checks` are the last failing sample's. `measurement-errors`: samples
   * in a row that could not be measured reached `consecutiveErrorLimit` where `onMeasurementErrors` is rollback
   * (`failing` is 0 and `unmeasured` their number).
   */
  | {
      kind: 'failure-limit';
      failing: number;
      unmeasured: number;
      limit: number;
      checks: DecidingCheck[];
      rule?: 'consecutive' | 'budget' | 'measurement-errors';
    }
  /**
   * A step's cumulative window failed its judgement: a threshold over the whole window, the comparison with stable,
   * a score below marginal, a cost per 1,000 requests above stable's tolerance where cost fails (`cost`, with `cost`
   * the comparison); or the step reached its max bake without the requests to judge, or without the cost its
   * analysis requires (onInconclusive rollback).
   */
  | {
      kind: 'step-judgement';
      rule: 'cumulative-threshold' | 'comparison' | 'score' | 'max-bake' | 'cost';
      step: number;
      weight: number;
      score: number | null;
      /** The canary's requests in the step. */
      requests: number;
      checks: DecidingCheck[];
      /** The step's cost comparison, when cost decided (rule cost). */
      cost?: CostComparison;
    }
  /** Paused (by a person, or on inconclusive data) and nobody decided within the pause timeout. */
  | { kind: 'pause-timeout'; pause: PauseState['cause']; by: string; timeoutMs: number }
  /** A person (or the ops agent on a critical alert) aborted it. */
  | { kind: 'abort'; by: string; reason?: string }
  /**
   * An operation failed after its retries: starting the release, routing traffic, promoting. `refusal` says why the
   * worker's policy refused the deploy, when that is what failed it (absent in deploys recorded before).
   */
  | { kind: 'error'; errorType: string | null; message: string; refusal?: PolicyRefusal }
  /** The workflow was cancelled. */
  | { kind: 'cancelled' }
  | { kind: 'rejected'; by: string }
  | { kind: 'approval-timeout'; timeoutMs: number };
export type StopCauseKind = StopCause['kind'];

/**
 * Why the worker's policy refused a deploy: a start the policy needs signed and is not (`unsigned-start`), a signed
 * start whose signature does not hold or was used before (`start-signature`), a request that would loosen the policy
 * (`loosening`), a policy answer that is not the worker's (`policy-answer`), or evidence for a change that the worker
 * checked and refused (`evidence`: approvals or overrides that do not verify or do not count). Typed, so the agent
 * counts them; the message is for people.
 */
export const POLICY_REFUSALS = ['unsigned-start', 'start-signature', 'loosening', 'policy-answer', 'evidence'] as const;
export type PolicyRefusal = (typeof POLICY_REFUSALS)[number];

/** How one environment ended. */
export type EnvironmentOutcome = 'promoted' | 'rolled-back' | 'failed' | 'unchanged' | 'not-reached';

/**
 * Samples of one environment by what they showed; `unmeasured` ones could not be taken at all; `warm-up` ones were
 * taken in the canary's warm-up and not judged (absent until one was).
 */
export type SampleCounts = Record<Verdict | 'unmeasured', number> & { 'warm-up'?: number };

/** What happened in one environment: facts as fields, for reports, figures and post-mortems. */
export interface EnvironmentResult {
  environment: string;
  outcome: EnvironmentOutcome;
  /** The version it ran before the deploy (null: nothing). */
  fromVersion: string | null;
  /** The version it runs now. */
  toVersion: string | null;
  startedAt?: string;
  endedAt?: string;
  /** When the approval was asked for and decided (absent when the environment needs none). */
  approval?: { requestedAt: string; decidedAt?: string; decision?: 'approved' | 'rejected' | 'timed-out'; by?: string };
  /** Window start of the first failing or critical sample: when the new version began to hurt. */
  failingSince?: string;
  /** When the new version stopped taking traffic in the rollback (or the rollback ended, if it had no such step). */
  restoredAt?: string;
  /** Why it stopped short of promotion. */
  cause?: StopCause;
  samples: SampleCounts;
  /** The highest traffic share the new version had, in percent. */
  maxWeight: number;
  /** The target split traffic by replica counts, not by a router: the weights it reached were approximate. */
  approximateSplit?: boolean;
}
