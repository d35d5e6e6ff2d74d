/**
 * The LLM key goes only to its provider's own host, unless the base URL comes from the environment, and only over
 * https except to loopback: a pull request that edits opsflow.yaml cannot collect it.
 * Run: node --import tsx --test test/unit/llm-key-destination.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createLlmProvider, resolveLlmSettings } from '../../src/activities/llm/settings';
import { llmConfigSchema } from '../../src/config/llm';
import { FakeLlmServer, openaiChat } from '../helpers/fake-llm-server';

const KEY = 'sk-test-destination-SECRET';
let fake: FakeLlmServer;

before(async () => {
  fake = await FakeLlmServer.start();
});
after(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

const request = { system: 's', messages: [{ role: 'user' as const, content: 'u' }], maxOutputTokens: 10 };

describe('where the LLM key may go', () => {
  it('refuses llm.baseUrl from opsflow.yaml pointing elsewhere, with one line and without sending the key', () => {
    const evil = llmConfigSchema.parse({ provider: 'openai', model: 'm', baseUrl: 'http://evil.example' });
    const settings = resolveLlmSettings(evil, { OPENAI_API_KEY: KEY });
    assert.throws(
      () => createLlmProvider(settings, { OPENAI_API_KEY: KEY }),
      (err: Error) => {
        assert.match(
          err.message,
          /^llm\.baseUrl \(http:\/\/evil\.example\) in opsflow\.yaml does not get OPENAI_API_KEY: set OPENAI_BASE_URL in the environment instead$/,
        );
        assert.doesNotMatch(err.message, /SECRET/);
        return true;
      },
    );
    // Even a loopback URL from the file does not get the key; the fake server hears nothing.
    const local = llmConfigSchema.parse({ provider: 'anthropic', model: 'm', baseUrl: fake.url });
    assert.throws(
      () => createLlmProvider(resolveLlmSettings(local, {}), { ANTHROPIC_API_KEY: KEY }),
      /set ANTHROPIC_BASE_URL in the environment instead/,
    );
    assert.equal(fake.requests.length, 0);
  });

  it('refuses plain http to anything but loopback, even from the environment', () => {
    const env = {
      OPSFLOW_LLM: 'openai',
      OPSFLOW_LLM_MODEL: 'm',
      OPENAI_API_KEY: KEY,
      OPENAI_BASE_URL: 'http://llm.lan/v1',
    };
    assert.throws(
      () => createLlmProvider(resolveLlmSettings(undefined, env), env),
      /OPENAI_BASE_URL \(http:\/\/llm\.lan\) would send the openai key in clear: use https/,
    );
  });

  it('accepts the provider host from the file, and a loopback URL from the environment (which gets the key)', async () => {
    const own = llmConfigSchema.parse({ provider: 'openai', model: 'm', baseUrl: 'https://api.openai.com/v1' });
    assert.ok(createLlmProvider(resolveLlmSettings(own, {}), { OPENAI_API_KEY: KEY }));

    const env = {
      OPSFLOW_LLM: 'openai',
      OPSFLOW_LLM_MODEL: 'm',
      OPENAI_API_KEY: KEY,
      OPENAI_BASE_URL: fake.openaiBaseUrl,
    };
    const provider = createLlmProvider(resolveLlmSettings(undefined, env), env);
    fake.script('openai', openaiChat('{"ok":true}'));
    await provider!.complete(request);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0]?.headers.authorization, `Bearer ${KEY}`);
  });

  it('sends no key, and so refuses nothing, to a keyless local server named in the file', () => {
    const local = llmConfigSchema.parse({ provider: 'openai', model: 'm', baseUrl: fake.openaiBaseUrl });
    assert.ok(createLlmProvider(resolveLlmSettings(local, {}), {}));
  });
});
