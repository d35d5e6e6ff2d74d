import { status } from '@grpc/grpc-js';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { DeployStatus } from '../shared/deploy';
import { statusQuery } from '../shared/deploy/messages';
import { OPSFLOW_SEARCH_ATTRIBUTES } from '../shared/search-attributes';
import { dataConverterFromEnv } from '../temporal/codec';
import { clientConnectionOptions, temporalTarget, type TemporalTarget } from '../temporal/connection';
import type { deploy } from '../workflows/deploy';
import { CliError } from './output';

// The explainer is imported where something failed, never up here: it reaches into the config and LLM modules
// (zod, yaml), which a command that succeeds has no use for. import() keeps ES module resolution, hence the ".js".

/** How long the CLI waits for Temporal to answer before it says where it looked. */
const CONNECT_TIMEOUT = '5s';

/**
 * A client for the configured Temporal, or a one-line CliError: Temporal that refuses the credentials is told
 * apart (by its gRPC status) from Temporal that does not answer at all.
 */
export async function connect(
  target: TemporalTarget = temporalTarget(),
): Promise<{ client: Client; connection: Connection }> {
  // Before connecting: wrong codec key settings are the person's to fix, in one line, whatever Temporal answers.
  // Without keys, an encrypted history is explained rather than reported as an unknown encoding.
  let dataConverter;
  try {
    dataConverter = dataConverterFromEnv(process.env, { explainEncrypted: true });
  } catch (err) {
    throw new CliError((err as Error).message, { cause: err });
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...clientConnectionOptions(target), connectTimeout: CONNECT_TIMEOUT });
  } catch (err) {
    const { explain, grpcError } = await import('./explain.js');
    const code = grpcError(err)?.code;
    if (code === status.UNAUTHENTICATED || code === status.PERMISSION_DENIED) throw explain(err);
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new CliError(
      `cannot reach Temporal at ${target.address} (${why}): start it with "npm start" or set TEMPORAL_ADDRESS`,
      { cause: err },
    );
  }
  return { client: new Client({ connection, namespace: target.namespace, dataConverter }), connection };
}

/** Runs `fn` with a connected client and closes the connection afterwards, whatever `fn` does. */
export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const { client, connection } = await connect();
  try {
    return await fn(client);
  } finally {
    await connection.close();
  }
}

/** The handle of one deploy, typed by the workflow (imported as a type only). */
export function deployHandle(client: Client, workflowId: string): WorkflowHandle<typeof deploy> {
  return client.workflow.getHandle<typeof deploy>(workflowId);
}

/** A deploy's status (its Query), or the explained one-line error: no such deploy, not a deploy. */
export async function readStatus(handle: WorkflowHandle<typeof deploy>): Promise<DeployStatus> {
  try {
    return await handle.query(statusQuery);
  } catch (err) {
    const { explain, forDeploy } = await import('./explain.js');
    throw explain(err, forDeploy(handle.workflowId));
  }
}

/**
 * An Update or Signal to a deploy that failed, as one line: a deploy that has ended says so with its final phase
 * (Temporal reports it as not found), anything else goes to the explainer.
 */
export async function explainDeployMessage(
  handle: WorkflowHandle<typeof deploy>,
  action: string,
  err: unknown,
): Promise<CliError> {
  const { explain, forDeploy } = await import('./explain.js');
  const description = await handle.describe().catch(() => undefined);
  if (!description || description.status.name === 'RUNNING') return explain(err, forDeploy(handle.workflowId));
  const status = await handle.query(statusQuery).catch(() => undefined);
  const phase = status?.phase ?? description.status.name;
  return new CliError(`refused: ${handle.workflowId} has ended (${phase}); there is nothing to ${action}`, {
    cause: err,
  });
}

/** Whether the namespace has opsflow's search attributes (so deploys may set them and lists may filter on them). */
export async function hasSearchAttributes(client: Client): Promise<boolean> {
  try {
    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({
      namespace: client.options.namespace,
    });
    return OPSFLOW_SEARCH_ATTRIBUTES.every((a) => customAttributes && a.name in customAttributes);
  } catch {
    return false;
  }
}

export { uiLink } from '../shared/ui-link';
