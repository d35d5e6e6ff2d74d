import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  Runtime,
  DefaultLogger,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { DeployInput, DeployResult, DeployStatus, Phase } from '../../src/shared/deploy';
import { resolveTestServer } from '../../src/tooling/temporal-bin';
import type { deploy } from '../../src/workflows/deploy';
import { approveSignal, approveUpdate, rejectUpdate, statusQuery } from '../../src/workflows/messages';
import { testConfig, testInput } from '../helpers/config';
import { FakeMetrics, FakeTarget, HEALTHY, type VersionProfile } from '../helpers/fakes';

Runtime.install({ logger: new DefaultLogger('WARN') });

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let workdir: string;
let counter = 0;

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTestServer() } },
  });
  bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: new DefaultLogger('WARN'),
  });
  workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-wf-'));
});

after(async () => {
  await env?.teardown();
  rmSync(workdir, { recursive: true, force: true });
});

interface Scenario {
  profiles?: Record<string, VersionProfile>;
  config?: Parameters<typeof testConfig>[0];
  requestedBy?: string;
  version?: string;
  releases?: string[];
}

/** Runs one deploy on its own task queue with fake target and metrics; `drive` acts while it runs. */
async function runDeploy(
  scenario: Scenario,
  drive: (handle: WorkflowHandle<typeof deploy>, input: DeployInput) => Promise<void>,
): Promise<{
  result?: DeployResult;
  error?: unknown;
  status: DeployStatus;
  target: FakeTarget;
  input: DeployInput;
  handle: WorkflowHandle<typeof deploy>;
}> {
  counter += 1;
  const taskQueue = `deploy-test-${counter}`;
  const target = new FakeTarget(scenario.releases ?? ['1.0.0', '1.1.0', '1.2.0'], {
    staging: '1.0.0',
    production: '1.0.0',
  });
  const metrics = new FakeMetrics(scenario.profiles ?? {});
  const config = testConfig(scenario.config);
  const input = testInput(config, workdir, {
    version: scenario.version ?? '1.1.0',
    requestedBy: scenario.requestedBy ?? 'carol',
    feature: `feature-${counter}`,
  });
  input.deployId = `${input.deployId}-${counter}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createActivities({ target, metrics }),
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof deploy>('deploy', {
      taskQueue,
      workflowId: input.deployId,
      args: [input],
    });
    await drive(handle, input);
    const outcome = await handle.result().then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    // Queried while the worker still runs: a closed workflow is queried by replaying it.
    const status = await handle.query(statusQuery);
    return { ...outcome, status, target, input, handle };
  });
}

/** Lets workflow time pass until the deploy reaches a phase. */
async function waitForPhase(handle: WorkflowHandle<typeof deploy>, phase: Phase): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const status = await handle.query(statusQuery);
    if (status.phase === phase) return;
    await env.sleep('1s');
  }
  assert.fail(`deploy never reached ${phase}`);
}

const approve =
  (by = 'alice', comment = 'looks good') =>
  async (handle: WorkflowHandle<typeof deploy>) => {
    await waitForPhase(handle, 'AWAITING_APPROVAL');
    await handle.executeUpdate(approveUpdate, { args: [{ by, comment }] });
  };

describe('deploy workflow', () => {
  it('deploys staging, waits for approval, ramps the canary and promotes', async () => {
    const { result, target, status } = await runDeploy({}, approve());
    assert.equal(result?.outcome, 'promoted');
    assert.equal(result?.phase, 'PROMOTED');
    assert.deepEqual(
      target.calls.filter((c) => c.op === 'weight' && c.environment === 'production').map((c) => c.weight),
      [10, 50, 100],
    );
    assert.equal(target.state.get('production')?.stable, '1.1.0');
    assert.equal(target.state.get('staging')?.stable, '1.1.0');
    assert.equal(status.approvals.length, 1);
    assert.equal(status.approvals[0]?.by, 'alice');
    assert.equal(status.approvals[0]?.comment, 'looks good');
    assert.ok(
      status.samples.some((s) => s.environment === 'production' && s.weight === 100 && s.verdict === 'healthy'),
    );
    // The handoff files exist, parse, and list exactly what was written.
    const dir = path.join(workdir, result?.report?.dir ?? 'missing');
    const files = JSON.parse(readFileSync(path.join(dir, 'files-changed.json'), 'utf8'));
    assert.deepEqual(files.created.sort(), result?.report?.files.slice().sort());
    const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
    assert.equal(report.outcome, 'promoted');
    const summary = readFileSync(path.join(dir, 'summary.md'), 'utf8');
    assert.match(summary, /^# DevOps Automator Summary: feature-\d+/);
    assert.match(summary, /approved\*\* by alice/);
    assert.match(summary, /production: canary step 1 at 10 %/);
  });

  it('ends as cancelled when rejected, and production is never touched', async () => {
    const { result, target } = await runDeploy({}, async (handle) => {
      await waitForPhase(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'freeze week' }] });
    });
    assert.equal(result?.outcome, 'rejected');
    assert.equal(result?.phase, 'CANCELLED');
    assert.match(result?.reason ?? '', /freeze week/);
    assert.equal(target.count('start', 'production'), 0);
    assert.ok(result?.report?.files.includes(`${result.report.dir}/summary.md`));
  });

  it('ends as cancelled when nobody approves before the timeout', async () => {
    const { result, target } = await runDeploy({}, async (handle) => {
      await waitForPhase(handle, 'AWAITING_APPROVAL');
      await env.sleep('61 minutes');
    });
    assert.equal(result?.outcome, 'approval-timed-out');
    assert.equal(result?.phase, 'CANCELLED');
    assert.equal(target.count('start', 'production'), 0);
  });

  it('rolls back at once on a critical sample', async () => {
    const { result, target, status } = await runDeploy(
      { version: '1.2.0', profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.2, p95Ms: 300 } } },
      approve(),
    );
    assert.equal(result?.outcome, 'rolled-back');
    assert.equal(result?.phase, 'ROLLED_BACK');
    assert.match(result?.reason ?? '', /critical: error rate 20\.0 %/);
    assert.equal(target.count('rollback', 'production'), 1);
    assert.equal(target.count('promote', 'production'), 0);
    assert.deepEqual(
      target.calls.filter((c) => c.op === 'weight' && c.environment === 'production').map((c) => c.weight),
      [10],
    );
    assert.equal(target.state.get('production')?.stable, '1.0.0');
    const production = status.samples.filter((s) => s.environment === 'production');
    assert.equal(production.length, 1, 'the first critical sample ends the canary');
    assert.equal(production[0]?.verdict, 'critical');
  });

  it('continues through warnings and promotes', async () => {
    const { result, status } = await runDeploy(
      { profiles: { 'production/1.1.0': { requests: 100, errorRate: 0.02, p95Ms: 2500 } } },
      approve(),
    );
    assert.equal(result?.outcome, 'promoted');
    const production = status.samples.filter((s) => s.environment === 'production');
    assert.ok(production.length >= 3);
    assert.ok(production.every((s) => s.verdict === 'warning'));
  });

  it('never promotes on inconclusive samples', async () => {
    const { result, target, status } = await runDeploy(
      { profiles: { 'production/1.1.0': { requests: 3, errorRate: 0, p95Ms: 10 } } },
      approve(),
    );
    assert.equal(result?.outcome, 'rolled-back');
    assert.match(result?.reason ?? '', /3 inconclusive samples in a row/);
    assert.equal(target.count('promote', 'production'), 0);
    assert.ok(status.samples.filter((s) => s.environment === 'production').every((s) => s.verdict === 'inconclusive'));
  });

  it('refuses unlisted approvers, self-approval and approvals outside the approval phase, writing nothing', async () => {
    const { result, status, handle } = await runDeploy({ requestedBy: 'alice' }, async (handle) => {
      await assert.rejects(
        handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError &&
          /not waiting for an approval/.test(String((err.cause as Error).message)),
      );
      await waitForPhase(handle, 'AWAITING_APPROVAL');
      await assert.rejects(
        handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError &&
          /mallory is not an approver for production/.test(String((err.cause as Error).message)),
      );
      await assert.rejects(
        handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError &&
          /alice requested this deploy/.test(String((err.cause as Error).message)),
      );
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'ok' }] });
    });
    assert.equal(result?.outcome, 'promoted');
    const history = await handle.fetchHistory();
    const accepted = history.events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes) ?? [];
    assert.equal(accepted.length, 1, 'refused updates leave no trace in history');
    assert.deepEqual(
      status.approvals.map((a) => a.by),
      ['bob'],
    );
  });

  it('takes an approval sent as a Signal and ignores an invalid one', async () => {
    const { result, status } = await runDeploy({}, async (handle) => {
      await waitForPhase(handle, 'AWAITING_APPROVAL');
      await handle.signal(approveSignal, { by: 'mallory' });
      await handle.signal(approveSignal, { by: 'bob', comment: 'via signal' });
    });
    assert.equal(result?.outcome, 'promoted');
    assert.equal(status.approvals[0]?.via, 'signal');
    assert.ok(status.timeline.some((t) => /ignored approve signal: mallory is not an approver/.test(t.message)));
  });

  it('fails a deploy of a release the target does not have before touching anything, and still reports', async () => {
    const { error, target, status } = await runDeploy({ releases: ['1.0.0'] }, async () => undefined);
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(String((error.cause as Error).message), /hello has no release 1\.1\.0/);
    assert.equal(target.count('start'), 0);
    assert.equal(status.phase, 'FAILED');
    assert.ok(status.report?.files.some((f) => f.endsWith('report.json')));
  });

  it('returns the running deploy when the same change is started twice', async () => {
    const { result, target } = await runDeploy({}, async (handle, input) => {
      const again = await env.client.workflow.start<typeof deploy>('deploy', {
        taskQueue: (await handle.describe()).taskQueue,
        workflowId: input.deployId,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      assert.equal(again.firstExecutionRunId, (await handle.describe()).runId);
      await approve()(handle);
    });
    assert.equal(result?.outcome, 'promoted');
    assert.equal(target.count('start', 'staging'), 1);
    assert.equal(target.count('start', 'production'), 1);
  });

  it('rejects a malformed input as a non-retryable failure', async () => {
    counter += 1;
    const taskQueue = `deploy-test-${counter}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: createActivities({ target: new FakeTarget([], {}), metrics: new FakeMetrics({ x: HEALTHY }) }),
    });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('deploy', {
        taskQueue,
        workflowId: `bad-input-${counter}`,
        args: [{ service: 'hello', version: 'latest' }],
      });
      await assert.rejects(
        handle.result(),
        (err: unknown) =>
          err instanceof WorkflowFailedError && /invalid deploy input/.test(String((err.cause as Error).message)),
      );
    });
  });
});
