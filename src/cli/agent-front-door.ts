import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { AgentConfig } from '../shared/agent-config';
import { agentWorkflowId } from '../shared/agent-config';
import type { AgentInput, DeployAccepted } from '../shared/agent';
import type { DeployInput } from '../shared/deploy';
import { requestDeployUpdate, type opsAgent } from '../workflows/agent';

/** Where the project's agent runs and what it is started with when it is not running yet. */
export interface AgentTarget {
  project: string;
  taskQueue: string;
  workdir: string;
  config: AgentConfig;
  uiUrl?: string;
}

/** The agent's start options: the same for every caller, so whichever request comes first starts it. */
export function agentStartOperation(target: AgentTarget): WithStartWorkflowOperation<typeof opsAgent> {
  const input: AgentInput = {
    project: target.project,
    workdir: target.workdir,
    config: target.config,
    ...(target.uiUrl ? { uiUrl: target.uiUrl } : {}),
  };
  return new WithStartWorkflowOperation<typeof opsAgent>('opsAgent', {
    workflowId: agentWorkflowId(target.project),
    taskQueue: target.taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `ops agent of ${target.project}`,
    staticDetails: `Takes deploy requests and infrastructure events for **${target.project}**, reviews itself daily and ends after ${Math.round(target.config.idleTimeout / 3_600_000)} idle hours.`,
  });
}

/**
 * The front door of `opsflow deploy start`: asks the project's agent to start the deploy, starting the agent
 * first when it is not running (update-with-start, one round trip). Answers with the deploy's id and run.
 */
export async function requestDeployThroughAgent(
  client: Client,
  target: AgentTarget,
  input: DeployInput,
  searchAttributes: boolean,
): Promise<DeployAccepted> {
  return client.workflow.executeUpdateWithStart(requestDeployUpdate, {
    args: [{ input, searchAttributes }],
    startWorkflowOperation: agentStartOperation(target),
  });
}
