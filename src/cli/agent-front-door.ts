import { WithStartWorkflowOperation, type Client, type WorkflowHandle } from '@temporalio/client';
import { agentWorkflowId, type AgentConfig } from '../shared/agent/config';
import type { AgentInput, DeployAccepted } from '../shared/agent';
import type { OpsflowConfig } from '../config/schema';
import type { DeployInput } from '../shared/deploy';
import { requestDeployUpdate } from '../shared/agent/messages';
import type { opsAgent } from '../workflows/agent';
import { hasSearchAttributes } from './client';
import { explain, forAgent } from './explain';
import { CliError } from './output';
import { temporalTarget, temporalUiUrl } from '../temporal/connection';

/** Where the project's agent runs and what it is started with when it is not running yet. */
export interface AgentTarget {
  project: string;
  taskQueue: string;
  workdir: string;
  config: AgentConfig;
  uiUrl?: string;
}

/** The handle of a project's ops agent. */
export function agentHandle(client: Client, project: string): WorkflowHandle<typeof opsAgent> {
  return client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(project));
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

/** The agent of the project an opsflow.yaml describes, writing its docs under `workdir`. */
export function agentTargetOf(config: OpsflowConfig, workdir: string): AgentTarget {
  const ui = temporalUiUrl(config.temporal.uiUrl, temporalTarget().address);
  return {
    project: config.project,
    taskQueue: config.temporal.taskQueue,
    workdir,
    config: config.agent,
    ...(ui ? { uiUrl: ui } : {}),
  };
}

/** How long the CLI waits for the agent's answer before saying no worker seems to run. */
const ANSWER_TIMEOUT_MS = 30_000;

/**
 * Waits for an answer from the agent; a silent task queue becomes a one-line error naming what to start, and any
 * other error the explainer's line about the agent.
 */
export async function answerOrExplain<T>(call: Promise<T>, target: AgentTarget): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CliError(
            `no answer from the ops agent within ${ANSWER_TIMEOUT_MS / 1000}s: is a worker polling task queue "${target.taskQueue}"? start one with "npm run worker"`,
          ),
        ),
      ANSWER_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([call, timeout]);
  } catch (err) {
    throw explain(err, { ...forAgent(target.project), refusedBy: 'the ops agent refused' });
  } finally {
    clearTimeout(timer);
  }
}

/** `opsflow deploy start` through the agent: the deploy's id and run, as the CLI prints them. */
export async function deployThroughAgent(
  client: Client,
  config: OpsflowConfig,
  input: DeployInput,
): Promise<DeployAccepted> {
  const target = agentTargetOf(config, input.workdir);
  const searchAttributes = await hasSearchAttributes(client);
  return answerOrExplain(requestDeployThroughAgent(client, target, input, searchAttributes), target);
}
