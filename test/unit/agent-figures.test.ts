import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  agentEventArgsSchema,
  applyDeploy,
  applyEvent,
  applyReview,
  buildSelfReview,
  deployRecord,
  deriveFigures,
  emptyFigures,
  foldDeploy,
  initialState,
  pushBounded,
  reviseImprovements,
  type DeployFacts,
} from '../../src/shared/agent';
import { agentConfigSchema } from '../../src/config/agent';
import { nextReviewTime } from '../../src/shared/agent/config';
import { configSchema } from '../../src/config/schema';
import { causeKey, type DeployResult, type Outcome, type StopCause } from '../../src/shared/deploy';
import { approvalWaitMs, measureImpact, noisySamples } from '../../src/activities/agent/facts';
import type { DeployStatus } from '../../src/shared/deploy';

const config = agentConfigSchema.parse({});
const T0 = Date.UTC(2026, 10, 23, 10, 0);

/** A critical error rate, as the analysis decides it. */
const CRITICAL_ERRORS: StopCause = {
  kind: 'critical',
  checks: [{ metric: 'errorRate', kind: 'threshold', verdict: 'critical', value: 0.2, limit: 0.05 }],
};

function result(
  outcome: Outcome,
  reason: string,
  durationMs: number,
  version = '1.1.0',
  cause?: StopCause,
): DeployResult {
  return {
    deployId: `deploy-hello-${version}-production`,
    service: 'hello',
    version,
    outcome,
    reason,
    phase: 'PROMOTED',
    durationMs,
    report: null,
    ...(cause ? { cause } : {}),
  };
}

const facts = (over: Partial<DeployFacts> = {}): DeployFacts => ({
  approvalWaitMs: 0,
  restoreMs: null,
  inconclusiveSamples: 0,
  unmeasuredSamples: 0,
  samples: 5,
  environment: null,
  files: [],
  ...over,
});

describe('agent config', () => {
  it('defaults to the spec: 48 h idle, daily review, 5 min / 99 % / 95 % / 30 min targets', () => {
    assert.equal(config.idleTimeout, 48 * 3_600_000);
    assert.equal(config.reviewAt, '09:00');
    assert.deepEqual(config.targets, {
      deployDuration: 300_000,
      successRate: 0.99,
      successRateFloor: 0.95,
      timeToRestore: 1_800_000,
    });
  });

  it('rejects a malformed review time and a too small continue-as-new limit with a message to act on', () => {
    const time = agentConfigSchema.safeParse({ reviewAt: '9am' });
    assert.match(time.error?.issues[0]?.message ?? '', /UTC time of day "HH:MM"/);
    const limit = agentConfigSchema.safeParse({ continueAsNewAfterEvents: 5 });
    assert.match(limit.error?.issues[0]?.message ?? '', /0 \(off\) or at least 30/);
    const idle = agentConfigSchema.safeParse({ idleTimeout: 'two days' });
    assert.match(idle.error?.issues[0]?.message ?? '', /not a duration/);
  });

  it('is one key of opsflow.yaml', () => {
    const parsed = configSchema.safeParse({
      project: 'p',
      services: { hello: { command: ['node'], versions: ['1.0.0'], initialVersion: '1.0.0' } },
      environments: { staging: {}, production: { approval: { required: true, approvers: ['a'] } } },
      agent: { idleTimeout: '12h', reviewAt: '18:30' },
    });
    assert.ok(parsed.success, parsed.error?.message);
    assert.equal(parsed.data.agent.idleTimeout, 12 * 3_600_000);
  });

  it('schedules the next review at the configured UTC time, strictly later', () => {
    assert.equal(new Date(nextReviewTime(T0, '09:00')).toISOString(), '2026-11-24T09:00:00.000Z');
    assert.equal(new Date(nextReviewTime(T0, '10:30')).toISOString(), '2026-11-23T10:30:00.000Z');
    assert.equal(new Date(nextReviewTime(T0, '10:00')).toISOString(), '2026-11-24T10:00:00.000Z');
  });
});

describe('agent figures', () => {
  it('names failure causes from the decision that stopped the deploy, never from its reason text', () => {
    const check = (metric: string, kind: 'threshold' | 'comparison') => ({
      metric,
      kind,
      verdict: 'failing' as const,
      value: 1,
      limit: 0,
    });
    const cases: [Outcome, StopCause | undefined, string | null][] = [
      ['promoted', undefined, null],
      ['rolled-back', CRITICAL_ERRORS, 'error-rate'],
      [
        'rolled-back',
        { kind: 'critical', checks: [{ ...check('latencyP95', 'threshold'), verdict: 'critical' }] },
        'latency',
      ],
      [
        'rolled-back',
        { kind: 'critical', checks: [{ ...check('latencyP99', 'threshold'), verdict: 'critical' }] },
        'latency-p99',
      ],
      [
        'rolled-back',
        {
          kind: 'failure-limit',
          failing: 3,
          unmeasured: 0,
          limit: 3,
          checks: [check('errorRate vs stable', 'comparison')],
        },
        'error-rate-vs-stable',
      ],
      [
        'rolled-back',
        {
          kind: 'failure-limit',
          failing: 2,
          unmeasured: 1,
          limit: 3,
          checks: [check('latencyP95 vs stable', 'comparison')],
        },
        'latency-vs-stable',
      ],
      [
        'rolled-back',
        { kind: 'failure-limit', failing: 3, unmeasured: 0, limit: 3, checks: [check('queue_depth', 'threshold')] },
        'metric-queue_depth',
      ],
      ['rolled-back', { kind: 'failure-limit', failing: 0, unmeasured: 2, limit: 2, checks: [] }, 'unmeasured'],
      ['rolled-back', { kind: 'pause-timeout', pause: 'inconclusive', by: 'opsflow', timeoutMs: 1 }, 'no-data'],
      ['rolled-back', { kind: 'pause-timeout', pause: 'manual', by: 'carol', timeoutMs: 1 }, 'paused'],
      ['rolled-back', { kind: 'abort', by: 'ops-agent', reason: 'critical alert' }, 'aborted'],
      ['rejected', { kind: 'rejected', by: 'bob' }, 'rejected'],
      ['approval-timed-out', { kind: 'approval-timeout', timeoutMs: 1 }, 'approval-timeout'],
      ['failed', { kind: 'error', errorType: 'UnknownRelease', message: 'hello has no release 9.9.9' }, 'error'],
      // A result recorded before causes were facts: counted, under a name that says it is unknown.
      ['failed', undefined, 'other'],
    ];
    for (const [outcome, cause, key] of cases) assert.equal(causeKey(outcome, cause), key, JSON.stringify(cause));
    // The reason is for people: the same words with another cause give the cause's key.
    assert.equal(
      deployRecord(
        result('rolled-back', 'critical: error rate 20 % > critical 5 %', 1, '1.1.0', { kind: 'abort', by: 'x' }),
        undefined,
        null,
        'x',
      ).cause,
      'aborted',
    );
  });

  it('computes success rate, change failure rate, speed and restore figures from what was measured', () => {
    let f = emptyFigures();
    const promoted = deployRecord(
      result('promoted', 'ok', 10 * 60_000),
      {
        deployId: 'a',
        runId: 'r',
        service: 'hello',
        version: '1.1.0',
        requestedBy: 'c',
        requestedAt: '2026-11-23T10:00:00.000Z',
      },
      facts({ approvalWaitMs: 7 * 60_000 }),
      '2026-11-23T10:10:00.000Z',
    );
    assert.equal(promoted.pipelineMs, 3 * 60_000, 'the wait for a person is not pipeline time');
    assert.equal(promoted.leadTimeMs, 10 * 60_000);
    f = foldDeploy(f, promoted, facts(), config.targets);
    const rolled = deployRecord(
      result('rolled-back', 'critical: error rate 20.0 % > critical 5.00 %', 6 * 60_000, '1.2.0', CRITICAL_ERRORS),
      undefined,
      facts({ restoreMs: 40_000, inconclusiveSamples: 2 }),
      '2026-11-23T11:00:00.000Z',
    );
    f = foldDeploy(f, rolled, facts({ restoreMs: 40_000, inconclusiveSamples: 2 }), config.targets);
    const cancelled = deployRecord(result('rejected', 'production rejected by bob: x', 60_000), undefined, null, 'x');
    f = foldDeploy(f, cancelled, null, config.targets);
    const d = deriveFigures(f);
    assert.equal(d.deploys, 3);
    assert.equal(d.successRate, 0.5, 'a rejected deploy changed nothing and does not count');
    assert.equal(d.changeFailureRate, 0.5);
    assert.equal(d.withinTarget, 1);
    assert.equal(d.meanPipelineMs, (3 * 60_000 + 6 * 60_000) / 2);
    assert.equal(d.maxPipelineMs, 6 * 60_000);
    assert.equal(d.meanLeadTimeMs, 10 * 60_000);
    assert.equal(d.meanRestoreMs, 40_000);
    assert.equal(d.restoresWithinTarget, 1);
    assert.equal(d.inconclusiveSamples, 2);
    assert.deepEqual(d.causes, { 'hello/error-rate': 1 });
  });

  it('answers the daily questions from the figures and opens and closes improvement items', () => {
    const state = initialState(T0, config, nextReviewTime(T0, config.reviewAt));
    state.day = foldDeploy(
      emptyFigures(),
      deployRecord(result('rolled-back', 'critical: error rate 9 % > critical 5 %', 400_000), undefined, null, 'x'),
      facts({ inconclusiveSamples: 1 }),
      config.targets,
    );
    const { review, improvements } = buildSelfReview({
      project: 'p',
      state,
      fromMs: T0,
      nowMs: T0 + 86_400_000,
      config,
    });
    assert.equal(review.date, '2026-11-24');
    const byQuestion = Object.fromEntries(review.answers.map((a) => [a.question, a]));
    assert.equal(byQuestion['Are deployments meeting speed targets?']?.status, 'below-target');
    assert.equal(byQuestion['Is the deployment success rate on target?']?.status, 'failing');
    assert.equal(byQuestion['Are costs optimized without sacrificing performance?']?.status, 'not-measured');
    assert.equal(byQuestion['How can monitoring be improved?']?.status, 'attention');
    assert.deepEqual(improvements.map((i) => i.key).sort(), ['monitoring', 'speed']);
    // A clean day with a fast promoted deploy closes both.
    const clean = foldDeploy(
      emptyFigures(),
      deployRecord(result('promoted', 'ok', 60_000), undefined, null, 'x'),
      facts(),
      config.targets,
    );
    const revised = reviseImprovements(improvements, deriveFigures(clean), config.targets, 'now');
    assert.deepEqual(revised.closed.sort(), ['monitoring', 'speed']);
    assert.equal(revised.items.length, 0);
    // A quiet day proves nothing: items stay open.
    assert.equal(
      reviseImprovements(improvements, deriveFigures(emptyFigures()), config.targets, 'now').items.length,
      2,
    );
  });

  it('keeps bounded lists bounded', () => {
    let list: number[] = [];
    for (let i = 0; i < 1000; i++) list = pushBounded(list, i, 50);
    assert.equal(list.length, 50);
    assert.equal(list[0], 950);
  });

  it('validates events', () => {
    assert.ok(
      agentEventArgsSchema.safeParse({ type: 'alert', severity: 'critical', message: 'down', service: 'hello' })
        .success,
    );
    assert.equal(agentEventArgsSchema.safeParse({ type: 'alert', severity: 'fatal', message: 'x' }).success, false);
    assert.equal(agentEventArgsSchema.safeParse({ type: 'alert', severity: 'info', message: '' }).success, false);
  });
});

describe('agent state size', () => {
  it('stays bounded over a year of 20 deploys and 5 events a day with daily reviews, figures exact', () => {
    let now = T0;
    const state = initialState(now, config, nextReviewTime(now, config.reviewAt));
    const sizes: number[] = [];
    for (let day = 0; day < 365; day++) {
      for (let i = 0; i < 20; i++) {
        now += 60_000;
        const failed = i % 10 === 0;
        const r = result(
          failed ? 'rolled-back' : 'promoted',
          failed ? 'critical: error rate 9 % > critical 5 %' : 'ok',
          240_000,
          `1.${day}.${i}`,
        );
        const f = facts({
          restoreMs: failed ? 30_000 : null,
          files: failed ? [`docs/incidents/d-${day}-${i}.md`] : [],
        });
        applyDeploy(state, deployRecord(r, undefined, f, new Date(now).toISOString()), f, config);
      }
      for (let i = 0; i < 5; i++) {
        state.eventCount += 1;
        const ev = {
          type: 'alert' as const,
          severity: 'warning' as const,
          message: `event ${i}`,
          id: state.eventCount,
          at: 'x',
          actions: [],
        };
        applyEvent(state, ev, 0, config.keep);
      }
      const at = state.nextReviewMs;
      const built = buildSelfReview({ project: 'p', state, fromMs: state.dayStartedMs, nowMs: at, config });
      applyReview(
        state,
        built.review,
        built.improvements,
        [`docs/operations/self-review/${built.review.date}.md`],
        at,
        config,
      );
      now = at;
      if (day === 30 || day === 364) sizes.push(JSON.stringify(state).length);
    }
    assert.equal(state.reviews.count, 365);
    const total = deriveFigures(state.totals);
    assert.equal(total.deploys, 7300);
    assert.equal(total.rolledBack, 730);
    assert.equal(total.changeFailureRate, 0.1);
    assert.equal(total.events, 1825);
    assert.equal(state.recentDeploys.length, config.keep);
    assert.ok((sizes[1] ?? Infinity) < 64_000, `state is ${sizes[1]} bytes after a year`);
    assert.ok((sizes[1] ?? 0) < (sizes[0] ?? 0) * 1.2, `state grew from ${sizes[0]} to ${sizes[1]} bytes`);
  });
});

describe('feedback loop measurements', () => {
  const status = {
    outcome: 'rolled-back',
    endedAt: '2026-11-23T10:20:00.000Z',
    samples: [sample('10:11:00', 'healthy', 100, 0), sample('10:12:00', 'critical', 100, 20)],
    // Timeline text is for people: nothing here may be read from it.
    timeline: [],
    results: [
      {
        environment: 'staging',
        outcome: 'promoted',
        fromVersion: '1.1.0',
        toVersion: '1.2.0',
        samples: { healthy: 3, inconclusive: 1, warning: 0, failing: 0, critical: 0, unmeasured: 0 },
        maxWeight: 100,
      },
      {
        environment: 'production',
        outcome: 'rolled-back',
        fromVersion: '1.1.0',
        toVersion: '1.1.0',
        approval: {
          requestedAt: '2026-11-23T10:00:00.000Z',
          decidedAt: '2026-11-23T10:10:00.000Z',
          decision: 'approved',
          by: 'alice',
        },
        failingSince: '2026-11-23T10:11:30.000Z',
        restoredAt: '2026-11-23T10:12:05.000Z',
        cause: CRITICAL_ERRORS,
        samples: { healthy: 1, inconclusive: 0, warning: 0, failing: 0, critical: 1, unmeasured: 2 },
        maxWeight: 10,
      },
    ],
  } as unknown as DeployStatus;

  function sample(time: string, verdict: string, requests: number, errors: number) {
    return {
      at: `2026-11-23T${time}.000Z`,
      environment: 'production',
      step: 0,
      weight: 10,
      windowMs: 30_000,
      canary: { version: '1.2.0', requests, errors, p95Ms: 50, p99Ms: 60 },
      stable: null,
      errorRate: errors / requests,
      checks: [],
      verdict,
      reason: verdict,
    };
  }

  it('measures the wait for approval, and the time to restore from the first harm to traffic at 0 %', () => {
    assert.equal(approvalWaitMs(status), 10 * 60_000);
    const impact = measureImpact(status);
    assert.equal(impact.environment, 'production');
    assert.equal(impact.startedAt, '2026-11-23T10:11:30.000Z');
    assert.equal(impact.restoreMs, 35_000);
    assert.equal(impact.requests, 200);
    assert.equal(impact.errors, 20);
    assert.equal(impact.maxWeight, 10);
    assert.deepEqual(noisySamples(status), { inconclusive: 1, unmeasured: 2 });
  });
});
