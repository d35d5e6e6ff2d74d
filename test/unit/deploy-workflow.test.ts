import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { Phase } from '../../src/shared/deploy';
import type { deploy } from '../../src/workflows/deploy';
import { approveSignal, approveUpdate, rejectUpdate } from '../../src/shared/deploy/messages';
import { fakeDeps, FakeMetrics, FakeTarget, HEALTHY } from '../helpers/fakes';
import { DeployTestEnv, type DeployHandle, type Scenario } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());
const runDeploy = (scenario: Scenario, drive: Parameters<DeployTestEnv['runDeploy']>[1]) =>
  t.runDeploy(scenario, drive);
const waitForPhase = (handle: DeployHandle, phase: Phase) => t.waitFor(handle, phase);
const approve = (by?: string, comment?: string) => t.approve(by, comment);

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
    const dir = path.join(t.workdir, result?.report?.dir ?? 'missing');
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
      await t.env.sleep('61 minutes');
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
    // Traffic to 0 % first, then the canary is stopped, then stable is verified.
    assert.deepEqual(
      target.calls.filter((c) => c.environment === 'production').map((c) => `${c.op}${c.weight ?? ''}`),
      ['start', 'weight10', 'weight0', 'rollback'],
    );
    assert.deepEqual(
      status.rollback?.steps.map((s) => [s.step, s.ok]),
      [
        ['traffic-to-zero', true],
        ['scale-down', true],
        ['verify-stable', true],
      ],
    );
    assert.equal(target.state.get('production')?.stable, '1.0.0');
    const production = status.samples.filter((s) => s.environment === 'production');
    assert.equal(production.length, 1, 'the first critical sample ends the canary');
    assert.equal(production[0]?.verdict, 'critical');
  });

  it('continues through warnings that stable shares, and promotes', async () => {
    const slow = { requests: 100, errorRate: 0.02, p95Ms: 2500 };
    const { result, status } = await runDeploy(
      { profiles: { 'production/1.1.0': slow, 'production/1.0.0': slow } },
      approve(),
    );
    assert.equal(result?.outcome, 'promoted');
    const production = status.samples.filter((s) => s.environment === 'production');
    assert.ok(production.length >= 3);
    assert.ok(production.every((s) => s.verdict === 'warning'));
  });

  it('rolls back a canary that is worse than stable after the failure limit, though under the warn thresholds', async () => {
    const { result, status } = await runDeploy(
      { profiles: { 'production/1.1.0': { requests: 400, errorRate: 0.009, p95Ms: 400 } } },
      approve(),
    );
    assert.equal(result?.outcome, 'rolled-back');
    assert.match(result?.reason ?? '', /2 failing samples in a row \(limit 2\).*p95 vs stable: 400 ms vs 40 ms/);
    const production = status.samples.filter((s) => s.environment === 'production');
    assert.deepEqual(
      production.map((s) => s.verdict),
      ['failing', 'failing'],
    );
  });

  it('never promotes on inconclusive samples: it pauses, then rolls back when nobody decides', async () => {
    const { result, target, status } = await runDeploy(
      { profiles: { 'production/1.1.0': { requests: 3, errorRate: 0, p95Ms: 10 } } },
      approve(),
    );
    assert.equal(result?.outcome, 'rolled-back');
    // Low traffic is waited for up to the max bake (3 × the bake as planned), then the step pauses for a person.
    assert.match(
      result?.reason ?? '',
      /paused for 1h without a decision \(pauseTimeout\): step at 10 % is inconclusive: \d+ requests after \d+ s, fewer than the \d+ needed/,
    );
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
      const again = await t.env.client.workflow.start<typeof deploy>('deploy', {
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
    const n = t.next();
    const taskQueue = `deploy-test-${n}`;
    const worker = await Worker.create({
      connection: t.env.nativeConnection,
      taskQueue,
      workflowBundle: t.bundle,
      activities: createActivities(fakeDeps(new FakeTarget([], {}), new FakeMetrics({ x: HEALTHY }))),
    });
    await worker.runUntil(async () => {
      const handle = await t.env.client.workflow.start('deploy', {
        taskQueue,
        workflowId: `bad-input-${n}`,
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
