import type * as OpenAiSdk from 'openai' with { 'resolution-mode': 'import' };
import { classifySdkError, displayUrl, LlmError, type ProviderVars } from './errors';
import type { Completion, CompletionRequest, LlmProvider } from './provider';

/** The SDK, loaded once, on first use (it is most of what a worker would load at start otherwise). */
let openAiModule: Promise<Sdk> | undefined;
/** `import()` loads the SDK's ESM build, so its types are the ESM declarations. */
type Sdk = typeof OpenAiSdk;
type OpenAI = InstanceType<Sdk['default']>;

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
  readonly #clientOptions: ConstructorParameters<Sdk['default']>[0];
  #client: Promise<OpenAI> | undefined;
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
    this.#clientOptions = {
      apiKey: options.apiKey,
      baseURL: options.baseUrl,
      timeout: options.timeoutMs,
      // Retries belong to Temporal (activity retry with Retry-After as the next delay), so the SDK makes one attempt.
      maxRetries: 0,
      logLevel: 'off',
    };
  }

  /** The SDK's client, made on the first call: the worker loads the SDK only when a deploy asks the model. */
  #sdkClient(): Promise<OpenAI> {
    this.#client ??= (openAiModule ??= import('openai')).then(({ default: Sdk }) => new Sdk(this.#clientOptions));
    return this.#client;
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    const format = request.json ? this.#responseFormat : 'none';
    let response;
    try {
      response = await (
        await this.#sdkClient()
      ).chat.completions.create(
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
