import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { AgentActivities } from '../activities/agent';
import {
  agentEventArgsSchema,
  agentInputSchema,
  buildSelfReview,
  deployRecord,
  deployRequestArgsSchema,
  deploysPerDay,
  deriveFigures,
  applyDeploy,
  applyEvent,
  applyReview,
  initialState,
  stopArgsSchema,
  type AgentEndReason,
  type AgentEventArgs,
  type AgentInput,
  type AgentResult,
  type AgentState,
  type AgentStatus,
  type DeployAccepted,
  type DeployFacts,
  type FinishedDeploy,
  type RecordedEvent,
  type StopArgs,
} from '../shared/agent';
import { nextReviewTime } from '../shared/agent/config';
import { describeIssue, nameSchema } from '../shared/validation';
import type { z } from 'zod';
import { causeKey, resultFromFailure, type DeployResult } from '../shared/deploy';
import { ErrorType, failureMessage } from '../shared/errors';
import { ENVIRONMENT_ATTRIBUTE, PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../shared/search-attributes';
import type { deploy } from './deploy';
import { abortSignal, deployFinishedSignal } from '../shared/deploy/messages';
import {
  agentStatusQuery,
  eventSignal,
  recordEventUpdate,
  requestDeployUpdate,
  reviewNowUpdate,
  stopSignal,
  stopUpdate,
} from '../shared/agent/messages';

/** Writing docs: quick, retried a few times; a failing write never stops the agent. */
const DOCS_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '20 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [ErrorType.InvalidRequest],
  },
};

/** How often a stopping or idle agent checks that the deploys it waits for still run. */
const DEPLOY_CHECK_INTERVAL_MS = 3_600_000;

/**
 * The ops agent of one project (`ops-agent-<project>`): takes deploy requests and starts each deploy as a
 * child, takes infrastructure events, runs the feedback loop after every deploy and the self-review every
 * day, and ends after the idle timeout or on a termination request. Its clock is made of durable timers;
 * it continues as new when its history grows, carrying state and deadlines over unchanged.
 */
export async function opsAgent(rawInput: AgentInput): Promise<AgentResult> {
  const parsed = agentInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid agent input: ${parsed.error.issues[0]?.message}`,
      ErrorType.InvalidInput,
    );
  }
  const input = parsed.data;
  const { config } = input;
  const acts = proxyActivities<AgentActivities>(DOCS_OPTIONS);
  const agentId = workflowInfo().workflowId;
  const state: AgentState =
    input.state ?? initialState(Date.now(), config, nextReviewTime(Date.now(), config.reviewAt));
  /** Set by every handler that gives the main loop something to do. */
  let wake = false;
  let ending = false;
  let reviewRequested = false;
  /** When the running deploys are next checked while the agent waits for them to end. */
  let nextDeployCheckMs = 0;

  const now = () => new Date().toISOString();
  const touch = () => {
    state.lastActivityAt = now();
    state.idleDeadlineMs = Date.now() + config.idleTimeout;
    wake = true;
  };
  const describe = () => {
    const lines = [
      `**${state.stop ? 'stopping' : 'running'}** ops agent of ${input.project}`,
      `${state.running.length} deploys running; idle deadline ${new Date(state.idleDeadlineMs).toISOString()}; ` +
        `next review ${new Date(state.nextReviewMs).toISOString()}`,
    ];
    setCurrentDetails(lines.join('\n\n'));
  };

  /** A deploy ended (its result, or its deployFinished signal, whichever comes first). */
  const finished = (result: DeployResult) => {
    const running = state.running.find((r) => r.deployId === result.deployId);
    if (!running) return;
    state.running = state.running.filter((r) => r !== running);
    const entry: FinishedDeploy = { result, running, finishedAt: now() };
    state.pendingFeedback.push(entry);
    touch();
  };

  setHandler(agentStatusQuery, () => statusOf(input.project, agentId, state));

  setHandler(
    requestDeployUpdate,
    async (args): Promise<DeployAccepted> => {
      const { input: deployInput, searchAttributes } = parseOrRefuse(deployRequestArgsSchema, args);
      touch();
      const existing = state.running.find((r) => r.deployId === deployInput.deployId);
      if (existing) return { deployId: existing.deployId, runId: existing.runId, existing: true, agentId };
      state.totals.requested += 1;
      state.day.requested += 1;
      const environments = deployInput.environments.map((e) => e.name);
      let handle;
      try {
        handle = await startChild<typeof deploy>('deploy', {
          workflowId: deployInput.deployId,
          args: [deployInput],
          // The agent's continue-as-new must never cut a canary.
          parentClosePolicy: 'ABANDON',
          staticSummary: `${deployInput.service} ${deployInput.version} → ${environments.join(' → ')}`,
          staticDetails:
            `Deploy **${deployInput.service} ${deployInput.version}** through ${environments.join(', ')}, requested by ` +
            `${deployInput.requestedBy} through ${agentId}${deployInput.reason ? `: ${deployInput.reason}` : ''}.`,
          ...(searchAttributes
            ? {
                typedSearchAttributes: [
                  { key: SERVICE_ATTRIBUTE, value: deployInput.service },
                  { key: ENVIRONMENT_ATTRIBUTE, value: environments },
                  { key: PHASE_ATTRIBUTE, value: 'PLANNING' },
                ],
              }
            : {}),
        });
      } catch (err) {
        // Started outside the agent (--standalone): the CLI reports the running deploy.
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          return { deployId: deployInput.deployId, runId: null, existing: true, agentId };
        }
        throw err;
      }
      state.running.push({
        deployId: deployInput.deployId,
        runId: handle.firstExecutionRunId,
        service: deployInput.service,
        version: deployInput.version,
        requestedBy: deployInput.requestedBy,
        requestedAt: now(),
      });
      log.info('deploy started', { deployId: deployInput.deployId });
      describe();
      // Within this run the child's result tells the outcome; across continue-as-new its deployFinished signal does.
      void handle.result().then(finished, (err: unknown) => finished(failedResult(deployInput, err)));
      return { deployId: deployInput.deployId, runId: handle.firstExecutionRunId, existing: false, agentId };
    },
    {
      validator: (args) => {
        const { input: deployInput } = parseOrRefuse(deployRequestArgsSchema, args);
        if (deployInput.project !== input.project) {
          throw new Error(`this is the agent of ${input.project}, not of ${deployInput.project}`);
        }
        if (state.stop) throw new Error(`the agent is stopping (requested by ${state.stop.by}): no new deploys`);
        if (ending) throw new Error('the agent is ending: ask again and a new agent starts');
      },
    },
  );

  setHandler(deployFinishedSignal, finished);

  const recordEvent = async (args: AgentEventArgs): Promise<RecordedEvent> => {
    touch();
    state.eventCount += 1;
    const actions: string[] = [];
    if (args.severity === 'critical' && args.service) {
      // The spec's IMMEDIATE ROLLBACK: a critical alert on a service stops its running deploys.
      const targets = state.running.filter((r) => r.service === args.service && !r.abortedAt);
      for (const r of targets) r.abortedAt = now();
      await Promise.all(
        targets.map(async (r) => {
          try {
            await getExternalWorkflowHandle(r.deployId).signal(abortSignal, {
              by: 'ops-agent',
              reason: `critical ${args.type}: ${args.message}`,
            });
            actions.push(`aborted ${r.deployId}`);
          } catch (err) {
            actions.push(`could not abort ${r.deployId}: ${(err as Error).message}`);
          }
        }),
      );
    }
    const recorded: RecordedEvent = { ...args, id: state.eventCount, at: now(), actions };
    applyEvent(state, recorded, actions.filter((a) => a.startsWith('aborted')).length, config.keep);
    log.info('event recorded', { type: args.type, severity: args.severity, actions });
    describe();
    return recorded;
  };
  setHandler(recordEventUpdate, recordEvent, {
    validator: (args) => {
      parseOrRefuse(agentEventArgsSchema, args);
      if (ending) throw new Error('the agent is ending: send the event again and a new agent starts');
    },
  });
  // Signals cannot be refused before they reach history: an invalid one is logged and dropped.
  setHandler(eventSignal, async (args) => {
    const checked = agentEventArgsSchema.safeParse(args);
    if (!checked.success) return log.warn('ignored invalid event signal', { issue: checked.error.issues[0]?.message });
    await recordEvent(checked.data);
  });

  const requestStop = (args: StopArgs) => {
    state.stop = { ...args, at: now() };
    wake = true;
    log.info('termination requested', { by: args.by, reason: args.reason });
    describe();
  };
  setHandler(
    stopUpdate,
    (args) => {
      requestStop(parseOrRefuse(stopArgsSchema, args));
      return statusOf(input.project, agentId, state);
    },
    {
      validator: (args) => {
        parseOrRefuse(stopArgsSchema, args);
        if (state.stop) throw new Error(`already stopping since ${state.stop.at} (requested by ${state.stop.by})`);
      },
    },
  );
  setHandler(stopSignal, (args) => {
    const checked = stopArgsSchema.safeParse(args);
    if (checked.success && !state.stop) requestStop(checked.data);
    else log.warn('ignored stop signal', { already: Boolean(state.stop) });
  });

  setHandler(
    reviewNowUpdate,
    async (args) => {
      log.info('self-review requested', { by: args.by });
      const before = state.reviews.count;
      reviewRequested = true;
      wake = true;
      await condition(() => state.reviews.count > before || !reviewRequested);
      return state.reviews.last;
    },
    {
      validator: (args) => {
        parseOrRefuse(nameSchema, args?.by);
        if (ending) throw new Error('the agent is ending');
      },
    },
  );

  /** The feedback loop of one finished deploy: figures, post-mortem, runbook, log. */
  async function feedback(entry: FinishedDeploy): Promise<void> {
    const { result } = entry;
    const cause = causeKey(result.outcome, result.cause);
    const key = cause ? `${result.service}/${cause}` : null;
    let facts: DeployFacts | null = null;
    try {
      facts = await acts.agentFeedback.executeWithOptions(
        { ...DOCS_OPTIONS, summary: `feedback loop of ${result.deployId}` },
        [
          {
            project: input.project,
            workdir: input.workdir,
            result,
            requestedAt: entry.running?.requestedAt ?? entry.finishedAt,
            requestedBy: entry.running?.requestedBy ?? 'unknown',
            finishedAt: entry.finishedAt,
            cause,
            causeCount: key ? (state.totals.causes[key] ?? 0) + 1 : 0,
          },
        ],
      );
    } catch (err) {
      log.warn('feedback loop failed; figures kept without its measurements', { error: (err as Error).message });
    }
    applyDeploy(state, deployRecord(result, entry.running, facts, entry.finishedAt), facts, config);
  }

  /** The self-review of the window since the last one: at the scheduled time, or now when asked for. */
  async function review(manual: boolean): Promise<void> {
    const at = manual ? Date.now() : state.nextReviewMs;
    const { review: built, improvements } = buildSelfReview({
      project: input.project,
      state,
      fromMs: state.dayStartedMs,
      nowMs: at,
      config,
      manual,
    });
    let files: string[] | null = null;
    try {
      files = await acts.agentSelfReview.executeWithOptions({ ...DOCS_OPTIONS, summary: `self-review ${built.date}` }, [
        { workdir: input.workdir, review: built },
      ]);
    } catch (err) {
      log.warn('self-review could not be written', { error: (err as Error).message });
    }
    applyReview(state, built, improvements, files, at, config);
  }

  const historyTooLong = () => {
    const info = workflowInfo();
    const limit = config.continueAsNewAfterEvents;
    return info.continueAsNewSuggested || (limit > 0 && info.historyLength >= limit);
  };

  describe();
  let reason: AgentEndReason;
  for (;;) {
    const entry = state.pendingFeedback[0];
    if (entry) {
      await feedback(entry);
      state.pendingFeedback.shift();
      continue;
    }
    if (Date.now() >= state.nextReviewMs) {
      await review(false);
      continue;
    }
    if (reviewRequested) {
      await review(true);
      reviewRequested = false;
      continue;
    }
    const ends: AgentEndReason | undefined =
      state.stop && state.running.length === 0
        ? 'requested'
        : !state.stop && Date.now() >= state.idleDeadlineMs && state.running.length === 0
          ? 'idle'
          : undefined;
    if (ends) {
      ending = true;
      await condition(allHandlersFinished);
      // A request accepted just before the end started a deploy: serve it instead of orphaning it.
      if (state.running.length === 0 && state.pendingFeedback.length === 0) {
        reason = ends;
        break;
      }
      ending = false;
      continue;
    }
    // Waiting on deploys to end (stop requested or idle): one the agent cannot hear from must not pin it forever.
    const waitingOnDeploys = state.running.length > 0 && (Boolean(state.stop) || Date.now() >= state.idleDeadlineMs);
    if (waitingOnDeploys && Date.now() >= nextDeployCheckMs) {
      nextDeployCheckMs = Date.now() + DEPLOY_CHECK_INTERVAL_MS;
      try {
        const ended = await acts.agentCheckDeploys.executeWithOptions(
          { ...DOCS_OPTIONS, summary: `check ${state.running.length} running deploys` },
          [{ deploys: state.running }],
        );
        for (const result of ended) finished(result);
      } catch (err) {
        log.warn('could not check the running deploys', { error: (err as Error).message });
      }
      continue;
    }
    if (historyTooLong()) {
      // A pending reviewNow waits for this loop: run it first rather than wait for it.
      await condition(() => allHandlersFinished() || reviewRequested);
      if (state.pendingFeedback.length > 0 || wake || reviewRequested) {
        wake = false;
        continue;
      }
      log.info('continuing as new', { historyLength: workflowInfo().historyLength });
      await continueAsNew<typeof opsAgent>({
        ...rawInput,
        config: input.config,
        state: { ...state, continuedAsNew: state.continuedAsNew + 1 },
      });
    }
    wake = false;
    // A passed idle deadline with deploys still running waits for them; the next review always has a timer.
    const deadlines = [
      state.nextReviewMs,
      ...(state.idleDeadlineMs > Date.now() ? [state.idleDeadlineMs] : []),
      ...(waitingOnDeploys ? [nextDeployCheckMs] : []),
    ];
    await condition(() => wake, Math.max(1, Math.min(...deadlines) - Date.now()));
  }

  const endedAt = now();
  const detail =
    reason === 'requested'
      ? `termination requested by ${state.stop?.by}: ${state.stop?.reason}`
      : `no deployment or infrastructure event since ${state.lastActivityAt}`;
  let files: string[] = [];
  try {
    files = await acts.agentFinalReport.executeWithOptions({ ...DOCS_OPTIONS, summary: 'final report' }, [
      {
        workdir: input.workdir,
        report: {
          project: input.project,
          workflowId: agentId,
          reason,
          detail,
          startedAt: state.startedAt,
          endedAt,
          total: deriveFigures(state.totals),
          deploysPerDay: deploysPerDay(state.totals, state.startedAt, Date.now()),
          reviews: state.reviews.count,
          recentDeploys: state.recentDeploys,
          recentEvents: state.recentEvents,
          improvements: state.improvements,
          artifacts: state.artifacts,
        },
      },
    ]);
  } catch (err) {
    log.warn('final report could not be written', { error: (err as Error).message });
  }
  log.info('agent ended', { reason, detail });
  return {
    project: input.project,
    reason,
    detail,
    startedAt: state.startedAt,
    endedAt,
    total: deriveFigures(state.totals),
    reviews: state.reviews.count,
    files,
  };
}

/** Validates a message's argument; a validator's refusal is one line naming the field. */
function parseOrRefuse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`invalid argument: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

/** The status a query returns. */
function statusOf(project: string, workflowId: string, state: AgentState): AgentStatus {
  return {
    project,
    workflowId,
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
  };
}

/** A child that failed, was cancelled or terminated still has an outcome the figures must count. */
function failedResult(input: { deployId: string; service: string; version: string }, err: unknown): DeployResult {
  return (
    resultFromFailure(err) ?? {
      deployId: input.deployId,
      service: input.service,
      version: input.version,
      outcome: 'failed',
      reason: failureMessage(err),
      phase: 'FAILED',
      durationMs: 0,
      report: null,
    }
  );
}
