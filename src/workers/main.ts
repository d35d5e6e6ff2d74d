import { Command } from 'commander';
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { createWorkerLlm } from '../activities/llm/index';
import { metricsFromConfig } from '../activities/metrics/registry';
import { costFromConfig } from '../activities/cost/registry';
import { setWorkdirRoot } from '../activities/report/workdir';
import { targetsFromConfig } from '../activities/targets/registry';
import { ConfigError, loadConfig } from '../config/load';
import { resolvePolicy } from '../config/policy';
import { CHANNEL_KINDS } from '../activities/notify/kinds';
import { channelsFromConfig } from '../activities/notify/registry';
import { createFileLogger, PinoTemporalLogger } from '../logging/logger';
import { workerDataConverterFromEnv } from '../temporal/codec';
import { temporalTarget } from '../temporal/connection';
import { createOpsflowWorker, ensureSearchAttributes } from './worker';

async function main(): Promise<void> {
  const options = new Command('opsflow-worker')
    .description(
      'Runs opsflow workflows and activities; connects with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / profiles.',
    )
    .option('-c, --config <file>', 'opsflow configuration', 'opsflow.yaml')
    .option('--task-queue <name>', 'task queue to poll (default: temporal.taskQueue from the config)')
    .option(
      '--workdir-root <dir>',
      "the folder a deploy's workdir must lie inside (default: OPSFLOW_WORKDIR_ROOT, else the current folder)",
    )
    .parse()
    .opts<{ config: string; taskQueue?: string; workdirRoot?: string }>();
  // The worker, not the request, decides where it writes: reports, agent docs and LLM audit files.
  setWorkdirRoot(options.workdirRoot ?? process.env['OPSFLOW_WORKDIR_ROOT'] ?? process.cwd());

  const { config, path: configPath } = loadConfig(options.config);
  // Trust is the worker's: its own policy, with the keys it reads, never what a request says.
  const policy = resolvePolicy(config, configPath);
  const pino = createFileLogger('worker');
  Runtime.install({
    logger: new PinoTemporalLogger(pino),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  });

  const target = temporalTarget();
  // Payload encryption when a codec key is configured (docs/encryption.md); the key ids are logged, never the keys.
  // Always the lenient payload converter: a payload nobody can decode reaches the handlers as a value they refuse.
  const dataConverter = workerDataConverterFromEnv();
  const encrypted = Boolean(dataConverter.payloadCodecs?.length);
  const taskQueue = options.taskQueue ?? config.temporal.taskQueue;
  // One deploy target per service (services.<name>.target) and the metrics providers the config has settings for.
  const targets = targetsFromConfig(config);
  const metrics = metricsFromConfig(config);
  // The worker's cost source (cost in opsflow.yaml): deploys compare cost per 1,000 requests with it.
  const costs = costFromConfig(config);
  // The worker's own notification channels and routes; their credentials come from its environment or files.
  const channels = channelsFromConfig(config.notifications, CHANNEL_KINDS);
  // The key stays inside the provider: only the provider, model and address are logged.
  const llm = createWorkerLlm(config.llm);
  pino.info(
    { provider: llm.settings.provider, model: llm.client?.provider.model, baseUrl: llm.client?.provider.baseUrl },
    'llm provider',
  );
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(target.connectionOptions);
  } catch (err) {
    throw new Error(`cannot reach Temporal at ${target.address}: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    const added = await ensureSearchAttributes(target).catch((err: Error) => {
      pino.warn({ err: err.message }, 'could not register search attributes; deploys are not findable by service');
      return [];
    });
    if (added.length) pino.info({ added }, 'registered search attributes');
    const worker = await createOpsflowWorker({
      connection,
      namespace: target.namespace,
      taskQueue,
      deps: { targets, metrics, llm, policy, channels, ...(costs ? { costs } : {}) },
      project: config.project,
      dataConverter,
      // The agent's OPERATIONS.md describes the project from this config, never from a request.
      operations: { config, path: configPath },
    });
    pino.info(
      { address: target.address, namespace: target.namespace, taskQueue, payloadEncryption: encrypted },
      'worker running',
    );
    pino.info(
      { trustTypedNames: policy.trustTypedNames, people: Object.keys(policy.people), source: policy.source },
      'approval policy',
    );
    console.log(
      `opsflow worker running: ${target.address}, namespace ${target.namespace}, task queue ${taskQueue}` +
        (encrypted ? ', payloads encrypted' : ''),
    );
    await worker.run();
    pino.info('worker stopped');
  } finally {
    await connection.close();
    pino.flush();
  }
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
  console.error(`opsflow worker: ${message}`);
  // Not at once: the file logger may still be opening, and exiting under it prints a stack instead of this line.
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 1_000).unref();
});
