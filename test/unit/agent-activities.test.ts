import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../src/activities/agent';
import { buildSelfReview, emptyFigures, foldDeploy, deployRecord, initialState } from '../../src/shared/agent';
import { agentConfigSchema, nextReviewTime } from '../../src/shared/agent-config';

const workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-agent-acts-'));
after(() => rmSync(workdir, { recursive: true, force: true }));

const config = agentConfigSchema.parse({});
const T0 = Date.UTC(2026, 10, 23, 9, 0);

function review() {
  const state = initialState(T0, config, nextReviewTime(T0, '09:00'));
  const record = deployRecord(
    {
      deployId: 'd',
      service: 'hello',
      version: '1.1.0',
      outcome: 'promoted',
      reason: 'ok',
      phase: 'PROMOTED',
      durationMs: 60_000,
      report: null,
    },
    undefined,
    null,
    new Date(T0 + 3_600_000).toISOString(),
  );
  state.day = foldDeploy(emptyFigures(), record, null, config.targets);
  return buildSelfReview({ project: 'p', state, fromMs: T0, nowMs: T0 + 86_400_000, config }).review;
}

describe('agent activities', () => {
  it('uses the narrative of the configured model and says so; the figures stay computed', async () => {
    const acts = createAgentActivities({
      deployStatus: async () => null,
      deployOutcome: async () => null,
      narrate: async () => 'A calm day with one fast deploy.',
    });
    const files: string[] = await new MockActivityEnvironment().run(acts.agentSelfReview, {
      workdir,
      review: review(),
    });
    const md = readFileSync(path.join(workdir, files[0] ?? ''), 'utf8');
    assert.match(md, /> A calm day with one fast deploy\. _\(narrative by the configured LLM; figures computed\)_/);
    assert.match(md, /\| success rate \| 100 % \|/);
  });

  it('falls back to the computed summary when the model fails, and writes each log line once', async () => {
    const acts = createAgentActivities({
      deployStatus: async () => null,
      deployOutcome: async () => null,
      narrate: async () => {
        throw new Error('model said no');
      },
    });
    const env = new MockActivityEnvironment();
    const files: string[] = await env.run(acts.agentSelfReview, { workdir, review: review() });
    await env.run(acts.agentSelfReview, { workdir, review: review() });
    const md = readFileSync(path.join(workdir, files[0] ?? ''), 'utf8');
    assert.match(
      md,
      /> 1 deployments \(1 promoted, 0 rolled back, 0 failed\)\. Success rate 100 %\. _\(computed summary\)_/,
    );
    const lines = readFileSync(path.join(workdir, 'docs/operations/agent-log.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.filter((l) => l.includes('"type":"self-review"')).length, 1, 'a retried review logs once');
  });
});
