// What `opsflow llm check` does, loaded when it runs: the provider SDKs (openai, @anthropic-ai/sdk) come with it.
import {
  baseUrlOf,
  createLlmProvider,
  LlmError,
  resolveLlmSettings,
  type LlmSettings,
} from '../../activities/llm/index';
import { displayUrl } from '../../activities/llm/errors';
import { loadConfig } from '../../config/load';
import { explain } from '../explain';
import { CliError, print, printJson } from '../output';

/** What `opsflow llm check` found. */
export interface LlmCheckResult {
  provider: LlmSettings['provider'];
  model?: string;
  baseUrl?: string;
  sources: LlmSettings['sources'];
  reachable: boolean;
  latencyMs?: number;
  answeredBy?: string;
  inputTokens?: number;
  outputTokens?: number;
  note?: string;
}

/** Configured provider, one tiny call, its model and latency; throws CliError with the fix on failure. */
export async function checkLlm(settings: LlmSettings): Promise<LlmCheckResult> {
  const base = {
    provider: settings.provider,
    ...(settings.model ? { model: settings.model } : {}),
    sources: settings.sources,
  };
  if (settings.provider === 'offline') {
    return { ...base, reachable: true, note: 'the offline planner needs no network; set OPSFLOW_LLM to use a model' };
  }
  let provider;
  try {
    provider = createLlmProvider(settings);
  } catch (err) {
    throw explain(err);
  }
  if (!provider) throw new CliError('no provider');
  const raw = baseUrlOf(settings);
  const baseUrl = raw ? displayUrl(raw) : undefined;
  const started = Date.now();
  try {
    const answer = await provider.complete({
      system: 'You are a health check. Answer with the single word: ok',
      messages: [{ role: 'user', content: 'ping' }],
      maxOutputTokens: 64,
    });
    return {
      ...base,
      ...(baseUrl ? { baseUrl } : {}),
      reachable: true,
      latencyMs: Date.now() - started,
      answeredBy: answer.model,
      inputTokens: answer.inputTokens,
      outputTokens: answer.outputTokens,
    };
  } catch (err) {
    // A model that answered without text was still reached; anything else is the one line to act on.
    if (err instanceof LlmError && err.kind === 'malformed') {
      return {
        ...base,
        ...(baseUrl ? { baseUrl } : {}),
        reachable: true,
        latencyMs: Date.now() - started,
        note: err.message,
      };
    }
    throw explain(err);
  }
}

/** Says which provider is configured and whether it answers one tiny call. */
export async function llmCheck(opts: { config?: string; json?: boolean }): Promise<void> {
  const { config } = loadConfig(opts.config);
  // An LlmError (unknown provider, missing key) reaches the explainer as the line to print.
  const settings = resolveLlmSettings(config.llm);
  const result = await checkLlm(settings);
  if (opts.json) {
    printJson(result);
    return;
  }
  const from = (s?: string) =>
    s ? ` (from ${s === 'env' ? 'the environment' : s === 'config' ? 'opsflow.yaml' : s})` : '';
  print(`provider: ${result.provider}${from(result.sources.provider)}`);
  if (result.model) print(`model: ${result.model}${from(result.sources.model)}`);
  if (result.baseUrl) print(`endpoint: ${result.baseUrl}${from(result.sources.baseUrl)}`);
  if (result.latencyMs !== undefined) {
    print(
      `reached in ${result.latencyMs} ms; answered by ${result.answeredBy ?? result.model}` +
        (result.inputTokens !== undefined
          ? ` (${result.inputTokens} input / ${result.outputTokens} output tokens)`
          : ''),
    );
  }
  if (result.note) print(result.note);
}
