import type { LlmProviderName } from '../../config/llm';

/** One turn of the conversation after the system prompt. */
export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** A request to a model: the system prompt, the turns, and the JSON schema when structured output is wanted. */
export interface CompletionRequest {
  system: string;
  messages: ChatMessage[];
  /** Asks for JSON matching this schema (JSON mode, structured outputs or a forced tool, per provider). */
  json?: { name: string; description: string; schema: Record<string, unknown> };
  maxOutputTokens: number;
  /** A shorter time limit than llm.timeout for this call (what is left of the activity's own timeout). */
  timeoutMs?: number;
}

/** What came back: text (or the JSON as text), and what it cost in tokens. */
export interface Completion {
  text: string;
  /** The parsed object when the provider returned structured output (Anthropic's forced tool). */
  structured?: unknown;
  model: string;
  inputTokens: number;
  outputTokens: number;
}

/** A remote model. Implementations throw LlmError and never retry themselves: Temporal does. */
export interface LlmProvider {
  readonly name: Exclude<LlmProviderName, 'offline'>;
  readonly model: string;
  readonly baseUrl: string;
  complete(request: CompletionRequest): Promise<Completion>;
}
