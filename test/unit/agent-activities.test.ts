import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../src/activities/agent';
import {
  buildSelfReview,
  deployRecord,
  emptyFigures,
  foldDeploy,
  initialState,
  type DeployFacts,
} from '../../src/shared/agent';
import { agentConfigSchema } from '../../src/config/agent';
import { nextReviewTime } from '../../src/shared/agent/config';
import type { DeployResult, DeployStatus } from '../../src/shared/deploy';

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

  it('writes one post-mortem per failed deploy, a runbook note when the cause repeats, and nothing twice on retry', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-agent-pm-'));
    const status = {
      outcome: 'rolled-back',
      endedAt: '2026-11-23T10:13:00.000Z',
      samples: [
        {
          at: '2026-11-23T10:12:00.000Z',
          environment: 'production',
          step: 0,
          weight: 10,
          windowMs: 30_000,
          canary: { version: '1.2.0', requests: 100, errors: 20, p95Ms: 50, p99Ms: 60 },
          stable: null,
          errorRate: 0.2,
          checks: [],
          verdict: 'critical',
          reason: 'error rate 20.0 % > critical 5.00 %',
        },
      ],
      timeline: [],
      results: [
        {
          environment: 'production',
          outcome: 'rolled-back',
          fromVersion: '1.1.0',
          toVersion: '1.1.0',
          failingSince: '2026-11-23T10:11:30.000Z',
          restoredAt: '2026-11-23T10:12:02.000Z',
          samples: { healthy: 0, inconclusive: 0, warning: 0, failing: 0, critical: 1, unmeasured: 0 },
          maxWeight: 10,
        },
      ],
    } as unknown as DeployStatus;
    const result: DeployResult = {
      deployId: 'deploy-hello-1.2.0-production',
      service: 'hello',
      version: '1.2.0',
      outcome: 'rolled-back',
      reason: 'critical: error rate 20.0 % > critical 5.00 %',
      phase: 'ROLLED_BACK',
      durationMs: 90_000,
      report: null,
    };
    const acts = createAgentActivities({ deployStatus: async () => status, deployOutcome: async () => null });
    const env = new MockActivityEnvironment();
    const request = (requestedAt: string, causeCount: number) => ({
      project: 'p',
      workdir: dir,
      result,
      requestedAt,
      requestedBy: 'carol',
      finishedAt: '2026-11-23T10:13:00.000Z',
      cause: 'error-rate',
      causeCount,
    });
    const first: DeployFacts = await env.run(acts.agentFeedback, request('2026-11-23T10:00:00.000Z', 1));
    assert.equal(first.restoreMs, 32_000);
    assert.deepEqual(first.files, ['docs/incidents/2026-11-23-hello-1.2.0.md', 'docs/operations/agent-log.jsonl']);
    const second: DeployFacts = await env.run(acts.agentFeedback, request('2026-11-23T11:00:00.000Z', 2));
    const retried: DeployFacts = await env.run(acts.agentFeedback, request('2026-11-23T11:00:00.000Z', 2));
    assert.deepEqual(second.files, retried.files);
    assert.deepEqual(second.files, [
      'docs/operations/runbook.md',
      'docs/incidents/2026-11-23-hello-1.2.0-2.md',
      'docs/operations/agent-log.jsonl',
    ]);
    assert.deepEqual(readdirSync(path.join(dir, 'docs/incidents')).sort(), [
      '2026-11-23-hello-1.2.0-2.md',
      '2026-11-23-hello-1.2.0.md',
    ]);
    const runbook = readFileSync(path.join(dir, 'docs/operations/runbook.md'), 'utf8');
    assert.equal((runbook.match(/^## /gm) ?? []).length, 1, 'one note, written once');
    assert.match(runbook, /hello failed again for error-rate \(2 times\)/);
    assert.match(runbook, /\(\.\.\/incidents\/2026-11-23-hello-1\.2\.0-2\.md\)/);
    const pm = readFileSync(path.join(dir, 'docs/incidents/2026-11-23-hello-1.2.0-2.md'), 'utf8');
    assert.match(pm, /Cause: \*\*error-rate\*\* \(2 times for hello\)\. The cause repeats: see \[the runbook\]/);
    const log = readFileSync(path.join(dir, 'docs/operations/agent-log.jsonl'), 'utf8').trim().split('\n');
    assert.equal(log.length, 2, 'one line per deploy, none for the retry');
    rmSync(dir, { recursive: true, force: true });
  });
});
