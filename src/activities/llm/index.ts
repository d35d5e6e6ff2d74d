import type { LlmConfig } from '../../config/llm';
import type { AuditSink } from './audit';
import { LlmClient } from './client';
import { narrate, type Narrative, type NarrativeKind } from './narrate';
import { activityDeadline, temporalRetry, type RetryStrategy } from './retry';
import { createLlmProvider, resolveLlmSettings, type LlmSettings } from './settings';

export { narrate, offlineNarrative, type Narrative, type NarrativeKind, type NarrateOptions } from './narrate';
export type { AuditSink } from './audit';
export { LlmClient } from './client';
export { LlmError } from './errors';
export { resolveLlmSettings, createLlmProvider, baseUrlOf, type LlmSettings } from './settings';
export { temporalRetry, inlineRetry, activityDeadline } from './retry';

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

/**
 * `narrate(kind, facts)` bound to the worker's model and an audit folder: what other activities (the ops
 * agent's post-mortems and self-reviews) call. Without a model, or with narratives off, it writes the offline
 * narrative. Inside an activity a 429/5xx/timeout before the last attempt throws a retryable
 * ApplicationFailure (type LlmUnavailable) so Temporal retries after Retry-After; catch it to skip the retry.
 */
export function createNarrator(runtime: LlmRuntime | undefined, sink: AuditSink) {
  const client = runtime?.client && runtime.settings.narratives ? runtime.client : undefined;
  return (kind: NarrativeKind, facts: Record<string, unknown>): Promise<Narrative> => {
    const deadline = activityDeadline();
    return narrate(kind, facts, {
      ...(client ? { client } : {}),
      sink,
      ...(runtime ? { maxOutputTokens: runtime.settings.maxOutputTokens } : {}),
      ...(deadline !== undefined ? { deadline } : {}),
    });
  };
}
