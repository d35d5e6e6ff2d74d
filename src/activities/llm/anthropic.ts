import type * as AnthropicSdk from '@anthropic-ai/sdk' with { 'resolution-mode': 'import' };
import { classifySdkError, displayUrl, LlmError, type ProviderVars } from './errors';
import type { Completion, CompletionRequest, LlmProvider } from './provider';

/** The SDK, loaded once, on first use (it is most of what a worker would load at start otherwise). */
let anthropicModule: Promise<Sdk> | undefined;
/** `import()` loads the SDK's ESM build, so its types are the ESM declarations. */
type Sdk = typeof AnthropicSdk;
type Anthropic = InstanceType<Sdk['default']>;

/** Options for the Anthropic Messages API. */
export interface AnthropicOptions {
  model: string;
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
}

/** Messages through the official @anthropic-ai/sdk; structured output by a forced tool call. */
export class AnthropicProvider implements LlmProvider {
  readonly name = 'anthropic';
  readonly model: string;
  readonly baseUrl: string;
  readonly #clientOptions: ConstructorParameters<Sdk['default']>[0];
  #client: Promise<Anthropic> | undefined;
  readonly #key: string;
  readonly #timeoutMs: number;
  readonly #vars: ProviderVars;

  constructor(options: AnthropicOptions) {
    this.model = options.model;
    this.baseUrl = displayUrl(options.baseUrl);
    this.#key = options.apiKey;
    this.#timeoutMs = options.timeoutMs;
    this.#vars = {
      provider: 'Anthropic',
      keyVar: 'ANTHROPIC_API_KEY',
      baseUrlVar: 'ANTHROPIC_BASE_URL',
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
  #sdkClient(): Promise<Anthropic> {
    this.#client ??= (anthropicModule ??= import('@anthropic-ai/sdk')).then(
      ({ default: Sdk }) => new Sdk(this.#clientOptions),
    );
    return this.#client;
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    const tool = request.json
      ? { name: request.json.name, description: request.json.description, input_schema: request.json.schema }
      : undefined;
    let response;
    try {
      response = await (
        await this.#sdkClient()
      ).messages.create(
        {
          model: this.model,
          max_tokens: request.maxOutputTokens,
          system: request.system,
          messages: request.messages,
          ...(tool
            ? {
                tools: [{ ...tool, input_schema: { type: 'object' as const, ...tool.input_schema } }],
                tool_choice: { type: 'tool' as const, name: tool.name },
              }
            : {}),
        },
        request.timeoutMs !== undefined ? { timeout: Math.min(request.timeoutMs, this.#timeoutMs) } : {},
      );
    } catch (err) {
      throw classifySdkError(err, this.#vars, this.#key);
    }
    const usage = { inputTokens: response.usage?.input_tokens ?? 0, outputTokens: response.usage?.output_tokens ?? 0 };
    const model = response.model || this.model;
    const toolUse = response.content.find((b) => b.type === 'tool_use');
    if (tool && toolUse && toolUse.type === 'tool_use') {
      return { text: JSON.stringify(toolUse.input), structured: toolUse.input, model, ...usage };
    }
    const text = response.content
      .map((b) => (b.type === 'text' ? b.text : ''))
      .join('')
      .trim();
    if (!text)
      throw new LlmError('malformed', `Anthropic answered without content (stop: ${response.stop_reason ?? 'none'})`);
    return { text, model, ...usage };
  }
}
