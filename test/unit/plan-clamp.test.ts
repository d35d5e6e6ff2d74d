import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EnvironmentPlan } from '../../src/shared/deploy';
import { clampPlan } from '../../src/shared/plan-clamp';
import { testConfig, testInput } from '../helpers/config';

const configured = testInput(testConfig(), '/w').environments;
const production = () => JSON.parse(JSON.stringify(configured[1])) as EnvironmentPlan;
const staging = () => JSON.parse(JSON.stringify(configured[0])) as EnvironmentPlan;

interface Row {
  name: string;
  change: (env: EnvironmentPlan) => void;
  expect: (env: EnvironmentPlan) => void;
  note?: RegExp;
}

/** Each row changes the production proposal one way; the clamp must keep or take it as stated. */
const rows: Row[] = [
  {
    name: 'fewer canary steps are refused: the configured steps run',
    change: (e) =>
      (e.steps = [
        { weight: 50, bake: 120_000 },
        { weight: 100, bake: 120_000 },
      ]),
    expect: (e) => assert.deepEqual(e.steps, configured[1]?.steps),
    note: /2 canary steps are fewer than the configured 3/,
  },
  {
    name: 'more, smaller steps with the same bakes are taken',
    change: (e) => (e.steps = [5, 10, 50, 100].map((weight) => ({ weight, bake: 120_000 }))),
    expect: (e) =>
      assert.deepEqual(
        e.steps.map((s) => s.weight),
        [5, 10, 50, 100],
      ),
  },
  {
    name: 'a larger first step is refused',
    change: (e) => (e.steps = [25, 50, 100].map((weight) => ({ weight, bake: 120_000 }))),
    expect: (e) => assert.deepEqual(e.steps, configured[1]?.steps),
    note: /first canary step sends 25 % of traffic, more than the configured 10 %/,
  },
  {
    name: 'a shorter bake is raised to the configured minimum',
    change: (e) =>
      (e.steps = [
        { weight: 10, bake: 1_000 },
        { weight: 50, bake: 240_000 },
        { weight: 100, bake: 240_000 },
      ]),
    expect: (e) =>
      assert.deepEqual(
        e.steps.map((s) => s.bake),
        [120_000, 240_000, 240_000],
      ),
    note: /bake of 1\.0s at 10 % is shorter than the configured minimum; used 2m/,
  },
  {
    name: 'a shorter total bake is refused even when each step meets the minimum',
    change: (e) =>
      (e.steps = [1, 2, 3].map((weight) => ({ weight, bake: 120_000 })).concat([{ weight: 100, bake: 0 }])),
    expect: (e) => assert.equal(e.steps.at(-1)?.weight, 100),
  },
  {
    name: 'non-increasing weights are refused',
    change: (e) => (e.steps = [10, 50, 50, 100].map((weight) => ({ weight, bake: 120_000 }))),
    expect: (e) => assert.deepEqual(e.steps, configured[1]?.steps),
    note: /weights do not increase/,
  },
  {
    name: 'a higher error-rate critical threshold is refused',
    change: (e) => (e.analysis.errorRate = { warn: 0.01, critical: 0.2 }),
    expect: (e) => assert.deepEqual(e.analysis.errorRate, { warn: 0.01, critical: 0.05 }),
    note: /error-rate critical 20 % is looser than the configured 5 %; kept 5 %/,
  },
  {
    name: 'lower thresholds are taken (tightening)',
    change: (e) => {
      e.analysis.errorRate = { warn: 0.005, critical: 0.02 };
      e.analysis.latencyP95 = { warn: 1_000, critical: 3_000 };
    },
    expect: (e) => {
      assert.deepEqual(e.analysis.errorRate, { warn: 0.005, critical: 0.02 });
      assert.deepEqual(e.analysis.latencyP95, { warn: 1_000, critical: 3_000 });
    },
  },
  {
    name: 'thresholds tighter than a quarter of the configured value are raised to it (noise would roll back)',
    change: (e) => (e.analysis.errorRate = { warn: 0, critical: 0 }),
    expect: (e) => assert.deepEqual(e.analysis.errorRate, { warn: 0.0025, critical: 0.0125 }),
    note: /tighter than a quarter/,
  },
  {
    name: 'a higher p95 threshold is refused',
    change: (e) => (e.analysis.latencyP95 = { warn: 2_000, critical: 10_000 }),
    expect: (e) => assert.equal(e.analysis.latencyP95.critical, 5_000),
    note: /p95 critical 10s is looser than the configured 5\.0s/,
  },
  {
    name: 'fewer requests per sample are refused, more are taken',
    change: (e) => (e.analysis.minRequests = 1),
    expect: (e) => assert.equal(e.analysis.minRequests, 10),
    note: /1 requests per sample is fewer than the configured 10/,
  },
  {
    name: 'a more lenient failure limit is refused',
    change: (e) => (e.analysis.failureLimit = 10),
    // The config sets failureLimit 2 alone: its old meaning (2 in a row); the run-wide budget is the default 5.
    expect: (e) => assert.equal(e.analysis.failureLimit, 5),
    note: /failureLimit 10 is more lenient than the configured 5; kept 5/,
  },
  {
    name: 'a plan cannot change the consecutive limit, the score or the step rules',
    change: (e) =>
      Object.assign(e.analysis, {
        consecutiveFailureLimit: 50,
        maxBakeFactor: 10,
        onInconclusive: 'pause',
        score: { pass: 1, marginal: 0 },
      }),
    expect: (e) => {
      const a = configured[1]?.analysis;
      assert.equal(e.analysis.consecutiveFailureLimit, a?.consecutiveFailureLimit);
      assert.equal(e.analysis.maxBakeFactor, a?.maxBakeFactor);
      assert.deepEqual(e.analysis.score, a?.score);
    },
  },
  {
    name: 'a dropped production approval is restored',
    change: (e) => (e.approval = { ...e.approval, required: false, approvers: [] }),
    expect: (e) => assert.deepEqual(e.approval, configured[1]?.approval),
    note: /dropped the required approval; kept it/,
  },
  {
    name: 'self-approval cannot be switched on',
    change: (e) => (e.approval = { ...e.approval, allowSelfApproval: true }),
    expect: (e) => assert.equal(e.approval.allowSelfApproval, false),
    note: /allowed self-approval; kept it forbidden/,
  },
  {
    name: 'a canary cannot become a direct replacement',
    change: (e) => (e.strategy = 'direct'),
    expect: (e) => assert.equal(e.strategy, 'canary'),
    note: /strategy direct differs from the configured canary/,
  },
  {
    name: 'the sampling interval stays as configured',
    change: (e) => (e.analysis.interval = 1),
    expect: (e) => assert.equal(e.analysis.interval, configured[1]?.analysis.interval),
  },
];

describe('the safety clamp: a plan may tighten, never loosen', () => {
  for (const row of rows) {
    it(row.name, () => {
      const proposal = production();
      row.change(proposal);
      const { environments, adjustments } = clampPlan(configured, [staging(), proposal]);
      assert.equal(environments.length, 2);
      const effective = environments[1];
      assert.ok(effective);
      row.expect(effective);
      if (row.note)
        assert.ok(
          adjustments.some((a) => row.note?.test(a)),
          `adjustments: ${adjustments.join(' | ')}`,
        );
      // Whatever the proposal, the result never loosens a configured bound.
      const c = configured[1] as EnvironmentPlan;
      assert.ok(effective.steps.length >= c.steps.length);
      assert.ok(effective.analysis.errorRate.critical <= c.analysis.errorRate.critical);
      assert.ok(effective.analysis.latencyP95.critical <= c.analysis.latencyP95.critical);
      assert.ok(effective.analysis.minRequests >= c.analysis.minRequests);
      assert.equal(effective.approval.required, true);
      assert.ok(effective.steps.reduce((s, x) => s + x.bake, 0) >= c.steps.reduce((s, x) => s + x.bake, 0));
    });
  }

  it('passes the configured environments through unchanged, with no adjustments', () => {
    assert.deepEqual(clampPlan(configured, [staging(), production()]), { environments: configured, adjustments: [] });
    assert.deepEqual(clampPlan(configured, undefined), { environments: configured, adjustments: [] });
  });

  it('keeps the pipeline: missing environments run as configured, unknown ones are ignored', () => {
    const extra = { ...production(), name: 'moon' };
    const { environments, adjustments } = clampPlan(configured, [extra]);
    assert.deepEqual(
      environments.map((e) => e.name),
      ['staging', 'production'],
    );
    assert.deepEqual(environments, configured);
    assert.deepEqual(adjustments, ['moon: not in the pipeline; ignored']);
  });

  it('never lets a staging verification get shorter', () => {
    const s = staging();
    s.verifyMs = 0;
    const { environments } = clampPlan(configured, [s, production()]);
    assert.equal(environments[0]?.verifyMs, configured[0]?.verifyMs);
  });
});
