import path from 'node:path';
import type { Client } from '@temporalio/client';
import { requestDeployThroughAgent, type AgentTarget } from '../src/cli/agent-front-door';
import { agentWorkflowId } from '../src/shared/agent/config';
import { DEFAULT_AGENT_CONFIG } from '../src/config/agent';
import type { AgentInput } from '../src/shared/agent';
import { agentStatusQuery, reviewNowUpdate } from '../src/shared/agent/messages';
import type { opsAgent } from '../src/workflows/agent';
import { approveUpdate } from '../src/shared/deploy/messages';
import type { deploy } from '../src/workflows/deploy';
import { ZERO_BAKE } from './overhead';
import { deployInput, pool, sleep, waitForFirstTimer } from './harness';

/** The agent of the benchmark's project, with the built-in agent settings. */
export function benchAgentTarget(taskQueue: string, workdir: string, project = 'bench'): AgentTarget {
  return { project, taskQueue, workdir, config: DEFAULT_AGENT_CONFIG };
}

/**
 * An agent's day: `deploys` zero-bake deploys requested through the agent (update-with-start, as `opsflow deploy
 * start` does), each approved as soon as it waits, then the self-review on request. Returns the agent's workflow id.
 */
export async function agentDay(client: Client, taskQueue: string, workdir: string, deploys: number): Promise<string> {
  const target = benchAgentTarget(taskQueue, workdir);
  await pool(
    Array.from({ length: deploys }, (_, i) => i),
    5,
    async (i) => {
      const input = deployInput(ZERO_BAKE, {
        id: `deploy-hello-1.1.0-bench-agent-day-${i}`,
        version: '1.1.0',
        workdir: path.join(workdir, 'deploys'),
      });
      const accepted = await requestDeployThroughAgent(client, target, input, true);
      if (!accepted.runId) throw new Error(`${accepted.deployId} was not started by the agent`);
      const handle = client.workflow.getHandle<typeof deploy>(accepted.deployId, accepted.runId);
      await waitForFirstTimer(client, accepted.deployId, accepted.runId);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
      const result = await handle.result();
      if (result.outcome !== 'promoted') throw new Error(`${accepted.deployId} ended ${result.outcome}`);
    },
  );
  const agent = client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(target.project));
  // The feedback loop folds each finished deploy into the day's figures; the review should see all of them.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await agent.query(agentStatusQuery);
    if (status.running.length === 0 && status.figures.total.deploys >= deploys) break;
    if (Date.now() > deadline) throw new Error(`the agent folded ${status.figures.total.deploys}/${deploys} deploys`);
    await sleep(200);
  }
  const review = await agent.executeUpdate(reviewNowUpdate, { args: [{ by: 'alice' }] });
  if (!review) throw new Error('the self-review wrote nothing');
  return agent.workflowId;
}

/** Starts an idle agent for project `project` (nothing to do until its next review or idle deadline). */
export async function startIdleAgent(client: Client, taskQueue: string, workdir: string, project: string) {
  const input: AgentInput = { project, workdir, config: DEFAULT_AGENT_CONFIG };
  return client.workflow.start<typeof opsAgent>('opsAgent', {
    taskQueue,
    workflowId: agentWorkflowId(project),
    args: [input],
    staticSummary: `ops agent of ${project}`,
  });
}
