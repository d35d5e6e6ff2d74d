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
import { testConfig } from '../helpers/config';
import { placeholderProblems, sectionsWithoutSource } from '../helpers/operations-doc';

const workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-agent-acts-'));
after(() => rmSync(workdir, { recursive: true, force: true }));

const config = agentConfigSchema.parse({});
const T0 = Date.UTC(2026, 10, 23, 9, 0);

function review(nowMs = T0 + 86_400_000) {
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
  state.totals = state.day;
  return buildSelfReview({ project: 'p', state, fromMs: T0, nowMs, config }).review;
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

describe('the self-review refreshes OPERATIONS.md and lists it in files-changed.json', () => {
  const operations = { config: { ...testConfig(), project: 'p' }, path: path.join(workdir, 'ops', 'opsflow.yaml') };
  const readJson = (dir: string, file: string) => JSON.parse(readFileSync(path.join(dir, file), 'utf8'));

  it('writes it from the review and the worker config; a retry reports the same files; the next day modifies it', async () => {
    const dir = path.join(workdir, 'ops');
    const acts = createAgentActivities({ deployStatus: async () => null, deployOutcome: async () => null, operations });
    const env = new MockActivityEnvironment();
    const files: string[] = await env.run(acts.agentSelfReview, { workdir: dir, review: review() });
    assert.deepEqual(files, [
      'docs/operations/self-review/2026-11-24.md',
      'docs/operations/agent-log.jsonl',
      'docs/OPERATIONS.md',
      'docs/operations/files-changed.json',
    ]);
    const first = { created: files, modified: [], deleted: [] };
    assert.deepEqual(readJson(dir, 'docs/operations/files-changed.json'), first);
    const md = readFileSync(path.join(dir, 'docs/OPERATIONS.md'), 'utf8');
    assert.deepEqual(placeholderProblems(md), []);
    assert.deepEqual(sectionsWithoutSource(md), []);
    assert.match(md, /^Generated by the ops agent's daily self-review of 2026-11-24 at 2026-11-24T09:00:00\.000Z/m);
    assert.match(md, /_Source: `opsflow\.yaml`: environments\.production, services\.\\\*\.target, policy; 2 of 2/);
    assert.match(md, /\| steps \| 10 % for 2m → 50 % for 2m → 100 % for 2m \|/);
    assert.match(
      md,
      /\| deployments \(promoted \/ rolled back \/ failed \/ cancelled\) \| 1 \(1 \/ 0 \/ 0 \/ 0\) \| – \|/,
    );
    assert.match(md, /- Last self-review: \[2026-11-24\]\(operations\/self-review\/2026-11-24\.md\)/);

    // A retry of the same review (after its first attempt wrote everything) reports what the first attempt found.
    await env.run(acts.agentSelfReview, { workdir: dir, review: review() });
    assert.deepEqual(readJson(dir, 'docs/operations/files-changed.json'), first);

    const next: string[] = await env.run(acts.agentSelfReview, { workdir: dir, review: review(T0 + 2 * 86_400_000) });
    assert.deepEqual(readJson(dir, 'docs/operations/files-changed.json'), {
      created: ['docs/operations/self-review/2026-11-25.md'],
      modified: next.slice(1),
      deleted: [],
    });
    assert.match(readFileSync(path.join(dir, 'docs/OPERATIONS.md'), 'utf8'), /self-review of 2026-11-25/);
  });

  it("says so when the worker's config is another project's, or there is none", async () => {
    for (const [deps, line] of [
      [
        { operations: { ...operations, config: { ...operations.config, project: 'other' } } },
        /describes project other, not p/,
      ],
      [{}, /the worker that wrote this was given no opsflow\.yaml/],
    ] as const) {
      const dir = mkdtempSync(path.join(workdir, 'ops-'));
      const acts = createAgentActivities({ deployStatus: async () => null, deployOutcome: async () => null, ...deps });
      await new MockActivityEnvironment().run(acts.agentSelfReview, { workdir: dir, review: review() });
      const md = readFileSync(path.join(dir, 'docs/OPERATIONS.md'), 'utf8');
      assert.match(md, line);
      assert.deepEqual(sectionsWithoutSource(md), []);
      assert.match(md, /\| change failure rate \| 0 % \| – \|/, "the agent's figures are there regardless");
    }
  });
});
