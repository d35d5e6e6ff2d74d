import { existsSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createAgentActivities, type AgentActivityDeps } from '../activities/agent';
import { clientAgentDeps } from '../activities/agent/client-deps';
import type { OperationsConfig } from '../activities/agent/operations';
import { temporalIncidentBoard } from '../activities/incidents';
import { rememberingLedger, temporalStartLedger, type StartLedger } from '../activities/start-ledger';
import { OPSFLOW_SEARCH_ATTRIBUTES } from '../shared/search-attributes';
import { PAYLOAD_CONVERTER_PATH } from '../temporal/codec';
import { clientConnectionOptions, type TemporalTarget } from '../temporal/connection';

/** The longest the worker holds an activity's heartbeat before it tells the server (activities/alive.ts). */
const HEARTBEAT_THROTTLE = '250 ms';

/** Options to build an opsflow worker; tests pass their own dependencies and connection. */
export interface OpsflowWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** The project whose agent's incident freezes hold its deploys (the config's `project`); absent: none are read. */
  project?: string;
  /**
   * The payload codec (workerDataConverterFromEnv); the agent's client uses it too. Whatever is given, the worker
   * decodes with opsflow's lenient payload converter, so no payload anyone sends can fail a workflow task.
   */
  dataConverter?: DataConverter;
  /** The ops agent's dependencies; by default read deploy statuses through this worker's connection. */
  agentDeps?: AgentActivityDeps;
  /** The worker's opsflow.yaml, which the agent's OPERATIONS.md describes the project from. */
  operations?: OperationsConfig;
  /** Extra Worker options (tests: a prebuilt bundle, a shutdown grace time). */
  overrides?: Partial<WorkerOptions>;
}

/**
 * The worker's workflow code: a bundle the caller passes (tests, bench), else the one `npm run build` writes beside
 * the compiled code (dist/workflow-bundle.js, so the compiled worker starts without webpack), else the workflows
 * bundled at start (running from source).
 */
function workflowCode(options: OpsflowWorkerOptions): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (options.overrides?.workflowBundle) return {};
  const prebuilt = path.join(__dirname, '..', 'workflow-bundle.js');
  if (existsSync(prebuilt)) return { workflowBundle: { codePath: prebuilt } };
  return { workflowsPath: require.resolve('../workflows') };
}

/** Creates the worker that runs opsflow's workflows and activities on one task queue. */
export async function createOpsflowWorker(options: OpsflowWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...workflowCode(options),
    // A workflow bundle passed in (tests, bench) or prebuilt (npm run build) must be bundled with the same converter.
    dataConverter: { ...options.dataConverter, payloadConverterPath: PAYLOAD_CONVERTER_PATH },
    activities: {
      ...createActivities({
        ...options.deps,
        starts: options.deps.starts ?? workerStartLedger(options),
        ...incidentBoard(options),
      }),
      ...createAgentActivities({
        ...(options.agentDeps ??
          clientAgentDeps(options.connection, options.namespace, options.deps.llm, options.dataConverter)),
        ...(options.operations ? { operations: options.operations } : {}),
      }),
    },
    shutdownGraceTime: '10 seconds',
    // Heartbeats reach the server at most this often (the SDK's default is 80 % of the heartbeat timeout): four times
    // within the rollback's 1 s heartbeat timeout, so only a dead worker, not a busy one, misses it.
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
    // A crashed worker's workflows move to another worker after this instead of the default 10 s: a canary keeps
    // its analysis cadence. A slow but live worker only loses its cache for the task, which replay rebuilds.
    stickyQueueScheduleToStartTimeout: '3 seconds',
    ...options.overrides,
  });
}

/** The ledger of signed starts, read through the worker's own connection (never anything a deploy says). */
function workerStartLedger(options: OpsflowWorkerOptions): StartLedger {
  const client = new Client({ connection: options.connection, namespace: options.namespace });
  return rememberingLedger(temporalStartLedger(client));
}

/** The incident freezes of the worker's project, read through its own connection (never anything a deploy says). */
function incidentBoard(options: OpsflowWorkerOptions): Pick<ActivityDeps, 'incidents'> {
  if (options.deps.incidents) return { incidents: options.deps.incidents };
  if (!options.project) return {};
  // The agent's answer is a payload: read with the worker's codec, as the agent wrote it.
  const client = new Client({
    connection: options.connection,
    namespace: options.namespace,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
  return { incidents: temporalIncidentBoard(client, options.project) };
}

/**
 * Registers opsflow's search attributes when the namespace lacks them, so deploys are findable by
 * service, environment and phase. A cluster that forbids it (Temporal Cloud API keys) is told in the log.
 */
export async function ensureSearchAttributes(target: TemporalTarget): Promise<string[]> {
  const connection = await Connection.connect(clientConnectionOptions(target));
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: target.namespace });
    const missing = OPSFLOW_SEARCH_ATTRIBUTES.filter((a) => !(customAttributes && a.name in customAttributes));
    if (missing.length === 0) return [];
    await connection.operatorService.addSearchAttributes({
      namespace: target.namespace,
      searchAttributes: Object.fromEntries(
        missing.map((a) => [a.name, a.type === 'KEYWORD_LIST' ? 7 : 2]), // IndexedValueType: KEYWORD=2, KEYWORD_LIST=7
      ),
    });
    return missing.map((a) => a.name);
  } finally {
    await connection.close();
  }
}

export { NativeConnection };
