import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../src/activities';
import type { CostSource } from '../../src/activities/cost/contract';
import { formatStatus } from '../../src/cli/format';
import type { MetricsProvider, MetricsQuery } from '../../src/activities/metrics/contract';
import type { MetricsWindow } from '../../src/shared/analysis';
import { judgeRun, measurementsOf } from '../../src/shared/analysis/judge-run';
import { JUDGEMENT_RULES, LATEST_RULES } from '../../src/shared/analysis/rules';
import { causeKey, causeRule, type DeployResult, type DeployStatus } from '../../src/shared/deploy';
import { resumeUpdate, statusQuery } from '../../src/shared/deploy/messages';
import type { deploy } from '../../src/workflows/deploy';
import { testConfig, testInput } from '../helpers/config';
import { fakeDeps, FakeTarget } from '../helpers/fakes';
import { DeployTestEnv, type DeployHandle } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** What the canary shows in one sample: a window of that many requests and errors, or no answer at all. */
type Shape = { requests: number; errors: number } | 'unmeasured';

/**
 * Metrics that play a script for the new version in production, sample after sample (an unmeasured sample fails
 * both attempts of the activity), and a steady, healthy stable version; staging is healthy throughout.
 */
class ScriptedMetrics implements MetricsProvider {
  private sample = 0;
  private attempts = 0;

  constructor(
    private readonly version: string,
    private readonly script: (sample: number) => Shape,
  ) {}

  async window(query: MetricsQuery): Promise<MetricsWindow> {
    const window = (requests: number, errors: number): MetricsWindow => ({
      version: query.version,
      requests,
      errors,
      p95Ms: requests > 0 ? 40 : null,
      p99Ms: requests > 0 ? 50 : null,
    });
    if (query.environment !== 'production' || query.version !== this.version) return window(400, 2);
    const shape = this.script(this.sample);
    if (shape === 'unmeasured') {
      this.attempts += 1;
      if (this.attempts === 2) {
        this.attempts = 0;
        this.sample += 1;
      }
      throw new Error('metrics backend unavailable');
    }
    this.sample += 1;
    return window(shape.requests, shape.errors);
  }
}

interface Run {
  handle: DeployHandle;
  result?: DeployResult;
  error?: unknown;
  status: DeployStatus;
  target: FakeTarget;
}

/**
 * One deploy of 1.1.0 through staging and a production canary with `production` settings, driven by `drive`; its id
 * ends in `name` (the feature's name too).
 */
async function runDeploy(
  production: Record<string, unknown>,
  script: (sample: number) => Shape,
  drive: (handle: DeployHandle) => Promise<void> = async () => {},
  name = `judged-${t.next()}`,
  deps: Pick<ActivityDeps, 'costs'> = {},
): Promise<Run> {
  const target = new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' });
  const config = testConfig({ production });
  const input = testInput(config, t.workdir, { version: '1.1.0', requestedBy: 'carol', feature: name });
  input.deployId = `${input.deployId}-${name}`;
  const activities = createActivities({ ...fakeDeps(target, new ScriptedMetrics('1.1.0', script)), ...deps });
  return t.serve(input.deployId, activities, async (taskQueue) => {
    const handle = await t.env.client.workflow.start<typeof deploy>('deploy', {
      taskQueue,
      workflowId: input.deployId,
      args: [input],
    });
    await t.approve()(handle);
    await drive(handle);
    const outcome = await handle.result().then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    return { ...outcome, handle, status: await handle.query(statusQuery), target };
  });
}

const production = (analysis: Record<string, unknown>) => ({
  canary: {
    steps: [
      { weight: 10, bake: '2m' },
      { weight: 50, bake: '2m' },
      { weight: 100, bake: '2m' },
    ],
  },
  // Without a warm-up every sample is judged: these tests count samples (test/unit/warm-up-workflow.test.ts has it on).
  analysis: {
    interval: '30s',
    minRequests: 10,
    inconclusiveLimit: 3,
    warmUp: { duration: 0, requests: 0 },
    ...analysis,
  },
});

/** Lets workflow time pass, 30 s at a time (a max bake is minutes away), until the deploy pauses. */
async function waitForPause(handle: DeployHandle): Promise<DeployStatus> {
  for (let i = 0; i < 120; i++) {
    const status = await handle.query(statusQuery);
    if (status.phase === 'PAUSED') return status;
    await t.env.sleep('30s');
  }
  return assert.fail('deploy never paused');
}

/** The same rules, run over the recorded measurements, give the same verdicts. */
function assertReplays(run: Run): void {
  const replay = judgeRun(run.status.rollout ?? [], measurementsOf(run.status));
  const judged = replay.environments.find((e) => e.environment === 'production');
  assert.equal(judged?.outcome, run.result?.outcome === 'promoted' ? 'promoted' : 'rolled-back');
  assert.deepEqual(judged?.cause, run.status.cause);
  assert.deepEqual(
    replay.steps.filter((s) => s.environment === 'production').map((s) => [s.weight, s.verdict, s.rule]),
    (run.status.stepVerdicts ?? [])
      .filter((s) => s.environment === 'production')
      .map((s) => [s.weight, s.verdict, s.rule]),
  );
}

const weights = (run: Run) =>
  run.target.calls.filter((c) => c.op === 'weight' && c.environment === 'production').map((c) => c.weight);

describe('canary judgement in the deploy workflow', () => {
  it('rolls back on the run-wide budget: failing every other sample, never two in a row, across steps', async () => {
    const run = await runDeploy(production({ failureLimit: 4, consecutiveFailureLimit: 3 }), (i) =>
      i % 2 === 0 ? { requests: 400, errors: 16 } : { requests: 400, errors: 2 },
    );
    assert.equal(run.result?.outcome, 'rolled-back', String(run.error));
    const cause = run.status.cause;
    assert.equal(cause?.kind, 'failure-limit');
    assert.equal(causeRule(cause), 'budget');
    assert.deepEqual(cause?.kind === 'failure-limit' && [cause.failing, cause.unmeasured, cause.limit], [4, 0, 4]);
    assert.equal(causeKey('rolled-back', cause), 'error-rate-vs-stable');
    assert.match(
      run.status.reason ?? '',
      /4 failing or unmeasurable samples in this run of production \(failureLimit 4/,
    );
    assert.ok(!weights(run).includes(100), `never at 100 %: ${weights(run).join(' → ')}`);
    // The budget carried the first step's failures into the second.
    const steps = (run.status.stepVerdicts ?? []).filter((s) => s.environment === 'production');
    assert.equal(steps.at(-1)?.rule, 'budget');
    assertReplays(run);
  });

  it('extends a low-traffic step until its canary has served the requests its bake needs', async () => {
    // 4 requests a sample, under the 10 a sample needs: each sample inconclusive; 4 samples of bake need 40.
    const run = await runDeploy(production({}), () => ({ requests: 4, errors: 0 }));
    assert.equal(run.result?.outcome, 'promoted', String(run.error));
    const first = run.status.stepVerdicts?.find((s) => s.environment === 'production' && s.weight === 10);
    assert.equal(first?.verdict, 'pass');
    assert.ok((first?.canaryRequests ?? 0) >= (first?.minRequests ?? Infinity));
    assert.ok((first?.elapsedMs ?? 0) > (first?.bakeMs ?? Infinity), `extended past the bake: ${first?.elapsedMs} ms`);
    assert.ok((first?.elapsedMs ?? Infinity) <= (first?.maxBakeMs ?? 0));
    const samples = run.status.samples.filter((s) => s.environment === 'production' && s.weight === 10);
    assert.ok(samples.length > (first?.bakeMs ?? 0) / 30_000, `${samples.length} samples`);
    assert.ok(samples.every((s) => s.verdict === 'inconclusive'));
  });

  it('pauses a canary without traffic at its max bake; a person resuming accepts the step', async () => {
    const run = await runDeploy(
      production({}),
      (i) => (i < 100 ? { requests: 0, errors: 0 } : { requests: 400, errors: 0 }),
      async (handle) => {
        const paused = await waitForPause(handle);
        assert.equal(paused.paused?.cause, 'inconclusive');
        assert.equal(paused.paused?.rule, 'max-bake');
        assert.match(paused.paused?.reason ?? '', /step at 10 % is inconclusive: 0 requests after/);
        assert.equal(paused.analysis?.step.verdict, 'inconclusive');
        await handle.executeUpdate(resumeUpdate, { args: [{ by: 'bob', reason: 'quiet service' }] });
      },
    );
    const first = run.status.stepVerdicts?.find((s) => s.environment === 'production' && s.weight === 10);
    assert.equal(first?.verdict, 'inconclusive');
    assert.equal(first?.acceptedBy, 'bob');
    assert.deepEqual(weights(run).slice(0, 2), [10, 50], 'went on to the next step');
  });

  it('rolls back a canary without traffic when nobody answers the pause: no traffic is never a pass', async () => {
    const run = await runDeploy(production({}), () => ({ requests: 0, errors: 0 }));
    assert.equal(run.result?.outcome, 'rolled-back');
    assert.equal(run.status.cause?.kind, 'pause-timeout');
    assert.equal(causeKey('rolled-back', run.status.cause), 'no-data');
    assert.equal(run.target.count('promote', 'production'), 0);
  });

  it('rolls back at the max bake with onInconclusive: rollback', async () => {
    const run = await runDeploy(production({ onInconclusive: 'rollback' }), () => ({ requests: 0, errors: 0 }));
    assert.equal(run.result?.outcome, 'rolled-back');
    assert.equal(run.status.cause?.kind, 'step-judgement');
    assert.equal(causeRule(run.status.cause), 'max-bake');
    assert.equal(causeKey('rolled-back', run.status.cause), 'no-data');
  });
});

describe('measurement errors, kept apart from evidence about the canary', () => {
  it('are not held against a healthy canary: two platform restarts, a sample each, with 2 failures in a row allowed', async () => {
    const run = await runDeploy(production({ consecutiveFailureLimit: 2, failureLimit: 2 }), (i) =>
      i === 1 || i === 3 ? 'unmeasured' : { requests: 400, errors: 2 },
    );
    assert.equal(run.result?.outcome, 'promoted', String(run.error));
    assert.equal(run.status.rollout?.find((e) => e.name === 'production')?.rules, LATEST_RULES);
    assert.equal(run.status.unmeasured?.filter((u) => u.environment === 'production').length, 2);
    assertReplays(run);
    const summary = readFileSync(path.join(t.workdir, run.status.report?.dir ?? 'missing', 'summary.md'), 'utf8');
    assert.match(
      summary,
      /\*\*2 samples could not be measured\*\* \(measurement errors, not held against the canary\):/,
    );
    assert.match(summary, /- \d\d:\d\d:\d\d at 10 %: .*metrics backend unavailable/);
    assert.match(summary, /4 in a row \(consecutiveErrorLimit\) pause for a person/);
    // The original rules, over the same measurements, would have rolled the healthy release back.
    const original = (run.status.rollout ?? []).map((e) => ({ ...e, rules: JUDGEMENT_RULES.original }));
    const judged = judgeRun(original, measurementsOf(run.status));
    assert.equal(judged.environments.find((e) => e.environment === 'production')?.outcome, 'rolled-back');
  });

  it('pause for a person after consecutiveErrorLimit in a row; resuming goes on sampling', async () => {
    const run = await runDeploy(
      production({ consecutiveErrorLimit: 3 }),
      (i) => (i >= 1 && i <= 3 ? 'unmeasured' : { requests: 400, errors: 2 }),
      async (handle) => {
        const paused = await waitForPause(handle);
        assert.equal(paused.paused?.cause, 'unmeasured');
        assert.equal(paused.paused?.rule, 'measurement-errors');
        assert.match(
          paused.paused?.reason ?? '',
          /^3 samples in a row could not be measured \(consecutiveErrorLimit 3\): .*metrics backend unavailable/,
        );
        const counts = paused.analysis?.counts;
        assert.deepEqual([counts?.failures, counts?.errors, counts?.consecutiveErrors], [0, 3, 3]);
        assert.ok(
          formatStatus(paused).includes(
            '  measurement errors in production: 3 in the run, 3/3 in a row pause (never counted as failures)',
          ),
          formatStatus(paused).join('\n'),
        );
        await handle.executeUpdate(resumeUpdate, { args: [{ by: 'bob', reason: 'Prometheus is back' }] });
      },
      'measurement-errors-paused',
    );
    assert.equal(run.result?.outcome, 'promoted', String(run.error));
    assert.equal(run.status.analysis?.counts.consecutiveErrors, 0);
    assertReplays(run);
    // OPSFLOW_RECORD_HISTORIES=1 refreshes the replay tests' history of a deploy judged by the rules that keep
    // measurement errors apart (its patch: analysis-measurement-errors).
    if (process.env['OPSFLOW_RECORD_HISTORIES'] === '1') {
      const history = historyToJSON(await run.handle.fetchHistory());
      writeFileSync(path.join(__dirname, '..', 'histories', `${run.handle.workflowId}.json`), history);
    }
  });

  it('roll back with onMeasurementErrors: rollback, with the cause a fact', async () => {
    const run = await runDeploy(production({ consecutiveErrorLimit: 2, onMeasurementErrors: 'rollback' }), (i) =>
      i >= 1 ? 'unmeasured' : { requests: 400, errors: 2 },
    );
    assert.equal(run.result?.outcome, 'rolled-back', String(run.error));
    const cause = run.status.cause;
    assert.equal(causeRule(cause), 'measurement-errors');
    assert.equal(causeKey('rolled-back', cause), 'unmeasured');
    assert.deepEqual(cause?.kind === 'failure-limit' && [cause.failing, cause.unmeasured, cause.limit], [0, 2, 2]);
    assertReplays(run);
  });
});

describe('cost per 1,000 requests in the canary (issue 22)', () => {
  /** A cost source pricing each request of the canary (1.1.0) at `ratio` times stable's 0.001 USD. */
  const pricedPerRequest = (ratio: number): CostSource => ({
    description: 'price sheet, USD',
    currency: 'USD',
    window: async (q) => ({ usage: q.requests * 0.001 * (q.version === '1.1.0' ? ratio : 1), capacity: null }),
  });

  it('alerts on a canary that costs 40 % more per 1,000 requests, and promotes it where cost only alerts', async () => {
    const run = await runDeploy(production({}), () => ({ requests: 400, errors: 2 }), undefined, undefined, {
      costs: pricedPerRequest(1.4),
    });
    assert.equal(run.result?.outcome, 'promoted', String(run.error));
    const steps = (run.status.stepVerdicts ?? []).filter((s) => s.environment === 'production');
    for (const step of steps) {
      assert.equal(step.verdict, 'pass');
      assert.deepEqual(
        [step.cost?.verdict, step.cost?.action, step.cost?.canaryPer1k, step.cost?.stablePer1k, step.cost?.increase],
        ['increase', 'alert', 1.4, 1, 0.4],
      );
    }
    assert.ok(
      run.status.timeline.some((e) =>
        /COST ALERT step at 10 % in production: cost per 1,000 requests 1\.40 USD vs stable 1\.00 USD \(\+40 %, above the \+20 % tolerated\), from price sheet, USD/.test(
          e.message,
        ),
      ),
      run.status.timeline.map((e) => e.message).join('\n'),
    );
    const summary = readFileSync(path.join(t.workdir, run.status.report?.dir ?? 'missing', 'summary.md'), 'utf8');
    assert.match(
      summary,
      /- \*\*Cost impact\*\*: cost per 1,000 requests 1\.40 USD vs stable 1\.00 USD \(\+40 %.*\(ALERT\)/,
    );
    const report = JSON.parse(readFileSync(path.join(t.workdir, run.status.report?.dir ?? '', 'report.json'), 'utf8'));
    assert.equal(report.environments.production.cost.increase, 0.4);
    assertReplays(run);
  });

  it('rolls back a canary 40 % dearer per request where cost fails; 10 % dearer passes', async () => {
    const dear = await runDeploy(
      production({ cost: 'fail' }),
      () => ({ requests: 400, errors: 2 }),
      undefined,
      undefined,
      {
        costs: pricedPerRequest(1.4),
      },
    );
    assert.equal(dear.result?.outcome, 'rolled-back', String(dear.error));
    const cause = dear.status.cause;
    assert.equal(causeRule(cause), 'cost');
    assert.equal(cause?.kind === 'step-judgement' && cause.cost?.increase, 0.4);
    assert.equal(causeKey('rolled-back', cause), 'cost');
    assert.match(
      dear.status.reason ?? '',
      /step at 10 % costs more than stable over its whole window: cost per 1,000 requests/,
    );
    assert.ok(!weights(dear).includes(50), `stopped at the first step: ${weights(dear).join(' → ')}`);
    assertReplays(dear);
    assert.match(formatStatus(dear.status).join('\n'), /FAIL \(cost\).*COST ALERT: cost per 1,000 requests 1\.40 USD/);

    const cheap = await runDeploy(
      production({ cost: { onIncrease: 'fail', increase: 0.2 } }),
      () => ({ requests: 400, errors: 2 }),
      undefined,
      undefined,
      {
        costs: pricedPerRequest(1.1),
      },
    );
    assert.equal(cheap.result?.outcome, 'promoted', String(cheap.error));
    assert.ok(
      (cheap.status.stepVerdicts ?? [])
        .filter((s) => s.environment === 'production')
        .every((s) => s.cost?.verdict === 'ok'),
    );
  });

  it('says cost was not measured without a cost source, never blocking, unless the analysis requires it', async () => {
    const free = await runDeploy(production({ cost: 'fail' }), () => ({ requests: 400, errors: 2 }));
    assert.equal(free.result?.outcome, 'promoted', String(free.error));
    const step = free.status.stepVerdicts?.find((s) => s.environment === 'production');
    assert.equal(step?.cost?.verdict, 'unmeasured');
    assert.match(
      step?.cost?.unmeasured ?? '',
      /no cost source is configured on this worker: set cost in its opsflow\.yaml/,
    );

    const required = await runDeploy(production({ cost: { required: true }, onInconclusive: 'rollback' }), () => ({
      requests: 400,
      errors: 2,
    }));
    assert.equal(required.result?.outcome, 'rolled-back', String(required.error));
    assert.equal(causeRule(required.status.cause), 'cost');
    assert.equal(causeKey('rolled-back', required.status.cause), 'cost-unmeasured');
    assert.match(
      required.status.reason ?? '',
      /inconclusive: its analysis requires cost, and by its max bake cost not measured/,
    );
    assertReplays(required);
  });
});
