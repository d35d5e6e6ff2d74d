import OpenAI from 'openai';
import { classifySdkError, displayUrl, LlmError, type ProviderVars } from './errors';
import type { Completion, CompletionRequest, LlmProvider } from './provider';

/** Options for an OpenAI-compatible endpoint: OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, OpenRouter. */
export interface OpenAiOptions {
  model: string;
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  responseFormat: 'json_schema' | 'json_object' | 'none';
}

/** Chat completions through the official openai client. */
export class OpenAiProvider implements LlmProvider {
  readonly name = 'openai';
  readonly model: string;
  readonly baseUrl: string;
  readonly #client: OpenAI;
  readonly #key: string;
  readonly #timeoutMs: number;
  readonly #vars: ProviderVars;
  readonly #responseFormat: OpenAiOptions['responseFormat'];

  constructor(options: OpenAiOptions) {
    this.model = options.model;
    this.baseUrl = displayUrl(options.baseUrl);
    this.#key = options.apiKey;
    this.#timeoutMs = options.timeoutMs;
    this.#responseFormat = options.responseFormat;
    this.#vars = {
      provider: 'the OpenAI-compatible provider',
      keyVar: 'OPENAI_API_KEY',
      baseUrlVar: 'OPENAI_BASE_URL',
      baseUrl: this.baseUrl,
      model: options.model,
    };
    this.#client = new OpenAI({
      apiKey: options.apiKey,
      baseURL: options.baseUrl,
      timeout: options.timeoutMs,
      // Retries belong to Temporal (activity retry with Retry-After as the next delay), so the SDK makes one attempt.
      maxRetries: 0,
      logLevel: 'off',
    });
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    const format = request.json ? this.#responseFormat : 'none';
    let response;
    try {
      response = await this.#client.chat.completions.create(
        {
          model: this.model,
          messages: [{ role: 'system', content: request.system }, ...request.messages],
          max_completion_tokens: request.maxOutputTokens,
          ...(format === 'json_object' ? { response_format: { type: 'json_object' as const } } : {}),
          ...(format === 'json_schema' && request.json
            ? {
                response_format: {
                  type: 'json_schema' as const,
                  json_schema: {
                    name: request.json.name,
                    description: request.json.description,
                    schema: request.json.schema,
                    strict: false,
                  },
                },
              }
            : {}),
        },
        request.timeoutMs !== undefined ? { timeout: Math.min(request.timeoutMs, this.#timeoutMs) } : {},
      );
    } catch (err) {
      throw classifySdkError(err, this.#vars, this.#key);
    }
    const choice = response.choices?.[0];
    const text = choice?.message?.content;
    if (typeof text !== 'string' || text.length === 0) {
      throw new LlmError(
        'malformed',
        `the OpenAI-compatible provider answered without content (finish: ${choice?.finish_reason ?? 'none'})`,
      );
    }
    return {
      text,
      model: response.model || this.model,
      inputTokens: response.usage?.prompt_tokens ?? 0,
      outputTokens: response.usage?.completion_tokens ?? 0,
    };
  }
}
