import { Client, type ConnectionLike } from '@temporalio/client';
import type { DeployStatus } from '../../shared/deploy';
import { statusQuery } from '../../workflows/messages';
import type { AgentActivityDeps } from '.';

/**
 * The agent's dependencies on a worker: the final status of a deploy read with the deploy's status query
 * (Temporal answers it for a closed workflow by replaying it on a worker of its task queue).
 */
export function clientAgentDeps(connection: ConnectionLike, namespace: string): AgentActivityDeps {
  const client = new Client({ connection, namespace });
  return {
    async deployStatus(deployId: string): Promise<DeployStatus | null> {
      return client.workflow.getHandle(deployId).query(statusQuery);
    },
  };
}
