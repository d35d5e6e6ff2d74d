/**
 * One worker as its own process, so its memory is its own: the real opsflow worker (createOpsflowWorker, pino logging
 * through Runtime.install) with a prebuilt bundle; for the bare comparison the same worker with the bare bundle and
 * its one no-op activity.
 *
 *   BENCH_WORKER='{"address":…,"taskQueue":…,"bundlePath":…,"deps":"instant"}' node --import tsx bench/worker-process.ts
 *
 * Prints one line `ready {json}` once polling; SIGTERM shuts it down gracefully.
 */
import { z } from 'zod';
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import type { DeployPolicy } from '../src/shared/deploy';
import type { ActivityDeps } from '../src/activities';
import { LocalMetrics } from '../src/activities/metrics/local';
import { MetricsRegistry } from '../src/activities/metrics/registry';
import { LocalTarget } from '../src/activities/targets/local/target';
import { TargetRegistry } from '../src/activities/targets/registry';
import { LocalPlatformClient } from '../src/local-platform/client';
import { createFileLogger, PinoTemporalLogger } from '../src/logging/logger';
import { createOpsflowWorker } from '../src/workers/worker';
import { createBareActivities } from './bare-activities';
import { InstantMetrics, InstantTarget } from './instant-target';

/** What the parent tells the worker process. */
export const workerSpecSchema = z.strictObject({
  address: z.string().min(1),
  namespace: z.string().default('default'),
  taskQueue: z.string().min(1),
  bundlePath: z.string().startsWith('/'),
  /** opsflow: the real worker's activities (deploy and agent); bare: the bare workflow's no-op alone. */
  kind: z.enum(['opsflow', 'bare']),
  /** instant: answers at once (orchestration only); platform: the real local platform at platformUrl. */
  deps: z.enum(['instant', 'platform']),
  platformUrl: z.string().url().optional(),
});
export type WorkerSpec = z.input<typeof workerSpecSchema>;

function deps(spec: z.infer<typeof workerSpecSchema>): ActivityDeps {
  if (spec.deps === 'instant') {
    return {
      targets: new TargetRegistry({ hello: new InstantTarget() }),
      metrics: new MetricsRegistry({ local: new InstantMetrics() }),
      policy: BENCH_POLICY,
    };
  }
  if (!spec.platformUrl) throw new Error('deps "platform" needs platformUrl');
  const client = new LocalPlatformClient(spec.platformUrl);
  return {
    targets: new TargetRegistry({ hello: new LocalTarget(client) }),
    metrics: new MetricsRegistry({ local: new LocalMetrics(client) }),
    policy: BENCH_POLICY,
  };
}

/** The benchmarks measure orchestration, not trust: typed names count, as the request asks. */
const BENCH_POLICY: DeployPolicy = { trustTypedNames: true, people: {}, environments: {}, source: 'bench' };

async function main(): Promise<void> {
  const spec = workerSpecSchema.parse(JSON.parse(process.env['BENCH_WORKER'] ?? '{}'));
  Runtime.install({
    logger: new PinoTemporalLogger(createFileLogger('worker')),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  });
  const connection = await NativeConnection.connect({ address: spec.address });
  try {
    const activityDeps = deps(spec);
    const worker = await createOpsflowWorker({
      connection,
      namespace: spec.namespace,
      taskQueue: spec.taskQueue,
      deps: activityDeps,
      overrides: {
        workflowBundle: { codePath: spec.bundlePath },
        ...(spec.kind === 'bare' ? { activities: createBareActivities() } : {}),
      },
    });
    process.once('SIGTERM', () => worker.shutdown());
    process.once('SIGINT', () => worker.shutdown());
    const running = worker.run();
    process.stdout.write(`ready ${JSON.stringify({ maxCachedWorkflows: worker.options.maxCachedWorkflows })}\n`);
    await running;
  } finally {
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench worker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
