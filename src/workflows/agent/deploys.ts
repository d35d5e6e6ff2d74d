import { log, setHandler, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { z } from 'zod';
import { deployRequestArgsSchema, type DeployAccepted } from '../../shared/agent';
import { requestDeployUpdate } from '../../shared/agent/messages';
import { deployIdPatternSchema, deployIdProblem, resultFromFailure, type DeployResult } from '../../shared/deploy';
import { deployFinishedSignal } from '../../shared/deploy/messages';
import { failureMessage } from '../../shared/errors';
import { describeIssue, nameSchema, versionSchema } from '../../shared/validation';
import { ENVIRONMENT_ATTRIBUTE, PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../../shared/search-attributes';
import type { deploy } from '../deploy';
import { now, parseOrRefuse, undecodableSignal, type AgentRuntime } from './runtime';

/**
 * Deploy requests start each deploy as a child (ABANDON: the agent's continue-as-new never cuts a canary); its result,
 * or its deployFinished signal across continue-as-new, queues the feedback loop.
 */
export function registerDeployHandlers(rt: AgentRuntime): void {
  const { state, input, agentId } = rt;
  setHandler(
    requestDeployUpdate,
    async (args): Promise<DeployAccepted> => {
      const { input: deployInput, searchAttributes } = parseOrRefuse(deployRequestArgsSchema, args);
      rt.touch();
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
      rt.describe();
      // Within this run the child's result tells the outcome; across continue-as-new its deployFinished signal does.
      void handle.result().then(
        (result) => rt.finished(result),
        (err: unknown) => rt.finished(failedResult(deployInput, err)),
      );
      return { deployId: deployInput.deployId, runId: handle.firstExecutionRunId, existing: false, agentId };
    },
    {
      validator: (args) => {
        const { input: deployInput } = parseOrRefuse(deployRequestArgsSchema, args);
        // The one pattern, naming what it deploys: a deploy called after hello 1.1.0 deploys hello 1.1.0.
        const idProblem = deployIdProblem(deployInput.deployId, deployInput);
        if (idProblem) throw new Error(idProblem);
        if (deployInput.project !== input.project) {
          throw new Error(`this is the agent of ${input.project}, not of ${deployInput.project}`);
        }
        if (state.stop) throw new Error(`the agent is stopping (requested by ${state.stop.by}): no new deploys`);
        if (rt.ending) throw new Error('the agent is ending: ask again and a new agent starts');
      },
    },
  );
  setHandler(deployFinishedSignal, (result) => {
    if (undecodableSignal('deployFinished', result)) return;
    // Anyone who reaches the namespace can signal: only a well-formed result of a deploy this agent runs counts.
    const parsed = deployFinishedSchema.safeParse(result);
    if (!parsed.success) {
      log.warn('deployFinished ignored: not a deploy result', { issue: describeIssue(parsed.error) });
      return;
    }
    const { deployId, service, version } = parsed.data;
    const running = state.running.find((r) => r.deployId === deployId);
    if (!running || running.service !== service || running.version !== version) {
      log.warn('deployFinished ignored: no such running deploy', { deployId });
      return;
    }
    rt.finished(result);
  });
}

/** The fields of a DeployResult the agent keys on and writes into file names; the rest is read as facts. */
const deployFinishedSchema = z.looseObject({
  deployId: deployIdPatternSchema,
  service: nameSchema,
  version: versionSchema,
  outcome: z.enum(['promoted', 'rolled-back', 'rejected', 'approval-timed-out', 'failed']),
  reason: z.string(),
  phase: z.string(),
  durationMs: z.number().nonnegative(),
});

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
