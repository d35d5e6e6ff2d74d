import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AnthropicProvider } from '../../src/activities/llm/anthropic';
import { LlmClient } from '../../src/activities/llm/client';
import { unsupportedFigures } from '../../src/activities/llm/figures';
import { createNarrator } from '../../src/activities/llm/index';
import { narrate } from '../../src/activities/llm/narrate';
import { OpenAiProvider } from '../../src/activities/llm/openai';
import { planDeploy } from '../../src/activities/llm/plan';
import type { ModelPlan } from '../../src/activities/llm/prompts/plan';
import { inlineRetry } from '../../src/activities/llm/retry';
import { resolveLlmSettings } from '../../src/activities/llm/settings';
import type { PlanContext } from '../../src/activities/planner/offline';
import { testConfig, testInput } from '../helpers/config';
import { anthropicTool, FakeLlmServer, openaiChat, openaiError } from '../helpers/fake-llm-server';

let fake: FakeLlmServer;
let workdir: string;

before(async () => {
  fake = await FakeLlmServer.start();
  workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-llm-plan-'));
});
after(async () => {
  await fake.close();
  rmSync(workdir, { recursive: true, force: true });
});
beforeEach(() => fake.reset());

const sink = () => ({ workdir, label: 'deploy-hello-1.1.0-production' });
const openai = () =>
  new LlmClient(
    new OpenAiProvider({
      model: 'gpt-4.1-mini',
      apiKey: 'sk-plan-test-key-123456',
      baseUrl: fake.openaiBaseUrl,
      timeoutMs: 5_000,
      responseFormat: 'json_object',
    }),
    inlineRetry(3, async () => undefined),
  );
const model = () => ({ client: openai(), maxOutputTokens: 800 });

const context = (version = '1.1.0', running = '1.0.0'): PlanContext => ({
  input: { ...testInput(testConfig(), workdir), version },
  currentVersions: { staging: running, production: running },
});

/** A model plan that mirrors the configured bounds, then applies `change`. */
type Draft = Omit<ModelPlan, 'risk'> & { risk?: ModelPlan['risk'] };
const prod = (p: Draft) => p.environments[1] as ModelPlan['environments'][number];

function modelPlan(change: (plan: Draft) => void = () => undefined) {
  const env = (name: string, canarySteps: { weight: number; bakeSeconds: number }[], verifySeconds: number) => ({
    name,
    canarySteps,
    verifySeconds,
    thresholds: {
      errorRateWarn: 0.01,
      errorRateCritical: 0.05,
      latencyP95WarnMs: 2000,
      latencyP95CriticalMs: 5000,
      minRequests: 10,
    },
  });
  const plan: Draft = {
    risk: 'medium',
    rationale: 'A minor release with a new endpoint; the canary catches regressions early.',
    environments: [
      env('staging', [], 2),
      env(
        'production',
        [
          { weight: 10, bakeSeconds: 120 },
          { weight: 50, bakeSeconds: 120 },
          { weight: 100, bakeSeconds: 120 },
        ],
        0,
      ),
    ],
    checks: ['watch the new endpoint separately'],
    rollbackPlan: 'Roll back on the first critical sample.',
    questions: ['Is the new endpoint behind a flag?'],
  };
  change(plan);
  return JSON.stringify(plan);
}

describe('planning with a model, never trusted blindly', () => {
  it('takes a valid plan, tightening what it tightens and clamping what it loosens', async () => {
    fake.script(
      'openai',
      openaiChat(
        modelPlan((p) => {
          prod(p).thresholds.errorRateCritical = 0.03;
          prod(p).thresholds.latencyP95CriticalMs = 9000;
        }),
        { prompt_tokens: 2000, completion_tokens: 400 },
      ),
    );
    const plan = await planDeploy(context(), model(), sink());
    assert.equal(plan.source, 'openai');
    assert.equal(plan.model, 'fake-gpt');
    assert.equal(plan.fallback, undefined);
    const production = plan.environments?.[1];
    assert.equal(production?.analysis.errorRate.critical, 0.03, 'tightening is taken');
    assert.equal(production?.analysis.latencyP95.critical, 5000, 'loosening is clamped');
    assert.ok(plan.adjustments?.some((a) => /p95 critical 9\.0s is looser than the configured 5\.0s/.test(a)));
    assert.ok(
      plan.checks.some((c) => /critical > 3 %/.test(c)),
      'checks describe the thresholds that run',
    );
    assert.ok(plan.checks.includes('watch the new endpoint separately'));
    assert.deepEqual(plan.usage, { calls: 1, inputTokens: 2000, outputTokens: 400, estimatedCostUsd: 0.00144 });
    assert.equal(plan.audit?.length, 1);
    assert.ok(existsSync(path.join(workdir, plan.audit?.[0]?.file ?? 'x')));
    // The prompt carried the configured bounds and the request, and asked for JSON.
    const request = fake.received('openai')[0]?.body as { messages: { content: string }[] };
    assert.match(request.messages[0]?.content ?? '', /DevOps Automator/);
    assert.match(request.messages[0]?.content ?? '', /error rate above 1 % is WARNING, above 5 % is CRITICAL/);
    assert.match(request.messages[1]?.content ?? '', /"configuredBounds"/);
  });

  it("keeps the offline planner's higher risk and its longer bakes when the model says low", async () => {
    fake.script('openai', openaiChat(modelPlan((p) => (p.risk = 'low'))));
    const plan = await planDeploy(context('2.0.0'), model(), sink());
    assert.equal(plan.risk, 'high');
    assert.match(plan.rationale, /risk kept at high: 1\.0\.0 → 2\.0\.0 is a major change/);
    assert.deepEqual(
      plan.environments?.[1]?.steps.map((s) => s.bake),
      [240_000, 240_000, 240_000],
    );
  });

  it('repairs a plan for the wrong environments once, then takes it', async () => {
    fake.script('openai', openaiChat(modelPlan((p) => (p.environments = [prod(p)]))), openaiChat(modelPlan()));
    const plan = await planDeploy(context(), model(), sink());
    assert.equal(plan.source, 'openai');
    const repair = fake.received('openai')[1]?.body as { messages: { content: string }[] };
    assert.match(
      repair.messages.at(-1)?.content ?? '',
      /environments must be exactly staging, production \(got production\)/,
    );
    assert.equal(plan.usage?.calls, 2);
  });

  it('falls back to the offline plan after invalid output twice, and says why', async () => {
    fake.script('openai', openaiChat('I think the risk is medium.'), openaiChat(modelPlan((p) => delete p.risk)));
    const plan = await planDeploy(context(), model(), sink());
    assert.equal(plan.source, 'offline');
    assert.match(plan.fallback?.reason ?? '', /invalid twice: risk: /);
    assert.equal(plan.usage?.calls, 2);
    assert.equal(plan.audit?.length, 2);
  });

  it('falls back at once on a 401, naming OPENAI_API_KEY', async () => {
    fake.script('openai', openaiError(401, 'Incorrect API key provided: sk-plan-***-key'));
    const plan = await planDeploy(context(), model(), sink());
    assert.equal(plan.source, 'offline');
    assert.match(plan.fallback?.reason ?? '', /refused the key \(401\): set a valid OPENAI_API_KEY/);
    assert.equal(fake.received('openai').length, 1);
    assert.deepEqual(plan.usage, { calls: 0, inputTokens: 0, outputTokens: 0, estimatedCostUsd: 0 });
  });

  it('plans with Anthropic through a forced tool call', async () => {
    fake.script('anthropic', anthropicTool('deploy_plan', JSON.parse(modelPlan((p) => (p.risk = 'high')))));
    const client = new LlmClient(
      new AnthropicProvider({ model: 'claude-sonnet-4-5', apiKey: 'k-123', baseUrl: fake.url, timeoutMs: 5_000 }),
      inlineRetry(1),
    );
    const plan = await planDeploy(context(), { client, maxOutputTokens: 800 }, sink());
    assert.equal(plan.source, 'anthropic');
    assert.equal(plan.risk, 'high');
    const body = fake.received('anthropic')[0]?.body as { tools: { name: string; input_schema: { type: string } }[] };
    assert.equal(body.tools[0]?.name, 'deploy_plan');
    assert.equal(body.tools[0]?.input_schema.type, 'object');
  });
});

describe('narratives: figures come from the facts', () => {
  const facts = {
    service: 'hello',
    version: '1.2.0',
    outcome: 'rolled-back',
    impact: {
      canaryRequests: 412,
      canaryErrors: 83,
      canaryErrorRatePercent: 20.15,
      exposureSeconds: 31.5,
      worstP95Ms: 1840,
    },
  };

  it('finds figures no fact accounts for, allowing percentages, unit changes and small counts', () => {
    assert.deepEqual(
      unsupportedFigures('83 of 412 requests failed (20.15 %) for 31.5 s; p95 1.84 s; 2 actions', facts),
      [],
    );
    assert.deepEqual(unsupportedFigures('about 25 % of users saw 500 errors', facts), [25, 500]);
    assert.deepEqual(
      unsupportedFigures('version 1.2.0 on 2026-11-23 at 18:31, p95 and 5xx rates', {
        ...facts,
        at: '2026-11-23T18:31:00Z',
      }),
      [],
    );
  });

  it('repairs a narrative that invents a figure, then uses it', async () => {
    fake.script(
      'openai',
      openaiChat('## Impact\n83 of 412 canary requests failed, roughly 40 % of all traffic.'),
      openaiChat('## Impact\n83 of 412 canary requests failed (20.15 %) over 31.5 s before the rollback.'),
    );
    const narrative = await narrate('postmortem', facts, { client: openai(), sink: sink() });
    assert.equal(narrative.source, 'openai');
    assert.match(narrative.text, /20\.15 %/);
    const repair = fake.received('openai')[1]?.body as { messages: { content: string }[] };
    assert.match(repair.messages.at(-1)?.content ?? '', /figures that are not in the FACTS: 40/);
    assert.match(
      (fake.received('openai')[0]?.body as { messages: { content: string }[] }).messages[0]?.content ?? '',
      /lead with impact/,
    );
    assert.equal(narrative.usage.calls, 2);
  });

  it('uses the offline narrative when the model keeps inventing figures, and records why', async () => {
    fake.script('openai', openaiChat('It cost us $9000 in revenue.'), openaiChat('Roughly 7777 users were hit.'));
    const narrative = await narrate('postmortem', facts, { client: openai(), sink: sink() });
    assert.equal(narrative.source, 'offline');
    assert.match(narrative.fallback?.reason ?? '', /invalid twice: it states figures that are not in the FACTS: 7777/);
    assert.match(narrative.text, /^Blameless post-mortem/);
    assert.match(narrative.text.split('\n')[1] ?? '', /impact/, 'the offline post-mortem leads with impact');
  });

  it('writes the offline narrative without a model, from the facts alone', async () => {
    const narrative = await narrate('self-review', { deploys: 4, rollbacks: 1 }, { sink: sink() });
    assert.deepEqual(
      { source: narrative.source, calls: narrative.usage.calls, text: narrative.text },
      {
        source: 'offline',
        calls: 0,
        text: 'Daily self-review against the targets, from the recorded figures:\n- **deploys**: 4\n- **rollbacks**: 1',
      },
    );
    assert.equal(fake.requests.length, 0);
  });

  it('binds narrate to the runtime for other activities, honouring llm.narratives', async () => {
    fake.script('openai', openaiChat('hello 1.2.0 was rolled back; the samples above show why.'));
    const settings = resolveLlmSettings(undefined, {});
    const withModel = createNarrator({ settings: { ...settings, narratives: true }, client: openai() }, sink());
    assert.equal((await withModel('summary', facts)).source, 'openai');
    const switchedOff = createNarrator({ settings: { ...settings, narratives: false }, client: openai() }, sink());
    assert.equal((await switchedOff('summary', facts)).source, 'offline');
    assert.equal((await createNarrator(undefined, sink())('self-review', facts)).source, 'offline');
    assert.equal(fake.requests.length, 1);
  });
});
