import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowClient, WorkflowHandle } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { TestWorkflowEnvironment, TimeSkippingWorkflowClient } from '@temporalio/testing';
import { Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type Activities } from '../../src/activities';
import type { MetricsProvider } from '../../src/activities/metrics/contract';
import type { DeployTarget } from '../../src/activities/targets/contract';
import {
  handoffDir,
  type DeployPolicy,
  type DeployInput,
  type DeployResult,
  type DeployStatus,
  type Phase,
} from '../../src/shared/deploy';
import { EncryptionCodec, workerDataConverter } from '../../src/temporal/codec';
import type { CodecKeyring } from '../../src/temporal/codec-keys';
import { resolveTestServer } from '../../src/tooling/temporal-bin';
import type { deploy } from '../../src/workflows/deploy';
import { approveUpdate, statusQuery } from '../../src/shared/deploy/messages';
import { testConfig, testInput } from './config';
import { fakeDeps, FakeMetrics, FakeTarget, type VersionProfile } from './fakes';
import { testWorkflowBundle } from './workflow-bundle';

export type DeployHandle = WorkflowHandle<typeof deploy>;

export interface Scenario {
  profiles?: Record<string, VersionProfile>;
  /** A metrics provider of the test's own, instead of one answering from `profiles`. */
  metrics?: MetricsProvider;
  config?: Parameters<typeof testConfig>[0];
  requestedBy?: string;
  version?: string;
  releases?: string[];
  /** The worker's approval policy; typed names count unless a test gives one with keys. */
  policy?: DeployPolicy;
  /** The orchestrator's plan.md in the deploy's handoff folder (handoff mode). */
  planMd?: string;
  /** A real target instead of the fake one (the Vercel target against its fake API); `target` is then unused. */
  deployTarget?: DeployTarget;
  /** Adjusts the fake target before the deploy starts (e.g. to make an operation fail). */
  arrange?: (target: FakeTarget) => void;
  /** Changes the deploy's input before it starts (e.g. signs the start as the requester). */
  request?: (input: DeployInput) => DeployInput | Promise<DeployInput>;
  /** Payload encryption: the worker decodes with these keys as the real worker does, the test's client too. */
  codecKeys?: CodecKeyring;
  /** Starts the deploy as a cron chain (each run reuses the first run's input). */
  cronSchedule?: string;
  /** Replaces activities, as someone completing them by hand or a rogue worker on the task queue would answer. */
  forge?: (real: Activities) => Partial<Activities>;
}

export interface DeployRun {
  result?: DeployResult;
  error?: unknown;
  status: DeployStatus;
  target: FakeTarget;
  input: DeployInput;
  handle: DeployHandle;
}

/**
 * The time-skipping test server with the deploy workflow bundled once, and deploys run against a fake target and
 * metrics on a task queue of their own (one environment per test file).
 */
export class DeployTestEnv {
  env!: TestWorkflowEnvironment;
  bundle!: WorkflowBundleOption;
  workdir!: string;
  private counter = 0;
  private shared?: SharedWorker;

  async setup(): Promise<void> {
    this.env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: resolveTestServer() } },
    });
    // With the worker's payload converter, as npm run build bundles it.
    this.bundle = await testWorkflowBundle();
    this.workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-wf-'));
  }

  async teardown(): Promise<void> {
    if (this.shared) {
      this.shared.worker.shutdown();
      await this.shared.running;
    }
    await this.env?.teardown();
    if (this.workdir) rmSync(this.workdir, { recursive: true, force: true });
  }

  /** A fresh number for task queues and ids, so tests never share a workflow. */
  next(): number {
    this.counter += 1;
    return this.counter;
  }

  /** Runs one deploy on its own task queue with fake target and metrics; `drive` acts while it runs. */
  async runDeploy(
    scenario: Scenario,
    drive: (handle: DeployHandle, input: DeployInput) => Promise<void>,
  ): Promise<DeployRun> {
    const n = this.next();
    const taskQueue = `deploy-test-${n}`;
    const target = new FakeTarget(scenario.releases ?? ['1.0.0', '1.1.0', '1.2.0'], {
      staging: '1.0.0',
      production: '1.0.0',
    });
    scenario.arrange?.(target);
    const metrics = scenario.metrics ?? new FakeMetrics(scenario.profiles ?? {});
    const config = testConfig(scenario.config);
    const input = testInput(config, this.workdir, {
      version: scenario.version ?? '1.1.0',
      requestedBy: scenario.requestedBy ?? 'carol',
      feature: `feature-${n}`,
    });
    input.deployId = `${input.deployId}-${n}`;
    const request = scenario.request ? await scenario.request(input) : input;
    if (scenario.planMd) {
      const dir = path.join(this.workdir, handoffDir(input.feature));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'plan.md'), scenario.planMd);
    }
    const activities = withForgeries(
      createActivities(fakeDeps(scenario.deployTarget ?? target, metrics, 'hello', scenario.policy)),
      scenario.forge,
    );
    const run = async (queue: string) => {
      const handle = await this.workflows(scenario.codecKeys).start<typeof deploy>('deploy', {
        taskQueue: queue,
        workflowId: request.deployId,
        args: [request],
        ...(scenario.cronSchedule ? { cronSchedule: scenario.cronSchedule } : {}),
      });
      await drive(handle, request);
      const outcome = await handle.result().then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      // Queried while the worker still runs: a closed workflow is queried by replaying it.
      const status = await handle.query(statusQuery);
      return { ...outcome, status, target, input: request, handle };
    };
    // A cron chain goes on after the test, and encrypted payloads need a worker that decodes them: a worker of their
    // own, stopped when the deploy ends. Every other deploy runs on the file's one worker (a worker costs about a
    // second of CPU to start and stop), its activities chosen by the deploy's workflow id.
    if (scenario.cronSchedule || scenario.codecKeys) {
      const worker = await Worker.create({
        connection: this.env.nativeConnection,
        taskQueue,
        workflowBundle: this.bundle,
        dataConverter: workerDataConverter(scenario.codecKeys),
        activities,
      });
      return worker.runUntil(() => run(taskQueue));
    }
    return this.serve(request.deployId, activities, run);
  }

  /**
   * Runs `fn` while the file's one deploy worker serves the workflow `workflowId` with `activities`, on the task queue
   * it gives `fn`. Workflows started on it must end within `fn`.
   */
  async serve<T>(workflowId: string, activities: Activities, fn: (taskQueue: string) => Promise<T>): Promise<T> {
    const shared = await this.sharedWorker(activities);
    shared.routes.set(workflowId, activities);
    try {
      return await fn(SHARED_TASK_QUEUE);
    } finally {
      shared.routes.delete(workflowId);
    }
  }

  /** The file's worker for deploys, started on first use; its activities call the running deploy's own. */
  private async sharedWorker(template: Activities): Promise<SharedWorker> {
    if (this.shared) return this.shared;
    const routes = new Map<string, Activities>();
    const routed = Object.fromEntries(
      Object.keys(template).map((name) => [
        name,
        (...args: unknown[]) => {
          const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
          const activities = routes.get(workflowId) as Record<string, (...a: unknown[]) => unknown> | undefined;
          const activity = activities?.[name];
          if (!activity) throw new Error(`no test deploy ${workflowId} is running for activity ${name}`);
          return activity(...args);
        },
      ]),
    );
    const worker = await Worker.create({
      connection: this.env.nativeConnection,
      taskQueue: SHARED_TASK_QUEUE,
      workflowBundle: this.bundle,
      dataConverter: workerDataConverter(undefined),
      activities: routed,
    });
    this.shared = { worker, routes, running: worker.run() };
    return this.shared;
  }

  /** The client deploys start with: the environment's, or one that encrypts with the scenario's codec keys. */
  private workflows(codecKeys: CodecKeyring | undefined): WorkflowClient {
    if (!codecKeys) return this.env.client.workflow;
    return new TimeSkippingWorkflowClient({
      connection: this.env.connection,
      ...(this.env.namespace ? { namespace: this.env.namespace } : {}),
      dataConverter: { payloadCodecs: [new EncryptionCodec(codecKeys)] },
    });
  }

  /** Lets workflow time pass until the deploy reaches a phase (and, optionally, a condition on its status). */
  async waitFor(
    handle: DeployHandle,
    phase: Phase,
    until: (s: DeployStatus) => boolean = () => true,
  ): Promise<DeployStatus> {
    for (let i = 0; i < 300; i++) {
      const status = await handle.query(statusQuery);
      if (status.phase === phase && until(status)) return status;
      await this.env.sleep('1s');
    }
    return assert.fail(`deploy never reached ${phase}`);
  }

  /** A drive that approves production as soon as it waits. */
  approve(by = 'alice', comment = 'looks good') {
    return async (handle: DeployHandle) => {
      await this.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, { args: [{ by, comment }] });
    };
  }
}

/** The task queue of a test file's one deploy worker. */
const SHARED_TASK_QUEUE = 'deploy-tests';

interface SharedWorker {
  worker: Worker;
  /** The activities of each running deploy, by its workflow id. */
  routes: Map<string, Activities>;
  running: Promise<void>;
}

/** The real activities, with the ones a scenario forges replaced. */
function withForgeries(real: Activities, forge: Scenario['forge']): Activities {
  return { ...real, ...(forge?.(real) ?? {}) };
}
