import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowClient, WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment, TimeSkippingWorkflowClient } from '@temporalio/testing';
import { Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type Activities } from '../../src/activities';
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
  config?: Parameters<typeof testConfig>[0];
  requestedBy?: string;
  version?: string;
  releases?: string[];
  /** The worker's approval policy; typed names count unless a test gives one with keys. */
  policy?: DeployPolicy;
  /** The orchestrator's plan.md in the deploy's handoff folder (handoff mode). */
  planMd?: string;
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

  async setup(): Promise<void> {
    this.env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: resolveTestServer() } },
    });
    // With the worker's payload converter, as npm run build bundles it.
    this.bundle = await testWorkflowBundle();
    this.workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-wf-'));
  }

  async teardown(): Promise<void> {
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
    const metrics = new FakeMetrics(scenario.profiles ?? {});
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
    const worker = await Worker.create({
      connection: this.env.nativeConnection,
      taskQueue,
      workflowBundle: this.bundle,
      dataConverter: workerDataConverter(scenario.codecKeys),
      activities: withForgeries(createActivities(fakeDeps(target, metrics, 'hello', scenario.policy)), scenario.forge),
    });
    return worker.runUntil(async () => {
      const handle = await this.workflows(scenario.codecKeys).start<typeof deploy>('deploy', {
        taskQueue,
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
    });
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

/** The real activities, with the ones a scenario forges replaced. */
function withForgeries(real: Activities, forge: Scenario['forge']): Activities {
  return { ...real, ...(forge?.(real) ?? {}) };
}
