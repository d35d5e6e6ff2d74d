// `opsflow analysis replay`'s core on real histories: deploys run by the workflow on the time-skipping server, their
// histories read back as the CLI reads them, re-judged with their own settings and with others.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { MetricsProvider, MetricsQuery } from '../../src/activities/metrics/contract';
import {
  isEmptyDiff,
  recordedDeployOf,
  renderReplay,
  replay,
  ReplayError,
  withAnalysis,
} from '../../src/analysis/replay';
import type { MetricsWindow } from '../../src/shared/analysis';
import type { DeployResult } from '../../src/shared/deploy';
import type { deploy } from '../../src/workflows/deploy';
import { testConfig, testInput } from '../helpers/config';
import { fakeDeps, FakeTarget } from '../helpers/fakes';
import { DeployTestEnv, type DeployHandle } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** Production's new version: the errors of its n-th sample out of 400 requests; stable and staging are healthy. */
class ScriptedMetrics implements MetricsProvider {
  private sample = 0;

  constructor(private readonly errorsAt: (sample: number) => number) {}

  async window(query: MetricsQuery): Promise<MetricsWindow> {
    const fresh = query.environment === 'production' && query.version === '1.1.0';
    const errors = fresh ? this.errorsAt(this.sample++) : 2;
    return { version: query.version, requests: 400, errors, p95Ms: 40, p99Ms: 50 };
  }
}

const production = (analysis: Record<string, unknown>) => ({
  canary: {
    steps: [
      { weight: 10, bake: '2m' },
      { weight: 50, bake: '2m' },
      { weight: 100, bake: '2m' },
    ],
  },
  analysis: { interval: '30s', minRequests: 10, inconclusiveLimit: 3, ...analysis },
});

/** Runs one deploy of 1.1.0 to its end and answers its handle and result. */
async function runDeploy(
  analysis: Record<string, unknown>,
  errorsAt: (sample: number) => number,
): Promise<{ handle: DeployHandle; result: DeployResult }> {
  const n = t.next();
  const taskQueue = `analysis-replay-${n}`;
  const config = testConfig({ production: production(analysis) });
  const input = testInput(config, t.workdir, { version: '1.1.0', requestedBy: 'carol', feature: `replayed-${n}` });
  input.deployId = `${input.deployId}-replayed-${n}`;
  const target = new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' });
  const worker = await Worker.create({
    connection: t.env.nativeConnection,
    taskQueue,
    workflowBundle: t.bundle,
    activities: createActivities(fakeDeps(target, new ScriptedMetrics(errorsAt))),
  });
  return worker.runUntil(async () => {
    const handle = await t.env.client.workflow.start<typeof deploy>('deploy', {
      taskQueue,
      workflowId: input.deployId,
      args: [input],
    });
    await t.approve()(handle);
    return { handle, result: await handle.result() };
  });
}

async function recordOf(handle: DeployHandle) {
  const history = await handle.fetchHistory();
  return recordedDeployOf(handle.workflowId, history.events ?? []);
}

/** Production's analysis settings from a configuration with these overrides, for the other side of a replay. */
const settings = (analysis: Record<string, unknown>) => {
  const { environments } = testConfig({ production: production(analysis) });
  return (name: string) => (Object.hasOwn(environments, name) ? environments[name]?.analysis : undefined);
};

// Errors in bursts: 12 % in one sample of every three, 0.5 % (stable's rate) in the others.
const bursts = (i: number) => (i % 3 === 0 ? 48 : 2);

describe('analysis replay of recorded deploys', () => {
  it('reproduces a rollback exactly, and shows where looser settings would have let it through', async () => {
    const { handle, result } = await runDeploy({}, bursts);
    assert.equal(result.outcome, 'rolled-back');
    const record = await recordOf(handle);
    assert.ok(record.measurements.length > 0);
    assert.ok(record.stepVerdicts, 'the deploy records its step verdicts');

    const loose = settings({
      failureLimit: 1000,
      consecutiveFailureLimit: 1000,
      errorRate: { warn: 0.5, critical: 0.9 },
      compare: { enabled: false },
      score: { pass: 1, marginal: 0 },
    });
    const report = replay(record, { source: 'loose.yaml', rollout: withAnalysis(record.rollout, loose) });

    assert.ok(isEmptyDiff(report.reproduction), JSON.stringify(report.reproduction));
    const recorded = report.judgement.environments.find((e) => e.environment === 'production');
    assert.equal(recorded?.outcome, 'rolled-back');
    const other = report.other;
    assert.ok(other);
    const changed = other.diff.environments.find((e) => e.environment === 'production');
    assert.match(changed?.before ?? '', /^rolled-back/);
    assert.notEqual(changed?.after, changed?.before);
    // The sample that rolled back would have been let through.
    const rollback = other.diff.samples.find((s) => s.before === 'rollback');
    assert.ok(rollback, 'the rolling-back sample is named');
    assert.notEqual(rollback.after, 'rollback');
    const text = renderReplay(report).join('\n');
    assert.match(text, /with the settings it ran with: every step verdict and outcome as recorded/);
    assert.match(text, /with the analysis settings of loose\.yaml, where the verdicts change:/);
    assert.match(text, /production: ran rolled-back \([a-z-]+\), would /);
  });

  it('reproduces a promotion, and shows the step a stricter error threshold would have rolled back', async () => {
    // 1 % errors against stable's 0.5 %: within the default thresholds and comparison.
    const { handle, result } = await runDeploy({}, () => 4);
    assert.equal(result.outcome, 'promoted');
    const record = await recordOf(handle);
    const strict = settings({ errorRate: { warn: 0.002, critical: 0.005 } });
    const report = replay(record, { source: 'strict.yaml', rollout: withAnalysis(record.rollout, strict) });

    assert.ok(isEmptyDiff(report.reproduction), JSON.stringify(report.reproduction));
    assert.deepEqual(
      report.judgement.steps.filter((s) => s.environment === 'production').map((s) => s.verdict),
      ['pass', 'pass', 'pass'],
    );
    const other = report.other;
    assert.ok(other);
    // 1 % is past the stricter critical 0.5 % over the step's whole window (a sample alone lacks the confidence).
    assert.deepEqual(other.diff.environments, [
      { environment: 'production', before: 'promoted', after: 'rolled-back (cumulative-threshold)' },
    ]);
    const first = other.diff.samples[0];
    assert.equal(first?.before, 'pass');
    assert.equal(first?.after, 'rollback');
    assert.equal(first?.rule, 'cumulative-threshold');
  });

  it('the same settings give no differences; a tampered record does not reproduce', async () => {
    const { handle } = await runDeploy({}, () => 2);
    const record = await recordOf(handle);
    const same = replay(record, { source: 'same.yaml', rollout: record.rollout });
    assert.ok(same.other && isEmptyDiff(same.other.diff));
    // Negative control: a record whose production samples were all failing cannot be reproduced as a promotion.
    const tampered = {
      ...record,
      measurements: record.measurements.map((m) =>
        m.environment === 'production' && m.canary ? { ...m, canary: { ...m.canary, errors: 200 } } : m,
      ),
    };
    assert.equal(isEmptyDiff(replay(tampered).reproduction), false);
  });

  it('refuses, in one line, a history without a report and settings missing an environment', async () => {
    assert.throws(() => recordedDeployOf('deploy/x', []), ReplayError);
    assert.throws(
      () => recordedDeployOf('deploy/x', []),
      /^ReplayError: deploy\/x has no report in its history yet: replay reads a finished deploy/,
    );
    const { handle } = await runDeploy({}, () => 2);
    const record = await recordOf(handle);
    assert.throws(
      () => withAnalysis(record.rollout, (name) => (name === 'staging' ? record.rollout[0]?.analysis : undefined)),
      /environment "production" of this deploy is not in the other configuration: add it under environments/,
    );
  });
});
