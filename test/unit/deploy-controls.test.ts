import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { formatStatus } from '../../src/cli/format';
import type { ControlArgs } from '../../src/shared/deploy';
import {
  abortSignal,
  abortUpdate,
  pauseUpdate,
  promoteUpdate,
  resumeUpdate,
  statusQuery,
} from '../../src/shared/deploy/messages';
import { DeployTestEnv, type DeployHandle } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** Asserts that an Update is refused by its validator with a message matching `pattern`. */
async function refused(
  handle: DeployHandle,
  update: typeof pauseUpdate,
  args: ControlArgs,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(handle.executeUpdate(update, { args: [args] }), (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    assert.match(String((err.cause as Error).message), pattern);
    return true;
  });
}

const productionWeights = (calls: { op: string; environment: string; weight?: number }[]) =>
  calls.filter((c) => c.op === 'weight' && c.environment === 'production').map((c) => c.weight);

describe('operator controls on a running deploy', () => {
  it('pauses a canary, takes no samples while paused, and resumes where it stopped', async () => {
    let samplesWhenPaused = 0;
    const { result, status } = await t.runDeploy({}, async (handle) => {
      await t.approve()(handle);
      await refused(handle, resumeUpdate, { by: 'alice' }, /not paused: nothing to resume/);
      await t.waitFor(handle, 'CANARY', (s) => s.samples.some((x) => x.environment === 'production'));
      const paused = await handle.executeUpdate(pauseUpdate, {
        args: [{ by: 'dave', reason: 'checking a dashboard' }],
      });
      assert.equal(paused.phase, 'CANARY');
      const during = await t.waitFor(handle, 'PAUSED');
      assert.equal(during.paused?.cause, 'manual');
      assert.equal(during.paused?.by, 'dave');
      samplesWhenPaused = during.samples.length;
      await refused(handle, pauseUpdate, { by: 'dave' }, /already paused \(checking a dashboard\)/);
      await refused(handle, resumeUpdate, { by: 'dave' }, /dave may not resume production; approvers: alice, bob/);
      await t.env.sleep('20 minutes');
      assert.equal((await handle.query(statusQuery)).samples.length, samplesWhenPaused, 'no samples while paused');
      await handle.executeUpdate(resumeUpdate, { args: [{ by: 'bob', reason: 'dashboard is fine' }] });
    });
    assert.equal(result?.outcome, 'promoted');
    assert.ok(status.samples.length > samplesWhenPaused);
    assert.deepEqual(
      status.controls.map((c) => [c.action, c.by]),
      [
        ['pause', 'dave'],
        ['resume', 'bob'],
      ],
    );
    assert.ok(status.timeline.some((e) => /paused by dave: checking a dashboard/.test(e.message)));
    assert.ok(status.timeline.some((e) => /resumed by bob: "dashboard is fine"/.test(e.message)));
  });

  it('promotes at once on request, skipping the remaining steps', async () => {
    const { result, target, status } = await t.runDeploy({}, async (handle) => {
      await t.approve()(handle);
      await t.waitFor(handle, 'CANARY', (s) => s.samples.some((x) => x.environment === 'production'));
      await refused(handle, promoteUpdate, { by: 'mallory' }, /mallory may not promote production/);
      await handle.executeUpdate(promoteUpdate, { args: [{ by: 'alice', reason: 'hotfix, ship it' }] });
    });
    assert.equal(result?.outcome, 'promoted');
    assert.deepEqual(productionWeights(target.calls), [10]);
    assert.equal(target.state.get('production')?.stable, '1.1.0');
    assert.ok(status.timeline.some((e) => /remaining steps skipped: promoted by alice/.test(e.message)));
  });

  it('aborts a canary: rolled back with who and why, and promote is then refused', async () => {
    const { result, target, status, handle } = await t.runDeploy({}, async (handle) => {
      await t.approve()(handle);
      await t.waitFor(handle, 'CANARY');
      await handle.executeUpdate(abortUpdate, { args: [{ by: 'erin', reason: 'pager went off' }] });
      await refused(
        handle,
        promoteUpdate,
        { by: 'alice' },
        /already being aborted by erin|is ROLLING_BACK|is REPORTING/,
      );
    });
    assert.equal(result?.outcome, 'rolled-back');
    assert.match(result?.reason ?? '', /aborted by erin: pager went off/);
    assert.equal(target.state.get('production')?.stable, '1.0.0');
    assert.equal(target.count('promote', 'production'), 0);
    assert.deepEqual(
      status.rollback?.steps.map((s) => s.step),
      ['traffic-to-zero', 'scale-down', 'verify-stable'],
    );
    await assert.rejects(handle.executeUpdate(promoteUpdate, { args: [{ by: 'alice' }] }));
  });

  it('takes an abort sent as a Signal, as the ops agent sends it on a critical alert', async () => {
    const { result } = await t.runDeploy({}, async (handle) => {
      await t.approve()(handle);
      await t.waitFor(handle, 'CANARY');
      await handle.signal(abortSignal, { by: 'ops-agent', reason: 'critical alert: error budget burning' });
    });
    assert.equal(result?.outcome, 'rolled-back');
    assert.match(result?.reason ?? '', /aborted by ops-agent: critical alert/);
  });

  it('refuses an abort while waiting for approval (reject is the way) and a pause in staging verify by anyone', async () => {
    const { result } = await t.runDeploy({}, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await refused(handle, abortUpdate, { by: 'alice' }, /AWAITING_APPROVAL: nothing runs .*: reject it instead/);
      await refused(handle, pauseUpdate, { by: 'alice' }, /only a verification or canary can pause/);
      await t.approve()(handle);
    });
    assert.equal(result?.outcome, 'promoted');
  });

  it('after an inconclusive pause, a person can promote the canary', async () => {
    const { result, status } = await t.runDeploy(
      { profiles: { 'production/1.1.0': { requests: 3, errorRate: 0, p95Ms: 10 } } },
      async (handle) => {
        await t.approve()(handle);
        // Low traffic is waited for up to the step's max bake (3 × its bake, which the plan doubles after earlier
        // rollbacks in this file), then the step pauses for a person: look every 30 s of workflow time.
        for (let i = 0; i < 60 && (await handle.query(statusQuery)).phase !== 'PAUSED'; i++) await t.env.sleep('30s');
        const paused = await t.waitFor(handle, 'PAUSED');
        assert.equal(paused.paused?.cause, 'inconclusive');
        assert.equal(paused.paused?.rule, 'max-bake');
        assert.match(paused.paused?.reason ?? '', /step at 10 % is inconclusive: \d+ requests after \d+ s/);
        await handle.executeUpdate(promoteUpdate, { args: [{ by: 'bob', reason: 'low-traffic service' }] });
      },
    );
    assert.equal(result?.outcome, 'promoted');
    assert.ok(status.controls.some((c) => c.action === 'promote' && c.by === 'bob' && c.phase === 'PAUSED'));
  });
});

describe('blue-green', () => {
  const blueGreen = { strategy: 'blue-green', blueGreen: { verify: '2m', keepBlue: '10m' } };

  it('switches all traffic to green, keeps blue warm, then retires it', async () => {
    let warm = false;
    const { result, target, status } = await t.runDeploy({ config: { production: blueGreen } }, async (handle) => {
      await t.approve()(handle);
      const switched = await t.waitFor(handle, 'BLUE_GREEN', (s) => s.blueGreen?.stage === 'blue-warm');
      warm = switched.blueGreen?.blue === '1.0.0' && switched.blueGreen.green === '1.1.0';
    });
    assert.ok(warm, 'blue 1.0.0 stayed warm beside green 1.1.0 after the switch');
    assert.equal(result?.outcome, 'promoted');
    assert.deepEqual(productionWeights(target.calls), [100]);
    assert.equal(target.state.get('production')?.stable, '1.1.0');
    const production = status.samples.filter((s) => s.environment === 'production');
    assert.ok(production.some((s) => s.step === 0) && production.some((s) => s.step === 1), 'verify and warm samples');
  });

  it('switches back to blue at once when green fails after the switch', async () => {
    const { result, target, status } = await t.runDeploy(
      {
        version: '1.2.0',
        config: { production: blueGreen },
        profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.3, p95Ms: 50 } },
      },
      t.approve(),
    );
    assert.equal(result?.outcome, 'rolled-back');
    assert.deepEqual(productionWeights(target.calls), [100, 0]);
    assert.equal(target.state.get('production')?.stable, '1.0.0');
    assert.equal(status.samples.filter((s) => s.environment === 'production').length, 1);
  });

  it('switches back on an abort while blue is warm', async () => {
    const { result, target } = await t.runDeploy({ config: { production: blueGreen } }, async (handle) => {
      await t.approve()(handle);
      await t.waitFor(handle, 'BLUE_GREEN', (s) => s.blueGreen?.stage === 'blue-warm');
      await handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'customer report' }] });
    });
    assert.equal(result?.outcome, 'rolled-back');
    assert.deepEqual(productionWeights(target.calls), [100, 0]);
    assert.equal(target.state.get('production')?.stable, '1.0.0');
  });
});

describe('rollback as compensations', () => {
  it('reports a compensation that keeps failing and still runs the next one', async () => {
    const { error, status } = await t.runDeploy(
      {
        version: '1.2.0',
        profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.3, p95Ms: 50 } },
        arrange: (target) =>
          target.failures.set(
            'rollback',
            ApplicationFailure.nonRetryable('process 4242 will not stop', 'StuckProcess'),
          ),
      },
      t.approve(),
    );
    assert.ok(error, 'an incomplete rollback fails the deploy');
    assert.equal(status.outcome, 'failed');
    assert.match(status.reason ?? '', /critical: .*; rollback incomplete: scale-down: process 4242 will not stop/);
    assert.deepEqual(
      status.rollback?.steps.map((s) => [s.step, s.ok]),
      [
        ['traffic-to-zero', true],
        ['scale-down', false],
        ['verify-stable', true],
      ],
    );
    assert.ok(
      status.report?.files.some((f) => f.endsWith('summary.md')),
      'still reported',
    );
  });

  it('a scale-down retried after its first attempt stopped the canary says an earlier attempt did it', async () => {
    const { result, target, status } = await t.runDeploy(
      {
        version: '1.2.0',
        profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.3, p95Ms: 50 } },
        // The canary is stopped, then the worker dies before the answer reaches Temporal: the step is retried.
        arrange: (target) => target.lostAnswers.add('rollback'),
      },
      t.approve(),
    );
    assert.equal(result?.outcome, 'rolled-back');
    assert.equal(target.count('rollback', 'production'), 2, 'the step ran twice');
    const scaleDown = status.rollback?.steps.find((s) => s.step === 'scale-down');
    assert.deepEqual([scaleDown?.ok, scaleDown?.by], [true, 'earlier-attempt']);
    const said = 'scale-down: canary 1.2.0 stopped, back to 1.0.0 (by an earlier attempt)';
    assert.ok(
      status.timeline.some((e) => e.message === `rollback ${said}`),
      status.timeline.map((e) => e.message).join('\n'),
    );
    assert.ok(
      formatStatus(status).some((line) => line.endsWith(said)),
      'opsflow deploy status says so too',
    );
    const summary = readFileSync(path.join(t.workdir, result?.report?.dir ?? 'missing', 'summary.md'), 'utf8');
    assert.match(
      summary,
      /- done: scale-down at \S+ — canary 1\.2\.0 stopped, back to 1\.0\.0 \(by an earlier attempt\)/,
    );
  });
});

describe('cancellation', () => {
  it('runs the rollback compensations when the workflow is cancelled mid-canary', async () => {
    const { error, target, status } = await t.runDeploy({}, async (handle) => {
      await t.approve()(handle);
      await t.waitFor(handle, 'CANARY');
      await handle.cancel();
    });
    assert.ok(error, 'a cancelled deploy ends as cancelled');
    assert.deepEqual(productionWeights(target.calls), [10, 0]);
    assert.equal(target.count('rollback', 'production'), 1);
    assert.equal(target.state.get('production')?.stable, '1.0.0');
    assert.ok(
      status.report?.files.some((f) => f.endsWith('summary.md')),
      'still reported',
    );
  });
});
