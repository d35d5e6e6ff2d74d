import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { createWorkerLlm } from '../../src/activities/llm/index';
import { llmConfigSchema } from '../../src/config/llm';
import type { DeployStatus } from '../../src/shared/deploy';
import type { deploy } from '../../src/workflows/deploy';
import { statusQuery } from '../../src/shared/deploy/messages';
import { testConfig, testInput } from '../helpers/config';
import { FakeLlmServer, openaiAutoResponder, openaiError } from '../helpers/fake-llm-server';
import { fakeDeps, FakeMetrics, FakeTarget, type VersionProfile } from '../helpers/fakes';
import { DeployTestEnv } from '../helpers/workflow-env';

const KEY = 'sk-live-LEAKCHECK-4f9c2a7e1b';
const logs: string[] = [];
const bigints = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);
// Every log line of workflows, activities and the SDK, at the most verbose level, kept for the key scan.
Runtime.install({
  logger: new DefaultLogger('TRACE', (entry: LogEntry) =>
    logs.push(JSON.stringify([entry.message, entry.meta], bigints)),
  ),
});

const t = new DeployTestEnv();
let fake: FakeLlmServer;

before(async () => {
  fake = await FakeLlmServer.start();
  await t.setup();
});
after(async () => {
  await t.teardown();
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  fake.otherwise.openai = openaiAutoResponder;
});

/** Every string in a history, with payloads decoded from their bytes: what the UI could show. */
function historyText(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const v of value) historyText(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) historyText(v, out);
  return out;
}

async function deployWithModel(
  maxAttempts: number,
  options: { offline?: boolean; version?: string; profiles?: Record<string, VersionProfile> } = {},
) {
  const n = t.next();
  const env = { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.openaiBaseUrl };
  const provider = options.offline ? 'offline' : 'openai';
  const llm = createWorkerLlm(llmConfigSchema.parse({ provider, model: 'gpt-4o-mini', maxAttempts }), env);
  const target = new FakeTarget(['1.0.0', '1.1.0', '1.2.0'], { staging: '1.0.0', production: '1.0.0' });
  const input = testInput(testConfig(), t.workdir, { feature: `llm-${n}`, version: options.version ?? '1.1.0' });
  input.deployId = `${input.deployId}-llm-${n}`;
  const activities = createActivities({ ...fakeDeps(target, new FakeMetrics(options.profiles ?? {})), llm });
  return t.serve(input.deployId, activities, async (taskQueue) => {
    const handle = await t.env.client.workflow.start<typeof deploy>('deploy', {
      taskQueue,
      workflowId: input.deployId,
      args: [input],
    });
    await t.approve()(handle);
    const result = await handle.result();
    const status: DeployStatus = await handle.query(statusQuery);
    const history = await handle.fetchHistory();
    const dir = path.join(t.workdir, result.report?.dir ?? 'missing');
    return {
      result,
      status,
      history,
      summary: readFileSync(path.join(dir, 'summary.md'), 'utf8'),
      report: JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')),
    };
  });
}

describe('deploy with an OpenAI-compatible model (time-skipping server, fake LLM on loopback)', () => {
  it('retries a 429 through Temporal after Retry-After, plans with the model, narrates, and never leaks the key', async () => {
    fake.script('openai', openaiError(429, 'Rate limit reached for requests', { headers: { 'retry-after': '1' } }));
    logs.length = 0;
    const { result, status, history, summary, report } = await deployWithModel(3);
    assert.equal(result.outcome, 'promoted');

    // The 429 became a Temporal retry of the plan activity: attempt 2 carried the model's plan.
    const events = history.events ?? [];
    const planScheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'plan');
    const planStarted = events.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(planScheduled?.eventId),
    );
    assert.equal(planStarted?.activityTaskStartedEventAttributes?.attempt, 2, 'plan ran a second attempt');
    assert.equal(fake.received('openai').length, 3, 'the 429, the plan, the narrative');
    assert.equal(status.plan?.source, 'openai');
    assert.equal(status.plan?.fallback, undefined);
    assert.equal(
      status.plan?.environments?.[1]?.analysis.errorRate.critical,
      0.04,
      "the model's tightening is in effect",
    );
    assert.deepEqual(status.plan?.usage, { calls: 1, inputTokens: 900, outputTokens: 300, estimatedCostUsd: 0.000315 });

    // The prompt and answer stay out of history: only their hash and audit file are there.
    const text = historyText(history).join('\n');
    assert.ok(!text.includes('plan the rollout'), 'the system prompt is not in history');
    const auditFile = status.plan?.audit?.find((a) => a.purpose === 'plan')?.file ?? 'missing';
    assert.ok(text.includes(auditFile));
    const audit = JSON.parse(readFileSync(path.join(t.workdir, auditFile), 'utf8'));
    assert.match(JSON.stringify(audit.request), /plan the rollout/);
    assert.ok(
      readdirSync(path.dirname(path.join(t.workdir, auditFile))).length >= 3,
      'the 429, the plan and the narrative',
    );

    // summary.md and report.json carry the narrative and the totals of plan + narrative.
    assert.match(summary, /## Narrative\n\nhello 1\.1\.0 ended promoted after \d+ health samples/);
    assert.match(summary, /_LLM: openai \(fake-gpt\), 2 calls, 1600 input \/ 380 output tokens, estimated \$0\.0005_/);
    assert.equal(report.llm.usage.calls, 2);
    assert.equal(report.llm.narrative.source, 'openai');
    assert.equal(report.llm.plan.fallback, null);

    // The key went to the provider, and nowhere else: not history, not logs, not the report, not audit files.
    assert.ok(fake.requests.every((r) => r.headers.authorization === `Bearer ${KEY}`));
    assert.ok(!text.includes(KEY) && !text.includes('LEAKCHECK'), 'history holds no key');
    assert.ok(logs.length > 10, 'logs were captured');
    assert.ok(!logs.some((l) => l.includes('LEAKCHECK')), 'logs hold no key');
    assert.ok(!summary.includes('LEAKCHECK') && !JSON.stringify(report).includes('LEAKCHECK'));
    for (const file of readdirSync(path.dirname(path.join(t.workdir, auditFile)))) {
      assert.ok(
        !readFileSync(path.join(path.dirname(path.join(t.workdir, auditFile)), file), 'utf8').includes('LEAKCHECK'),
      );
    }
  });

  it('falls back to the offline plan and narrative when the provider keeps failing, and the deploy goes on', async () => {
    fake.otherwise.openai = openaiError(503, 'upstream overloaded');
    const { result, status, summary, report } = await deployWithModel(2);
    assert.equal(result.outcome, 'promoted');
    assert.equal(status.plan?.source, 'offline');
    assert.match(status.plan?.fallback?.reason ?? '', /failed \(503\) — upstream overloaded/);
    assert.match(summary, /_Fallback: the plan is the offline planner's: .*\(503\)/);
    assert.match(summary, /_Fallback: the model's narrative was not used: .*\(503\)/);
    assert.match(report.llm.plan.fallback, /503/);
    assert.equal(report.llm.narrative.source, 'offline');
    // Two attempts each (maxAttempts 2): plan and narrative.
    assert.equal(fake.received('openai').length, 4);
  });

  it('offline: no narrative section on a promotion, and a post-mortem that leads with impact on a rollback', async () => {
    const promoted = await deployWithModel(1, { offline: true });
    assert.equal(promoted.result.outcome, 'promoted');
    assert.doesNotMatch(promoted.summary, /## Narrative|_LLM:/);
    const rolledBack = await deployWithModel(1, {
      offline: true,
      version: '1.2.0',
      profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.2, p95Ms: 300 } },
    });
    assert.equal(rolledBack.result.outcome, 'rolled-back');
    assert.match(
      rolledBack.summary,
      /## Post-mortem \(blameless\)\n\nImpact: 1\.2\.0 took at most 10 % of production traffic for \d+ s; 20 of its 100 sampled requests failed \(20 %\)/,
    );
    assert.equal(rolledBack.report.llm.narrative.kind, 'postmortem');
    assert.equal(fake.requests.length, 0, 'offline never calls out');
  });
});
