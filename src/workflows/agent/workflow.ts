import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { agentInputSchema, type AgentEndReason, type AgentInput, type AgentResult } from '../../shared/agent';
import { agentStatusQuery } from '../../shared/agent/messages';
import { ErrorType } from '../../shared/errors';
import { registerDeployHandlers } from './deploys';
import { registerEventHandlers } from './events';
import { registerFreezeHandlers } from './freeze';
import { feedback, review } from './feedback';
import { settleAgentNotifications } from './notify';
import { registerOperatorHandlers } from './operator';
import { acts, DOCS_OPTIONS } from './proxies';
import { finalReport } from './report';
import { AgentRuntime } from './runtime';

/** How often a stopping or idle agent checks that the deploys it waits for still run. */
const DEPLOY_CHECK_INTERVAL_MS = 3_600_000;

/**
 * The ops agent of one project (`ops-agent-<project>`): takes deploy requests and starts each deploy as a child,
 * takes infrastructure events, runs the feedback loop after every deploy and the self-review every day, and ends after
 * the idle timeout or on a termination request. Its clock is made of durable timers; it continues as new when its
 * history grows, carrying state and deadlines over unchanged.
 */
export async function opsAgent(rawInput: AgentInput): Promise<AgentResult> {
  const parsed = agentInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid agent input: ${parsed.error.issues[0]?.message}`,
      ErrorType.InvalidInput,
    );
  }
  const rt = new AgentRuntime(parsed.data);
  const { state, config } = rt;
  setHandler(agentStatusQuery, () => rt.status());
  registerDeployHandlers(rt);
  registerEventHandlers(rt);
  registerOperatorHandlers(rt);
  registerFreezeHandlers(rt);

  rt.describe();
  let reason: AgentEndReason;
  for (;;) {
    // Work first: feedback of finished deploys, then a due or requested self-review.
    const entry = state.pendingFeedback[0];
    if (entry) {
      await feedback(rt, entry);
      state.pendingFeedback.shift();
      continue;
    }
    if (Date.now() >= state.nextReviewMs) {
      await review(rt, false);
      continue;
    }
    if (rt.reviewRequested) {
      await review(rt, true);
      rt.reviewRequested = false;
      continue;
    }
    const ends = endReason(rt);
    if (ends) {
      rt.ending = true;
      await condition(allHandlersFinished);
      // A request accepted just before the end started a deploy: serve it instead of orphaning it.
      if (state.running.length === 0 && state.pendingFeedback.length === 0) {
        reason = ends;
        break;
      }
      rt.ending = false;
      continue;
    }
    // Waiting on deploys to end (stop requested or idle): one the agent cannot hear from must not pin it forever.
    const waitingOnDeploys = state.running.length > 0 && (Boolean(state.stop) || Date.now() >= state.idleDeadlineMs);
    if (waitingOnDeploys && Date.now() >= rt.nextDeployCheckMs) {
      rt.nextDeployCheckMs = Date.now() + DEPLOY_CHECK_INTERVAL_MS;
      try {
        const ended = await acts.agentCheckDeploys.executeWithOptions(
          { ...DOCS_OPTIONS, summary: `check ${state.running.length} running deploys` },
          [{ deploys: state.running }],
        );
        for (const result of ended) rt.finished(result);
      } catch (err) {
        log.warn('could not check the running deploys', { error: (err as Error).message });
      }
      continue;
    }
    if (historyTooLong(config.continueAsNewAfterEvents)) {
      // Notifications still being sent finish first; then no handler may run between the check and the continue.
      await settleAgentNotifications(rt);
      // A pending reviewNow waits for this loop: run it first rather than wait for it.
      await condition(() => allHandlersFinished() || rt.reviewRequested);
      if (state.pendingFeedback.length > 0 || rt.wake || rt.reviewRequested || rt.pendingNotifications.length > 0) {
        rt.wake = false;
        continue;
      }
      log.info('continuing as new', { historyLength: workflowInfo().historyLength });
      await continueAsNew<typeof opsAgent>({
        ...rawInput,
        config,
        state: { ...state, continuedAsNew: state.continuedAsNew + 1 },
      });
    }
    rt.wake = false;
    // A passed idle deadline with deploys still running waits for them; the next review always has a timer.
    const deadlines = [
      state.nextReviewMs,
      ...(state.idleDeadlineMs > Date.now() ? [state.idleDeadlineMs] : []),
      ...(waitingOnDeploys ? [rt.nextDeployCheckMs] : []),
    ];
    await condition(() => rt.wake, Math.max(1, Math.min(...deadlines) - Date.now()));
  }
  await settleAgentNotifications(rt);
  return finalReport(rt, reason);
}

/**
 * Stopping with nothing running ends it as requested; idle past the deadline with nothing running ends it as idle, but
 * not while an incident freeze holds: the freeze lives in the agent.
 */
function endReason({ state }: AgentRuntime): AgentEndReason | undefined {
  if (state.stop) return state.running.length === 0 ? 'requested' : undefined;
  if (state.freezes?.length) return undefined;
  return Date.now() >= state.idleDeadlineMs && state.running.length === 0 ? 'idle' : undefined;
}

/** Temporal suggests continuing as new, or the test-only event limit is reached. */
function historyTooLong(limit: number): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || (limit > 0 && info.historyLength >= limit);
}
