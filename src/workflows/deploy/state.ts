import { log, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { AnalysisSample } from '../../shared/analysis';
import {
  emptySampleCounts,
  type ApprovalRecord,
  type ControlRecord,
  type DeployInput,
  type DeployPolicy,
  type DeployStatus,
  type EnvironmentPlan,
  type EnvironmentResult,
  type Phase,
  type RolloutEnvironment,
  type StopCause,
} from '../../shared/deploy';
import { PHASE_ATTRIBUTE } from '../../shared/search-attributes';
import type { EventType } from '../../shared/notify/events';
import type { SignedStatement } from '../../shared/signing';
import { describeStatus } from './details';

/**
 * Everything one deploy knows while it runs: the status the query returns (with the facts reports read), the rollout
 * it runs, and what people asked for that the running stage has yet to act on. Handlers and stages share it.
 */
export class DeployState {
  readonly status: DeployStatus;
  /** The environments it runs: the configured ones, or the plan's tightened ones. */
  rollout: RolloutEnvironment[];
  /** The approval decision the waiting stage has yet to read. */
  pendingDecision: ApprovalRecord | undefined;
  /** The worker's policy, once asked for (absent in deploys recorded before it existed). */
  policy: DeployPolicy | undefined;
  /** Nonces of the signed statements already counted: each counts once. */
  readonly usedNonces = new Set<string>();
  /** Set by the agent's freezeChanged signal: a deploy held by an incident freeze asks again at once. */
  freezeChanged = false;
  /** The signed approvals that counted, per environment: the evidence its changes present to the worker. */
  readonly approvalEvidence = new Map<string, SignedStatement[]>();
  /** The signed break-glass overrides of a freeze, per environment: evidence too. */
  readonly overrideEvidence = new Map<string, SignedStatement[]>();
  /** Statements bind to this run's id (false in deploys recorded before: they bound to the first run's id). */
  runBound = false;
  /** What the worker's routes want to hear of, and the notifications still being sent; absent: nothing is sent. */
  notifications:
    | {
        types: ReadonlySet<EventType>;
        escalation: NonNullable<DeployPolicy['notify']>['escalation'];
        sequence: number;
        pending: Promise<void>[];
        /** The rollback already told people how the deploy stopped. */
        stopTold?: boolean;
      }
    | undefined;
  /** Operator requests the running stage has yet to act on. */
  readonly requested: { abort?: ControlRecord; promote?: ControlRecord } = {};

  constructor(
    readonly input: DeployInput,
    private readonly trackPhase: boolean,
  ) {
    this.rollout = input.environments;
    this.status = {
      deployId: input.deployId,
      service: input.service,
      version: input.version,
      feature: input.feature,
      requestedBy: input.requestedBy,
      phase: 'PLANNING',
      startedAt: now(),
      previousVersions: {},
      approvals: [],
      samples: [],
      controls: [],
      timeline: [],
      results: [],
    };
  }

  /** A line of the timeline, for people: the facts are in the status's fields. */
  note(message: string): void {
    const { status } = this;
    status.timeline.push({ at: now(), phase: status.phase, environment: status.environment, message });
    log.info(message, { phase: status.phase, environment: status.environment });
    this.publish();
  }

  enter(phase: Phase, message: string): void {
    this.status.phase = phase;
    if (this.trackPhase) upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: phase }]);
    this.note(message);
  }

  /** The Temporal UI's current details. */
  publish(): void {
    setCurrentDetails(describeStatus(this.status));
  }

  /** The environment the deploy is in now. */
  current(): EnvironmentPlan | undefined {
    return this.rollout.find((e) => e.name === this.status.environment);
  }

  /** Sets the rollout that runs, and one result per environment, none reached yet. */
  startRollout(rollout: RolloutEnvironment[], previousVersions: Record<string, string>): void {
    this.rollout = rollout;
    this.status.rollout = rollout;
    this.status.previousVersions = previousVersions;
    this.status.results = rollout.map((env) => {
      const from = previousVersions[env.name] ?? null;
      return {
        environment: env.name,
        outcome: 'not-reached',
        fromVersion: from,
        toVersion: from,
        samples: emptySampleCounts(),
        maxWeight: 0,
      };
    });
  }

  /** The facts of one environment. */
  result(environment: string): EnvironmentResult {
    const found = this.status.results?.find((r) => r.environment === environment);
    if (found) return found;
    const created: EnvironmentResult = {
      environment,
      outcome: 'not-reached',
      fromVersion: this.status.previousVersions[environment] ?? null,
      toVersion: this.status.previousVersions[environment] ?? null,
      samples: emptySampleCounts(),
      maxWeight: 0,
    };
    (this.status.results ??= []).push(created);
    return created;
  }

  /** Keeps a judged sample, and what it says about when the new version began to hurt. */
  recordSample(sample: AnalysisSample): void {
    this.status.samples.push(sample);
    this.status.lastSample = sample;
    const result = this.result(sample.environment);
    if (sample.verdict === 'warm-up') result.samples['warm-up'] = (result.samples['warm-up'] ?? 0) + 1;
    else result.samples[sample.verdict] += 1;
    result.maxWeight = Math.max(result.maxWeight, sample.weight);
    if ((sample.verdict === 'failing' || sample.verdict === 'critical') && !result.failingSince) {
      result.failingSince = new Date(Date.parse(sample.at) - sample.windowMs).toISOString();
    }
    this.publish();
  }

  /** A sample that could not be taken. */
  recordUnmeasured(environment: string, weight: number): void {
    const result = this.result(environment);
    result.samples.unmeasured += 1;
    result.maxWeight = Math.max(result.maxWeight, weight);
  }

  /** How an environment ended; a stop without a failing sample counts its harm from the decision to stop. */
  finish(environment: string, outcome: EnvironmentResult['outcome'], cause?: StopCause): void {
    const result = this.result(environment);
    result.outcome = outcome;
    result.endedAt = now();
    result.toVersion = outcome === 'promoted' ? this.input.version : result.fromVersion;
    if (cause) result.cause = cause;
  }
}

/** Workflow time as ISO text (the SDK's deterministic clock). */
export function now(): string {
  return new Date().toISOString();
}
