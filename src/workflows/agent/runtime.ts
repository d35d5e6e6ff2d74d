import { log, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import {
  deploysPerDay,
  deriveFigures,
  initialState,
  type AgentConfig,
  type ValidAgentInput,
  type AgentState,
  type AgentStatus,
  type FinishedDeploy,
} from '../../shared/agent';
import { nextReviewTime } from '../../shared/agent/config';
import type { DeployResult } from '../../shared/deploy';
import { describeUndecodable, isUndecodable } from '../../shared/undecodable';
import { describeIssue } from '../../shared/validation';

/**
 * One run of the agent: its state (carried over continue-as-new), and the flags its handlers set for the main loop.
 * Handlers and the loop share it.
 */
export class AgentRuntime {
  readonly state: AgentState;
  readonly agentId = workflowInfo().workflowId;
  /** Set by every handler that gives the main loop something to do. */
  wake = false;
  /** Set while the agent ends: requests are refused. */
  ending = false;
  /** A person asked for the self-review now. */
  reviewRequested = false;
  /** When the running deploys are next checked while the agent waits for them to end. */
  nextDeployCheckMs = 0;
  /** Notifications sent in this run (their ids' sequence), and the ones still being sent. */
  notifications = 0;
  readonly pendingNotifications: Promise<void>[] = [];

  constructor(readonly input: ValidAgentInput) {
    const { config } = input;
    this.state = input.state ?? initialState(Date.now(), config, nextReviewTime(Date.now(), config.reviewAt));
  }

  get config(): AgentConfig {
    return this.input.config;
  }

  /** Something happened: the idle clock starts again, and the loop wakes. */
  touch(): void {
    this.state.lastActivityAt = now();
    this.state.idleDeadlineMs = Date.now() + this.config.idleTimeout;
    this.wake = true;
  }

  /** The Temporal UI's current details. */
  describe(): void {
    const { state } = this;
    const lines = [
      `**${state.stop ? 'stopping' : 'running'}** ops agent of ${this.input.project}`,
      `${state.running.length} deploys running; idle deadline ${new Date(state.idleDeadlineMs).toISOString()}; ` +
        `next review ${new Date(state.nextReviewMs).toISOString()}`,
    ];
    setCurrentDetails(lines.join('\n\n'));
  }

  /** A deploy ended (its result, or its deployFinished signal, whichever comes first): queue its feedback loop. */
  finished(result: DeployResult): void {
    const { state } = this;
    const running = state.running.find((r) => r.deployId === result.deployId);
    if (!running) return;
    state.running = state.running.filter((r) => r !== running);
    const entry: FinishedDeploy = { result, running, finishedAt: now() };
    state.pendingFeedback.push(entry);
    this.touch();
  }

  /** The status a query returns. */
  status(): AgentStatus {
    const { state } = this;
    return {
      project: this.input.project,
      workflowId: this.agentId,
      state: state.stop ? 'stopping' : 'running',
      startedAt: state.startedAt,
      continuedAsNew: state.continuedAsNew,
      lastActivityAt: state.lastActivityAt,
      idleDeadline: new Date(state.idleDeadlineMs).toISOString(),
      nextReview: new Date(state.nextReviewMs).toISOString(),
      ...(state.stop ? { stop: state.stop } : {}),
      running: state.running,
      recentDeploys: state.recentDeploys,
      recentEvents: state.recentEvents,
      figures: {
        total: deriveFigures(state.totals),
        sinceLastReview: deriveFigures(state.day),
        deploysPerDay: deploysPerDay(state.totals, state.startedAt, Date.now()),
      },
      improvements: state.improvements,
      reviews: state.reviews,
      artifacts: state.artifacts,
      freezes: state.freezes ?? [],
      endedFreezes: state.endedFreezes ?? [],
    };
  }
}

/** Workflow time as ISO text (the SDK's deterministic clock). */
export function now(): string {
  return new Date().toISOString();
}

/**
 * Validates a message's argument; a validator's refusal is one line naming the field, or saying that its payload
 * could not be decoded (the worker's payload converter hands such an argument over as the Undecodable sentinel).
 */
export function parseOrRefuse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  if (isUndecodable(value)) throw new Error(describeUndecodable(value));
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`invalid argument: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

/**
 * True (and logged) when a Signal's argument could not be decoded: Signals cannot be refused before they reach
 * history, so the handler drops it, as it drops an invalid one.
 */
export function undecodableSignal(name: string, value: unknown): boolean {
  if (!isUndecodable(value)) return false;
  log.warn(`ignored ${name} signal: ${describeUndecodable(value)}`);
  return true;
}
