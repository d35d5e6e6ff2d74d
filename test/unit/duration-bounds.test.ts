/**
 * Every duration has a minimum and a maximum, refused in one line naming the bound: `interval: 0s` would be 1 ms
 * timers, a bake of a year is a typo.
 * Run: node --import tsx --test test/unit/duration-bounds.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ZodError } from 'zod';
import { analysisConfigSchema, canaryStepsSchema } from '../../src/shared/analysis-config';
import { describeIssue } from '../../src/shared/validation';
import { environmentConfigSchema } from '../../src/config/schema';
import { llmConfigSchema } from '../../src/config/llm';

const refusal = (result: { success: boolean; error?: ZodError }) => {
  assert.equal(result.success, false);
  return describeIssue(result.error!);
};

describe('duration bounds', () => {
  it('refuses interval: 0s and 500ms, and an interval over an hour', () => {
    assert.equal(refusal(analysisConfigSchema.safeParse({ interval: '0s' })), 'interval: must be at least 1.0s');
    assert.equal(refusal(analysisConfigSchema.safeParse({ interval: 500 })), 'interval: must be at least 1.0s');
    assert.equal(refusal(analysisConfigSchema.safeParse({ interval: '2h' })), 'interval: must be at most 1h');
    assert.equal(analysisConfigSchema.parse({ interval: '1s' }).interval, 1_000);
  });

  it('refuses a bake over 7 days and a latency threshold over 10 minutes', () => {
    assert.match(
      refusal(canaryStepsSchema.safeParse([{ weight: 100, bake: '8d' }])),
      /^0\.bake: must be at most 168h$/,
    );
    assert.match(
      refusal(analysisConfigSchema.safeParse({ latencyP95: { warn: '1s', critical: '1h' } })),
      /latencyP95\.critical: must be at most 10m/,
    );
  });

  it('bounds the environment timeouts: approval and pause between 1 minute and 30 days', () => {
    assert.match(
      refusal(environmentConfigSchema.safeParse({ approval: { timeout: '0s' } })),
      /approval\.timeout: must be at least 1m/,
    );
    assert.match(
      refusal(environmentConfigSchema.safeParse({ pauseTimeout: '31d' })),
      /pauseTimeout: must be at most 720h/,
    );
    assert.match(
      refusal(environmentConfigSchema.safeParse({ verify: { duration: '8d' } })),
      /verify\.duration: must be at most/,
    );
    assert.match(refusal(llmConfigSchema.safeParse({ timeout: 0 })), /timeout: must be at least 1\.0s/);
    assert.equal(environmentConfigSchema.safeParse({ approval: { timeout: '1h' }, pauseTimeout: '5m' }).success, true);
  });
});
