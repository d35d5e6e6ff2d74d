import type { LlmConfig } from '../../shared/llm-config';
import { LlmClient } from './client';
import { temporalRetry, type RetryStrategy } from './retry';
import { createLlmProvider, resolveLlmSettings, type LlmSettings } from './settings';

export { narrate, offlineNarrative, type Narrative, type NarrativeKind, type NarrateOptions } from './narrate';
export { LlmClient } from './client';
export { LlmError } from './errors';
export { resolveLlmSettings, createLlmProvider, baseUrlOf, type LlmSettings } from './settings';
export { temporalRetry, inlineRetry, LLM_RETRY_TYPE } from './retry';

/** What activities need to reach the model: the settings, and a client unless the provider is offline. */
export interface LlmRuntime {
  settings: LlmSettings;
  client?: LlmClient;
}

/** Builds the provider from the settings (throws LlmError('config') naming what to set). */
export function createLlmRuntime(settings: LlmSettings, retry: RetryStrategy, env = process.env): LlmRuntime {
  const provider = createLlmProvider(settings, env);
  return provider ? { settings, client: new LlmClient(provider, retry, settings.pricing) } : { settings };
}

/** The worker's runtime: settings from opsflow.yaml and the environment, retries by Temporal. */
export function createWorkerLlm(config: LlmConfig, env = process.env): LlmRuntime {
  const settings = resolveLlmSettings(config, env);
  return createLlmRuntime(settings, temporalRetry(settings.maxAttempts), env);
}
