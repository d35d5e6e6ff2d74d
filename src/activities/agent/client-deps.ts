import { Client, type ConnectionLike } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { RunningDeploy, SelfReview } from '../../shared/agent';
import { resultFromFailure, type DeployResult, type DeployStatus } from '../../shared/deploy';
import { statusQuery } from '../../shared/deploy/messages';
import { createNarrator, type LlmRuntime } from '../llm/index';
import type { AgentActivityDeps } from '.';

/** What the model is given for a self-review: the computed figures and answers, nothing else. */
export function reviewFacts(review: SelfReview): Record<string, unknown> {
  return {
    project: review.project,
    date: review.date,
    window: { from: review.from, to: review.to },
    day: review.day,
    allTime: review.total,
    deploysPerDay: review.deploysPerDay,
    answers: review.answers,
    openImprovements: review.improvements.map((i) => i.text),
  };
}

/** How a deploy ended, from its workflow: its result, the result its failure carries, or how it was closed. */
export async function closedDeployOutcome(client: Client, deploy: RunningDeploy): Promise<DeployResult | null> {
  const handle = client.workflow.getHandle(deploy.deployId, deploy.runId, { followRuns: false });
  const { status, closeTime, startTime } = await handle.describe();
  if (status.name === 'RUNNING') return null;
  try {
    return (await handle.result()) as DeployResult;
  } catch (err) {
    const carried = resultFromFailure(err);
    if (carried) return carried;
    return {
      deployId: deploy.deployId,
      service: deploy.service,
      version: deploy.version,
      outcome: 'failed',
      reason: `the deploy workflow was ${status.name.toLowerCase().replace(/_/g, ' ')}`,
      phase: 'FAILED',
      durationMs: closeTime ? closeTime.getTime() - startTime.getTime() : 0,
      report: null,
    };
  }
}

/**
 * The agent's dependencies on a worker: the final status of a deploy read with the deploy's status query
 * (Temporal answers it for a closed workflow by replaying it on a worker of its task queue), and the
 * configured LLM for the review's narrative when narratives are on. The worker's data converter, when it has one, so
 * encrypted statuses and results decode.
 */
export function clientAgentDeps(
  connection: ConnectionLike,
  namespace: string,
  llm?: LlmRuntime,
  dataConverter?: DataConverter,
): AgentActivityDeps {
  const client = new Client({ connection, namespace, ...(dataConverter ? { dataConverter } : {}) });
  return {
    async deployStatus(deployId: string): Promise<DeployStatus | null> {
      return client.workflow.getHandle(deployId).query(statusQuery);
    },
    async deployOutcome(deploy: RunningDeploy): Promise<DeployResult | null> {
      return closedDeployOutcome(client, deploy);
    },
    ...(llm?.client && llm.settings.narratives
      ? {
          async narrate(review: SelfReview, workdir: string): Promise<string | null> {
            const narrator = createNarrator(llm, { workdir, label: `ops-agent-${review.project}` });
            const narrative = await narrator('self-review', reviewFacts(review));
            return narrative.source === 'offline' ? null : narrative.text;
          },
        }
      : {}),
  };
}
