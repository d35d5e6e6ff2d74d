// Every cause the canary judgement can give has its own next check in a post-mortem, never the generic one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CAUSE_CHECKS } from '../../src/activities/agent/post-mortem';
import { causeKey, type StopCause } from '../../src/shared/deploy';

const causes: StopCause[] = [
  { kind: 'step-judgement', rule: 'score', step: 0, weight: 10, score: 40, requests: 800, checks: [] },
  { kind: 'step-judgement', rule: 'max-bake', step: 0, weight: 10, score: null, requests: 3, checks: [] },
  { kind: 'pause-timeout', pause: 'marginal', by: 'opsflow', timeoutMs: 60_000 },
  { kind: 'pause-timeout', pause: 'inconclusive', by: 'opsflow', timeoutMs: 60_000 },
  { kind: 'failure-limit', failing: 5, unmeasured: 0, limit: 5, checks: [], rule: 'budget' },
];

describe('post-mortem next checks', () => {
  for (const cause of causes) {
    it(`${cause.kind} ${'rule' in cause ? cause.rule : 'pause' in cause ? cause.pause : ''} has its own`, () => {
      const key = causeKey('rolled-back', cause) ?? 'none';
      assert.notEqual(key, 'other');
      assert.ok(Object.hasOwn(CAUSE_CHECKS, key), `no next check for ${key}`);
    });
  }
});
