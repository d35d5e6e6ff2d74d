import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import {
  causeKey,
  restoreMs,
  stoppedEnvironment,
  type DeployResult,
  type StopCauseKind,
} from '../../src/shared/deploy';
import { abortUpdate, pauseUpdate } from '../../src/shared/deploy/messages';
import { formatDuration } from '../../src/shared/duration';
import { applicationFailure, ErrorType } from '../../src/shared/errors';
import type { VersionProfile } from '../helpers/fakes';
import { DeployTestEnv, type DeployHandle, type DeployRun } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** The production analysis of the test config, with what a case adds. */
const productionAnalysis = (extra: Record<string, unknown> = {}) => ({
  analysis: { interval: '30s', minRequests: 10, failureLimit: 2, inconclusiveLimit: 3, ...extra },
  pauseTimeout: '5m',
});

/** The deploy's result, whether it ended normally or failed (a failed deploy carries its result in the failure). */
function resultOf(run: DeployRun): DeployResult {
  if (run.result) return run.result;
  const failure = applicationFailure(run.error);
  assert.equal(failure?.type, ErrorType.DeployFailed, String(run.error));
  return failure?.details?.[0] as DeployResult;
}

interface Case {
  name: string;
  canary?: VersionProfile;
  production?: Record<string, unknown>;
  /** What an operator does once the canary runs. */
  operator?: (handle: DeployHandle) => Promise<void>;
  cause: StopCauseKind;
  key: string;
  /** Expected time to restore, in seconds: [at least, at most]. */
  restoreSeconds: [number, number];
  /** The restore time is the first step's bake as it ran (the plan doubles bakes after earlier rollbacks) plus this. */
  afterFirstBake?: boolean;
}

const canaryRunning = async (handle: DeployHandle) => {
  await t.approve()(handle);
  await t.waitFor(handle, 'CANARY');
};

const cases: Case[] = [
  {
    name: 'a critical error rate rolls back at once; harm counts from the window of the critical sample',
    canary: { requests: 200, errorRate: 0.2, p95Ms: 40 },
    cause: 'critical',
    key: 'error-rate',
    restoreSeconds: [30, 31],
  },
  {
    // 3 % against stable's 0.5 % in 200 requests is not proof at a sample's 99.9 %: warnings; the step's 800 are.
    name: 'worse than stable on errors: the step fails on its whole window, harm from the step’s start',
    canary: { requests: 200, errorRate: 0.03, p95Ms: 40 },
    cause: 'step-judgement',
    key: 'error-rate-vs-stable',
    restoreSeconds: [0, 1],
    afterFirstBake: true,
  },
  {
    name: 'worse than stable on p95 (below every threshold): the failure limit, by latency',
    canary: { requests: 200, errorRate: 0, p95Ms: 1_500 },
    cause: 'failure-limit',
    key: 'latency-vs-stable',
    restoreSeconds: [60, 61],
  },
  {
    name: 'a critical p99 is its own cause',
    canary: { requests: 200, errorRate: 0, p95Ms: 1_800 },
    production: productionAnalysis({ latencyP99: { warn: '1s', critical: '2s' } }),
    cause: 'critical',
    key: 'latency-p99',
    restoreSeconds: [30, 31],
  },
  {
    name: 'too little traffic pauses the canary; nobody decides, the pause times out and it rolls back',
    canary: { requests: 3, errorRate: 0, p95Ms: 40 },
    cause: 'pause-timeout',
    key: 'no-data',
    restoreSeconds: [300, 301],
  },
  {
    name: 'an operator aborts: restored within moments of the abort',
    operator: async (handle) => {
      await canaryRunning(handle);
      await handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'customer reports' }] });
    },
    cause: 'abort',
    key: 'aborted',
    restoreSeconds: [0, 1],
  },
  {
    name: 'an operator pauses and nobody decides: rolled back after the pause timeout',
    operator: async (handle) => {
      await canaryRunning(handle);
      await handle.executeUpdate(pauseUpdate, { args: [{ by: 'carol', reason: 'looking at a graph' }] });
    },
    cause: 'pause-timeout',
    key: 'paused',
    restoreSeconds: [300, 301],
  },
];

describe('deploy facts: each kind of rollback gives its cause and its time to restore', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const run = await t.runDeploy(
        {
          profiles: c.canary ? { 'production/1.1.0': c.canary } : {},
          config: { production: c.production ?? productionAnalysis() },
        },
        c.operator ?? t.approve(),
      );
      const result = resultOf(run);
      assert.equal(result.outcome, 'rolled-back');
      assert.equal(result.cause?.kind, c.cause);
      assert.equal(causeKey(result.outcome, result.cause), c.key);
      const production = stoppedEnvironment(result.environments ?? []);
      assert.equal(production?.environment, 'production');
      assert.equal(production?.outcome, 'rolled-back');
      assert.equal(production?.toVersion, '1.0.0');
      const measured = production ? restoreMs(production) : null;
      assert.ok(measured !== null, 'time to restore is measured');
      const firstBake = run.status.rollout?.find((e) => e.name === 'production')?.steps[0]?.bake ?? 0;
      const restore = c.afterFirstBake ? measured - firstBake : measured;
      assert.ok(
        restore >= c.restoreSeconds[0] * 1000 && restore <= c.restoreSeconds[1] * 1000,
        `time to restore ${restore} ms, expected ${c.restoreSeconds.join('–')} s`,
      );
      // The query answers the same facts.
      assert.deepEqual(run.status.cause, result.cause);
      assert.deepEqual(run.status.results, result.environments);
      // summary.md says it, from the same facts.
      const summary = readFileSync(path.join(t.workdir, result.report?.dir ?? 'missing', 'summary.md'), 'utf8');
      assert.match(summary, new RegExp(`Time to restore in production: ${formatDuration(measured)}, from the first`));
      // Staging went through untouched by the failure.
      assert.equal(result.environments?.[0]?.outcome, 'promoted');
    });
  }

  it('names the deciding checks of a failure-limit rollback: the comparison, its value and limit', async () => {
    const run = await t.runDeploy(
      // 6 % of 200 is significant against stable in each sample, yet not above 5 % with confidence: failing, not critical.
      { profiles: { 'production/1.1.0': { requests: 200, errorRate: 0.06, p95Ms: 40 } } },
      t.approve(),
    );
    const cause = resultOf(run).cause;
    assert.equal(cause?.kind, 'failure-limit');
    if (cause?.kind !== 'failure-limit') return;
    assert.deepEqual([cause.failing, cause.unmeasured, cause.limit], [2, 0, 2]);
    assert.deepEqual(
      cause.checks.map((check) => [check.metric, check.kind, check.verdict]),
      [['errorRate vs stable', 'comparison', 'failing']],
    );
    assert.equal(cause.checks[0]?.value, 0.06);
    assert.equal(cause.checks[0]?.limit, 0.01);
  });
});

describe('deploy facts of a promotion', () => {
  it('records both environments promoted, the approval wait, and samples by verdict', async () => {
    const run = await t.runDeploy({}, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await t.env.sleep('10 minutes');
      await t.approve()(handle);
    });
    const result = resultOf(run);
    assert.equal(result.outcome, 'promoted');
    assert.equal(result.cause, undefined);
    assert.deepEqual(
      result.environments?.map((e) => [e.environment, e.outcome, e.fromVersion, e.toVersion]),
      [
        ['staging', 'promoted', '1.0.0', '1.1.0'],
        ['production', 'promoted', '1.0.0', '1.1.0'],
      ],
    );
    const approval = result.environments?.[1]?.approval;
    assert.equal(approval?.decision, 'approved');
    assert.equal(approval?.by, 'alice');
    const waited = Date.parse(approval?.decidedAt ?? '') - Date.parse(approval?.requestedAt ?? '');
    assert.ok(waited >= 600_000, `approval waited ${waited} ms`);
    assert.equal(
      result.environments?.[1]?.samples.healthy,
      run.status.samples.filter((s) => s.environment === 'production').length,
    );
    assert.equal(result.environments?.[1]?.maxWeight, 100);
  });

  it('summary.md and report.json show the bakes a high-risk plan ran, not the configured ones', async () => {
    const run = await t.runDeploy({ planMd: 'Breaking change to the API' }, t.approve());
    const result = resultOf(run);
    assert.equal(run.status.plan?.risk, 'high');
    assert.deepEqual(
      run.status.rollout?.find((e) => e.name === 'production')?.steps.map((s) => s.bake),
      [240_000, 240_000, 240_000],
    );
    const dir = path.join(t.workdir, result.report?.dir ?? 'missing');
    const summary = readFileSync(path.join(dir, 'summary.md'), 'utf8');
    assert.match(summary, /10 % for 4m → 50 % for 4m → 100 % for 4m/);
    assert.doesNotMatch(summary, /10 % for 2m/);
  });
});
