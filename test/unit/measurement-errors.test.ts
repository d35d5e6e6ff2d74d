/**
 * Measurement errors kept apart from evidence about the canary (issue 25): by the rules revision `errorsApart` a
 * sample that cannot be measured counts only on its own limit, while deploys recorded under the original rules are
 * re-judged by those.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricsWindow } from '../../src/shared/analysis';
import { analysisConfigSchema, DEFAULT_CANARY_STEPS } from '../../src/shared/analysis-config';
import { countSample, noFailures } from '../../src/shared/analysis/budget';
import { type JudgedEnvironment, type Measurement } from '../../src/shared/analysis/judge';
import { judgeRun } from '../../src/shared/analysis/judge-run';
import { JUDGEMENT_RULES } from '../../src/shared/analysis/rules';
import { causeKey, causeRule } from '../../src/shared/deploy';

const window = (version: string, requests: number, errors: number): MetricsWindow => ({
  version,
  requests,
  errors,
  p95Ms: 40,
  p99Ms: 50,
});

type Shape = 'healthy' | 'failing' | 'unmeasured';

/** One sample of the first step at 10 %: 150 canary requests beside 1,350 stable ones, or no answer at all. */
function sample(shape: Shape, i: number): Measurement {
  const base = { environment: 'production', step: 0, weight: 10, elapsedMs: (i + 1) * 30_000 };
  if (shape === 'unmeasured') return { ...base, canary: null, stable: null, error: 'prometheus: connect ECONNREFUSED' };
  // 4.5 % errors: worse than stable's 0.5 % at 99.9 % in 150 requests, under the critical 5 %.
  const errors = shape === 'failing' ? 7 : 1;
  return { ...base, canary: window('1.1.0', 150, errors), stable: window('1.0.0', 1350, 7) };
}

function environment(analysis: Record<string, unknown> = {}, rules?: number): JudgedEnvironment {
  return {
    name: 'production',
    strategy: 'canary',
    steps: DEFAULT_CANARY_STEPS,
    verifyMs: 30_000,
    blueGreen: { verifyMs: 300_000, keepBlueMs: 600_000 },
    analysis: analysisConfigSchema.parse({ interval: '30s', ...analysis }),
    ...(rules === undefined ? {} : { rules }),
  };
}

const judge = (shapes: Shape[], analysis: Record<string, unknown> = {}, rules: number = JUDGEMENT_RULES.errorsApart) =>
  judgeRun([environment(analysis, rules)], shapes.map(sample));

describe('measurement errors kept apart (rules errorsApart)', () => {
  it('never count as failures: unmeasured samples between failing ones neither add to the row nor end it', () => {
    const judged = judge(['failing', 'unmeasured', 'failing', 'unmeasured', 'failing']);
    assert.deepEqual(
      judged.samples.map((s) => [s.outcome, s.action]),
      [
        ['failing', 'continue'],
        ['unmeasured', 'continue'],
        ['failing', 'continue'],
        ['unmeasured', 'continue'],
        ['failing', 'rollback'],
      ],
    );
    const cause = judged.environments[0]?.cause;
    assert.equal(causeRule(cause), 'consecutive');
    assert.deepEqual(cause?.kind === 'failure-limit' && [cause.failing, cause.unmeasured], [3, 0]);
  });

  it('the original rules count them as failures: the same samples roll back at the second', () => {
    const judged = judge(['failing', 'unmeasured', 'failing'], {}, JUDGEMENT_RULES.original);
    assert.equal(judged.samples[1]?.action, 'continue');
    assert.equal(judged.samples[2]?.action, 'rollback');
    // A rollout recorded before the rules were marked is judged by the original ones.
    const unmarked = judgeRun(
      [environment()],
      ['failing', 'unmeasured', 'failing'].map((s, i) => sample(s as Shape, i)),
    );
    assert.deepEqual(unmarked.samples, judged.samples);
  });

  it('pause for a person after consecutiveErrorLimit in a row (default 4); any measured sample ends the row', () => {
    const broken = judge([
      'unmeasured',
      'unmeasured',
      'unmeasured',
      'healthy',
      'unmeasured',
      'unmeasured',
      'unmeasured',
    ]);
    assert.ok(
      broken.samples.every((s) => s.action === 'continue'),
      'three in a row, twice: no pause',
    );
    const judged = judge(['healthy', 'unmeasured', 'unmeasured', 'unmeasured', 'unmeasured']);
    const last = judged.samples.at(-1);
    assert.equal(last?.action, 'pause');
    assert.equal(last?.rule, 'measurement-errors');
    assert.match(
      last?.reason ?? '',
      /^4 samples in a row could not be measured \(consecutiveErrorLimit 4\): prometheus: connect ECONNREFUSED$/,
    );
  });

  it('after a person resumes, the row starts again', () => {
    const judged = judge(['unmeasured', 'unmeasured', 'unmeasured', 'unmeasured', 'unmeasured', 'unmeasured'], {
      consecutiveErrorLimit: 2,
    });
    assert.deepEqual(
      judged.samples.map((s) => s.action),
      ['continue', 'pause', 'continue', 'pause', 'continue', 'pause'],
    );
  });

  it('roll back with onMeasurementErrors: rollback; the cause says so as facts', () => {
    const judged = judge(['healthy', 'unmeasured', 'unmeasured'], {
      consecutiveErrorLimit: 2,
      onMeasurementErrors: 'rollback',
    });
    const stop = judged.environments[0];
    assert.equal(stop?.outcome, 'rolled-back');
    assert.deepEqual(stop?.cause, {
      kind: 'failure-limit',
      rule: 'measurement-errors',
      failing: 0,
      unmeasured: 2,
      limit: 2,
      checks: [],
    });
    assert.equal(causeKey('rolled-back', stop?.cause), 'unmeasured');
    assert.equal(judged.steps[0]?.rule, 'measurement-errors');
  });

  it('count the run and the row in the status counts', () => {
    const config = environment({}, JUDGEMENT_RULES.errorsApart).analysis;
    let counts = noFailures();
    for (const outcome of ['unmeasured', 'failing', 'unmeasured', 'unmeasured'] as const) {
      counts = countSample(outcome, false, counts, config, JUDGEMENT_RULES.errorsApart).counts;
    }
    assert.deepEqual(
      [counts.failures, counts.unmeasured, counts.consecutiveFailures, counts.errors, counts.consecutiveErrors],
      [1, 0, 1, 3, 2],
    );
  });
});

describe('the settings', () => {
  it('are validated, and left unset rather than defaulted so a recorded rollout keeps its shape', () => {
    assert.equal(analysisConfigSchema.safeParse({ consecutiveErrorLimit: 0 }).success, false);
    assert.equal(analysisConfigSchema.safeParse({ onMeasurementErrors: 'ignore' }).success, false);
    const parsed = analysisConfigSchema.parse({});
    assert.ok(!('consecutiveErrorLimit' in parsed) && !('onMeasurementErrors' in parsed));
  });
});
