import { z } from 'zod';
import { durationBetween } from '../shared/analysis-config';

/** Which LLM provider plans and narrates: the offline planner needs no network and is the default. */
export const llmProviderSchema = z.enum(['offline', 'openai', 'anthropic']);
export type LlmProviderName = z.infer<typeof llmProviderSchema>;

const KEY_IN_YAML =
  'keys do not belong in opsflow.yaml: set OPENAI_API_KEY or ANTHROPIC_API_KEY in the environment, ' +
  'or llm.apiKeyFile to a file that holds the key';

/**
 * The `llm` section of opsflow.yaml. Every field may be overridden by the environment
 * (OPSFLOW_LLM, OPSFLOW_LLM_MODEL, OPENAI_BASE_URL, ANTHROPIC_BASE_URL, OPSFLOW_LLM_API_KEY_FILE);
 * a key itself is refused here so it never sits in a file that is committed.
 */
export const llmConfigSchema = z
  .object({
    provider: llmProviderSchema.default('offline'),
    /** The model name the provider knows, e.g. gpt-4.1-mini, claude-haiku-4-5, llama3.1:8b. */
    model: z.string().min(1).max(200).optional(),
    /** OpenAI-compatible or Anthropic endpoint; the providers' own *_BASE_URL variables win over it. */
    baseUrl: z.string().url().optional(),
    /** A file holding the key (mode 600), for hosts that mount secrets as files. */
    apiKeyFile: z.string().min(1).optional(),
    /** One request's time limit. */
    timeout: durationBetween(1_000, 600_000).default(30_000),
    /** Attempts per LLM activity call before the offline result is used; 429, 5xx and timeouts are retried. */
    maxAttempts: z.number().int().min(1).max(5).default(3),
    maxOutputTokens: z.number().int().min(64).max(32_000).default(1_500),
    /** json_object suits most OpenAI-compatible servers; json_schema asks for structured outputs. */
    responseFormat: z.enum(['json_schema', 'json_object', 'none']).default('json_object'),
    /** Narratives in summary.md (and post-mortems) from the model; off keeps them deterministic. */
    narratives: z.boolean().default(true),
    /** USD per million tokens, for the estimated cost; a built-in table covers common models. */
    pricing: z
      .object({ inputPerMTok: z.number().nonnegative(), outputPerMTok: z.number().nonnegative() })
      .strict()
      .optional(),
    apiKey: z.never({ error: KEY_IN_YAML }).optional(),
  })
  .strict();

export type LlmConfig = z.infer<typeof llmConfigSchema>;

/** The section's value when opsflow.yaml has none. */
export const DEFAULT_LLM_CONFIG: LlmConfig = llmConfigSchema.parse({});

/** Tokens and estimated cost of the LLM calls behind one result. */
export const llmUsageSchema = z
  .object({
    calls: z.number().int().nonnegative(),
    inputTokens: z.number().int().nonnegative(),
    outputTokens: z.number().int().nonnegative(),
    estimatedCostUsd: z.number().nonnegative(),
  })
  .strict();
export type LlmUsage = z.infer<typeof llmUsageSchema>;

/** No calls yet. */
export const NO_USAGE: LlmUsage = { calls: 0, inputTokens: 0, outputTokens: 0, estimatedCostUsd: 0 };

/** Adds usages; cost rounded to micro-dollars so sums stay readable. */
export function addUsage(...usages: (LlmUsage | undefined)[]): LlmUsage {
  const total = { ...NO_USAGE };
  for (const u of usages) {
    if (!u) continue;
    total.calls += u.calls;
    total.inputTokens += u.inputTokens;
    total.outputTokens += u.outputTokens;
    total.estimatedCostUsd = Math.round((total.estimatedCostUsd + u.estimatedCostUsd) * 1e6) / 1e6;
  }
  return total;
}

/** Where the full prompt and response of one call were kept, and their hash: what history holds of them. */
export const llmAuditRefSchema = z
  .object({ purpose: z.string(), model: z.string(), hash: z.string(), file: z.string() })
  .strict();
export type LlmAuditRef = z.infer<typeof llmAuditRefSchema>;
