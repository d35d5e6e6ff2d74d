import { readFileSync, statSync } from 'node:fs';
import { DEFAULT_LLM_CONFIG, llmProviderSchema, type LlmConfig, type LlmProviderName } from '../../config/llm';
import { AnthropicProvider } from './anthropic';
import { LlmError } from './errors';
import { OpenAiProvider } from './openai';
import type { LlmProvider } from './provider';

/** The effective LLM settings: opsflow.yaml's `llm` section with the environment on top. Holds no key. */
export interface LlmSettings extends Omit<LlmConfig, 'provider' | 'apiKey'> {
  provider: LlmProviderName;
  /** Where each setting came from, for `opsflow llm check`. */
  sources: { provider: 'env' | 'config' | 'default'; model?: 'env' | 'config'; baseUrl?: 'env' | 'config' };
}

const DEFAULT_BASE_URL = { openai: 'https://api.openai.com/v1', anthropic: 'https://api.anthropic.com' } as const;
const KEY_VAR = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY' } as const;
const BASE_URL_VAR = { openai: 'OPENAI_BASE_URL', anthropic: 'ANTHROPIC_BASE_URL' } as const;

type Env = Record<string, string | undefined>;

const set = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

/** Applies OPSFLOW_LLM, OPSFLOW_LLM_MODEL, *_BASE_URL and OPSFLOW_LLM_API_KEY_FILE over the config. */
export function resolveLlmSettings(config: LlmConfig = DEFAULT_LLM_CONFIG, env: Env = process.env): LlmSettings {
  const { apiKey: _ignored, ...rest } = config;
  const fromEnv = env['OPSFLOW_LLM'];
  let provider = config.provider;
  if (set(fromEnv)) {
    const parsed = llmProviderSchema.safeParse(fromEnv.trim());
    if (!parsed.success) {
      throw new LlmError('config', `OPSFLOW_LLM: "${fromEnv}" is not a provider; use offline, openai or anthropic`);
    }
    provider = parsed.data;
  }
  const settings: LlmSettings = {
    ...rest,
    provider,
    sources: { provider: set(fromEnv) ? 'env' : config.provider !== 'offline' ? 'config' : 'default' },
  };
  if (set(env['OPSFLOW_LLM_MODEL'])) {
    settings.model = env['OPSFLOW_LLM_MODEL'].trim();
    settings.sources.model = 'env';
  } else if (config.model) settings.sources.model = 'config';
  if (provider !== 'offline') {
    const baseUrl = env[BASE_URL_VAR[provider]];
    if (set(baseUrl)) {
      settings.baseUrl = baseUrl.trim();
      settings.sources.baseUrl = 'env';
    } else if (config.baseUrl) settings.sources.baseUrl = 'config';
  }
  if (set(env['OPSFLOW_LLM_API_KEY_FILE'])) settings.apiKeyFile = env['OPSFLOW_LLM_API_KEY_FILE'].trim();
  return settings;
}

/** The base URL a provider will be called at. */
export function baseUrlOf(settings: LlmSettings): string | undefined {
  if (settings.provider === 'offline') return undefined;
  return (settings.baseUrl ?? DEFAULT_BASE_URL[settings.provider]).replace(/\/$/, '');
}

/** Reads the key from its variable, or from llm.apiKeyFile; the key never leaves the provider object. */
function readKey(provider: 'openai' | 'anthropic', settings: LlmSettings, env: Env): string | undefined {
  const fromEnv = env[KEY_VAR[provider]];
  if (set(fromEnv)) return fromEnv.trim();
  if (!settings.apiKeyFile) return undefined;
  let text: string;
  try {
    if (!statSync(settings.apiKeyFile).isFile()) throw new Error('not a file');
    text = readFileSync(settings.apiKeyFile, 'utf8').trim();
  } catch (err) {
    throw new LlmError(
      'config',
      `llm.apiKeyFile (${settings.apiKeyFile}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!text) throw new LlmError('config', `llm.apiKeyFile (${settings.apiKeyFile}) is empty`);
  return text;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Where a key may go: only over https (or to loopback), and only to the provider's own host unless the base URL came
 * from the environment, which the operator controls; opsflow.yaml is edited by pull requests. Throws one line.
 */
export function checkKeyDestination(
  provider: 'openai' | 'anthropic',
  baseUrl: string,
  source: LlmSettings['sources']['baseUrl'],
): void {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new LlmError('config', `the ${provider} base URL is not a URL: fix ${BASE_URL_VAR[provider]} or llm.baseUrl`);
  }
  const where = source === 'env' ? BASE_URL_VAR[provider] : 'llm.baseUrl';
  if (source !== 'env' && url.host !== new URL(DEFAULT_BASE_URL[provider]).host) {
    throw new LlmError(
      'config',
      `llm.baseUrl (${url.origin}) in opsflow.yaml does not get ${KEY_VAR[provider]}: set ${BASE_URL_VAR[provider]} in the environment instead`,
    );
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.hostname))) {
    throw new LlmError(
      'config',
      `${where} (${url.origin}) would send the ${provider} key in clear: use https (plain http only to loopback)`,
    );
  }
}

/** Builds the configured provider, or undefined for the offline planner. Throws LlmError('config') naming what to set. */
export function createLlmProvider(settings: LlmSettings, env: Env = process.env): LlmProvider | undefined {
  const provider = settings.provider;
  if (provider === 'offline') return undefined;
  if (!settings.model) {
    throw new LlmError('config', `OPSFLOW_LLM=${provider} needs a model: set OPSFLOW_LLM_MODEL or llm.model`);
  }
  const baseUrl = baseUrlOf(settings) ?? DEFAULT_BASE_URL[provider];
  let apiKey = readKey(provider, settings, env);
  if (apiKey) checkKeyDestination(provider, baseUrl, settings.sources.baseUrl);
  else {
    // Local OpenAI-compatible servers (Ollama, vLLM, LM Studio) take any key; the hosted APIs need one.
    if (provider === 'openai' && baseUrl !== DEFAULT_BASE_URL.openai) apiKey = 'no-key';
    else {
      throw new LlmError('config', `OPSFLOW_LLM=${provider} needs a key: set ${KEY_VAR[provider]} or llm.apiKeyFile`);
    }
  }
  const common = { model: settings.model, apiKey, baseUrl, timeoutMs: settings.timeout };
  return provider === 'openai'
    ? new OpenAiProvider({ ...common, responseFormat: settings.responseFormat })
    : new AnthropicProvider(common);
}
