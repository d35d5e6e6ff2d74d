import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { z } from 'zod';
import { AnthropicProvider } from '../../src/activities/llm/anthropic';
import { LlmClient, type Check } from '../../src/activities/llm/client';
import { displayUrl, LlmError, retryAfterMs } from '../../src/activities/llm/errors';
import { extractJson } from '../../src/activities/llm/json';
import { OpenAiProvider } from '../../src/activities/llm/openai';
import { inlineRetry } from '../../src/activities/llm/retry';
import { createLlmProvider, resolveLlmSettings } from '../../src/activities/llm/settings';
import { llmConfigSchema } from '../../src/config/llm';
import {
  anthropicError,
  anthropicText,
  anthropicTool,
  FakeLlmServer,
  openaiChat,
  openaiError,
} from '../helpers/fake-llm-server';

const KEY = 'sk-test-0123456789abcdefSECRET';
let fake: FakeLlmServer;
let workdir: string;
let slept: number[];

before(async () => {
  fake = await FakeLlmServer.start();
  workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-llm-'));
});
after(async () => {
  await fake.close();
  rmSync(workdir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.reset();
  slept = [];
});

const retry = () => inlineRetry(3, async (ms) => slept.push(ms));
const openai = (timeoutMs = 5_000) =>
  new OpenAiProvider({
    model: 'gpt-4o-mini',
    apiKey: KEY,
    baseUrl: fake.openaiBaseUrl,
    timeoutMs,
    responseFormat: 'json_object',
  });
const anthropic = () =>
  new AnthropicProvider({ model: 'claude-haiku-4-5', apiKey: KEY, baseUrl: fake.url, timeoutMs: 5_000 });

const answerSchema = z.object({ risk: z.enum(['low', 'medium', 'high']), steps: z.number().int().min(1) }).strict();
const check = (text: string, structured: unknown): Check<z.infer<typeof answerSchema>> => {
  const json = structured !== undefined ? { ok: true as const, value: structured } : extractJson(text);
  if (!json.ok) return json;
  const parsed = answerSchema.safeParse(json.value);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, issue: parsed.error.issues[0]?.message ?? 'bad' };
};
const askRequest = () => ({
  purpose: 'plan',
  promptVersion: 'test/v1',
  system: 'answer json',
  user: 'plan it',
  json: {
    name: 'answer',
    description: 'the answer',
    schema: z.toJSONSchema(answerSchema) as Record<string, unknown>,
  },
  maxOutputTokens: 200,
  check,
  repair: (issue: string) => `fix: ${issue}`,
});
const ask = (client: LlmClient) => client.ask({ workdir, label: 'deploy-test' }, askRequest());

describe('OpenAI-compatible provider against the chat-completions wire format', () => {
  it('sends the key, model, system prompt and JSON mode; counts tokens and cost; writes the audit file', async () => {
    fake.script('openai', openaiChat('{"risk":"low","steps":3}', { prompt_tokens: 1000, completion_tokens: 500 }));
    const result = await ask(new LlmClient(openai(), retry()));
    assert.equal(result.ok, true);
    assert.deepEqual(result.ok && result.value, { risk: 'low', steps: 3 });
    const [request] = fake.received('openai');
    assert.equal(request?.headers.authorization, `Bearer ${KEY}`);
    assert.equal(request?.body['model'], 'gpt-4o-mini');
    assert.deepEqual(request?.body['response_format'], { type: 'json_object' });
    assert.deepEqual(
      (request?.body['messages'] as { role: string }[]).map((m) => m.role),
      ['system', 'user'],
    );
    // gpt-4o-mini: $0.15 / $0.60 per million tokens.
    assert.deepEqual(result.usage, { calls: 1, inputTokens: 1000, outputTokens: 500, estimatedCostUsd: 0.00045 });
    assert.equal(result.audit.length, 1);
    const audit = JSON.parse(readFileSync(path.join(workdir, result.audit[0]?.file ?? 'x'), 'utf8'));
    assert.equal(audit.response, '{"risk":"low","steps":3}');
    assert.equal(audit.hash, result.audit[0]?.hash);
    assert.ok(!JSON.stringify(audit).includes(KEY), 'the audit file never holds the key');
  });

  it('repairs malformed JSON once, sending the bad answer and the problem back', async () => {
    fake.script(
      'openai',
      openaiChat('Sure! {"risk": "low", steps: }'),
      openaiChat('```json\n{"risk":"high","steps":2}\n```'),
    );
    const result = await ask(new LlmClient(openai(), retry()));
    assert.equal(result.ok, true);
    const repair = fake.received('openai')[1]?.body['messages'] as { role: string; content: string }[];
    assert.deepEqual(
      repair.map((m) => m.role),
      ['system', 'user', 'assistant', 'user'],
    );
    assert.match(repair[3]?.content ?? '', /does not parse/);
    assert.equal(result.usage.calls, 2);
  });

  it('gives up after a schema violation and a failed repair, with the reason', async () => {
    fake.script('openai', openaiChat('{"risk":"extreme","steps":3}'), openaiChat('{"risk":"low","steps":0}'));
    const result = await ask(new LlmClient(openai(), retry()));
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.reason : '', /invalid twice: Too small/);
    assert.equal(fake.received('openai').length, 2);
  });

  it('retries a 429 after the Retry-After the server asked for, then succeeds', async () => {
    fake.script(
      'openai',
      openaiError(429, 'Rate limit reached', { headers: { 'retry-after': '2' } }),
      openaiChat('{"risk":"medium","steps":4}'),
    );
    const result = await ask(new LlmClient(openai(), retry()));
    assert.equal(result.ok, true);
    assert.deepEqual(slept, [2000]);
    assert.equal(fake.received('openai').length, 2, 'the SDK made no retries of its own');
  });

  it('retries 5xx with backoff and stops after the last attempt', async () => {
    fake.script('openai', openaiError(503, 'overloaded'), openaiError(502, 'bad gateway'), openaiError(500, 'boom'));
    const result = await ask(new LlmClient(openai(), retry()));
    assert.equal(result.ok, false);
    assert.deepEqual(slept, [1000, 2000]);
    assert.match(!result.ok ? result.reason : '', /failed \(500\)/);
  });

  it('does not retry a 401, names OPENAI_API_KEY, and never repeats the key the server echoed', async () => {
    fake.script('openai', openaiError(401, `Incorrect API key provided: ${KEY}. You can find your API key at ...`));
    const provider = openai();
    await assert.rejects(
      provider.complete({ system: 's', messages: [{ role: 'user', content: 'u' }], maxOutputTokens: 10 }),
      (err: unknown) => {
        assert.ok(err instanceof LlmError);
        assert.equal(err.kind, 'auth');
        assert.equal(err.retryable, false);
        assert.match(err.message, /refused the key \(401\): set a valid OPENAI_API_KEY/);
        assert.ok(!err.message.includes(KEY) && !err.message.includes('SECRET'));
        return true;
      },
    );
    fake.script('openai', openaiError(401, 'bad key'));
    const result = await ask(new LlmClient(provider, retry()));
    assert.equal(result.ok, false);
    assert.deepEqual(slept, []);
  });

  it('a 400 and a 403 are not retried and name the setting to fix', async () => {
    fake.script('openai', openaiError(400, "Unsupported parameter: 'max_tokens'"), openaiError(403, 'no access'));
    const request = { system: 's', messages: [{ role: 'user' as const, content: 'u' }], maxOutputTokens: 10 };
    await assert.rejects(
      openai().complete(request),
      /rejected the request \(400\): check OPSFLOW_LLM_MODEL \(now gpt-4o-mini\)/,
    );
    await assert.rejects(
      openai().complete(request),
      /denied access \(403\) to model gpt-4o-mini: check OPENAI_API_KEY/,
    );
  });

  it('times out a call that does not answer within llm.timeout, as a retryable error', async () => {
    fake.script('openai', { ...openaiChat('{"risk":"low","steps":1}'), delayMs: 1_500 });
    await assert.rejects(
      openai(200).complete({ system: 's', messages: [{ role: 'user', content: 'u' }], maxOutputTokens: 10 }),
      (err: unknown) =>
        err instanceof LlmError && err.kind === 'timeout' && err.retryable && /llm\.timeout/.test(err.message),
    );
  });
});

describe("the activity's own timeout bounds the calls", () => {
  it('does not start a call with less than a second left, and cuts one short to what is left', async () => {
    const client = new LlmClient(openai(), inlineRetry(1));
    const late = await client.ask({ workdir, label: 'deadline' }, { ...askRequest(), deadline: Date.now() + 500 });
    assert.equal(late.ok, false);
    assert.match(!late.ok ? late.reason : '', /no time left for the model within the activity's startToCloseTimeout/);
    assert.equal(fake.requests.length, 0);
    fake.script('openai', { ...openaiChat('{"risk":"low","steps":1}'), delayMs: 2_500 });
    const started = Date.now();
    const cut = await client.ask({ workdir, label: 'deadline' }, { ...askRequest(), deadline: Date.now() + 1_200 });
    assert.equal(cut.ok, false);
    assert.match(!cut.ok ? cut.reason : '', /did not answer in time/);
    assert.ok(Date.now() - started < 2_400, 'the call ended at the deadline, not at llm.timeout');
  });
});

describe('Anthropic provider against the messages wire format', () => {
  it('forces a tool for structured output and reads its input; sends the key and the system prompt', async () => {
    fake.script('anthropic', anthropicTool('answer', { risk: 'medium', steps: 4 }));
    const result = await ask(new LlmClient(anthropic(), retry()));
    assert.deepEqual(result.ok && result.value, { risk: 'medium', steps: 4 });
    const [request] = fake.received('anthropic');
    // This SDK version sends the key as a bearer token; older ones used x-api-key.
    assert.equal(request?.headers['x-api-key'] ?? request?.headers.authorization?.replace(/^Bearer /, ''), KEY);
    assert.equal(request?.body['system'], 'answer json');
    assert.deepEqual(request?.body['tool_choice'], { type: 'tool', name: 'answer' });
    // claude-haiku-4-5: $1 / $5 per million tokens.
    assert.deepEqual(result.usage, { calls: 1, inputTokens: 200, outputTokens: 90, estimatedCostUsd: 0.00065 });
  });

  it('reads text answers, retries 529 overloaded, and names ANTHROPIC_API_KEY on 401', async () => {
    fake.script('anthropic', anthropicError(529, 'Overloaded'), anthropicText('{"risk":"low","steps":2}'));
    const result = await ask(new LlmClient(anthropic(), retry()));
    assert.equal(result.ok, true);
    assert.deepEqual(slept, [1000]);
    fake.script('anthropic', anthropicError(401, 'invalid x-api-key'));
    await assert.rejects(
      anthropic().complete({ system: 's', messages: [{ role: 'user', content: 'u' }], maxOutputTokens: 10 }),
      /Anthropic at http:\/\/127\.0\.0\.1:\d+ refused the key \(401\): set a valid ANTHROPIC_API_KEY/,
    );
  });
});

describe('settings', () => {
  it('takes OPSFLOW_LLM, OPSFLOW_LLM_MODEL and OPENAI_BASE_URL over opsflow.yaml', () => {
    const config = llmConfigSchema.parse({
      provider: 'anthropic',
      model: 'claude-x',
      baseUrl: 'http://config.invalid',
    });
    const settings = resolveLlmSettings(config, {
      OPSFLOW_LLM: 'openai',
      OPSFLOW_LLM_MODEL: 'llama3.1:8b',
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
    });
    assert.equal(settings.provider, 'openai');
    assert.equal(settings.model, 'llama3.1:8b');
    assert.equal(settings.baseUrl, 'http://127.0.0.1:11434/v1');
    assert.deepEqual(settings.sources, { provider: 'env', model: 'env', baseUrl: 'env' });
    assert.equal(resolveLlmSettings(undefined, {}).provider, 'offline');
  });

  it('refuses what cannot work with one line naming the variable', () => {
    assert.throws(() => resolveLlmSettings(undefined, { OPSFLOW_LLM: 'gpt' }), /OPSFLOW_LLM: "gpt" is not a provider/);
    const openaiNoModel = resolveLlmSettings(undefined, { OPSFLOW_LLM: 'openai' });
    assert.throws(() => createLlmProvider(openaiNoModel, {}), /needs a model: set OPSFLOW_LLM_MODEL or llm\.model/);
    const anthropicNoKey = resolveLlmSettings(undefined, { OPSFLOW_LLM: 'anthropic', OPSFLOW_LLM_MODEL: 'claude-x' });
    assert.throws(() => createLlmProvider(anthropicNoKey, {}), /needs a key: set ANTHROPIC_API_KEY or llm\.apiKeyFile/);
    const withMissingFile = resolveLlmSettings(undefined, {
      OPSFLOW_LLM: 'openai',
      OPSFLOW_LLM_MODEL: 'm',
      OPSFLOW_LLM_API_KEY_FILE: '/nonexistent/key',
    });
    assert.throws(
      () => createLlmProvider(withMissingFile, {}),
      /llm\.apiKeyFile \(\/nonexistent\/key\) cannot be read: ENOENT/,
    );
    assert.equal(createLlmProvider(resolveLlmSettings(undefined, {}), {}), undefined);
  });

  it('refuses a key in opsflow.yaml, pointing at the environment', () => {
    const result = llmConfigSchema.safeParse({ provider: 'openai', apiKey: KEY });
    assert.equal(result.success, false);
    assert.match(result.error?.issues[0]?.message ?? '', /keys do not belong in opsflow\.yaml: set OPENAI_API_KEY/);
  });

  it('shows base URLs without credentials or query in messages and logs', () => {
    assert.equal(displayUrl('https://user:pw@proxy.example/v1?key=abc'), 'https://proxy.example/v1');
    assert.equal(displayUrl('not a url'), '(an unparsable URL)');
  });

  it('reads Retry-After as seconds, as an HTTP date and as retry-after-ms', () => {
    const h = (entries: Record<string, string>) => new Headers(entries);
    assert.equal(retryAfterMs(h({ 'retry-after': '3' })), 3000);
    assert.equal(retryAfterMs(h({ 'retry-after-ms': '250' })), 250);
    assert.equal(retryAfterMs(h({ 'retry-after': new Date(10_000).toUTCString() }), 4_000), 6_000);
    assert.equal(retryAfterMs(h({})), undefined);
  });
});
