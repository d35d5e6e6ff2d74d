import type { LlmSettings } from './settings';

/** USD per million tokens. */
export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
}

/**
 * List prices of common models (USD per million input / output tokens, from the providers' pricing pages
 * in 2025); a prefix matches dated snapshots. llm.pricing overrides them; unknown models cost 0 (estimated).
 */
const KNOWN: [prefix: string, price: Price][] = [
  ['gpt-4o-mini', { inputPerMTok: 0.15, outputPerMTok: 0.6 }],
  ['gpt-4o', { inputPerMTok: 2.5, outputPerMTok: 10 }],
  ['gpt-4.1-nano', { inputPerMTok: 0.1, outputPerMTok: 0.4 }],
  ['gpt-4.1-mini', { inputPerMTok: 0.4, outputPerMTok: 1.6 }],
  ['gpt-4.1', { inputPerMTok: 2, outputPerMTok: 8 }],
  ['gpt-5-mini', { inputPerMTok: 0.25, outputPerMTok: 2 }],
  ['gpt-5', { inputPerMTok: 1.25, outputPerMTok: 10 }],
  ['claude-3-5-haiku', { inputPerMTok: 0.8, outputPerMTok: 4 }],
  ['claude-haiku-4', { inputPerMTok: 1, outputPerMTok: 5 }],
  ['claude-sonnet-4', { inputPerMTok: 3, outputPerMTok: 15 }],
  ['claude-3-7-sonnet', { inputPerMTok: 3, outputPerMTok: 15 }],
  ['claude-opus-4', { inputPerMTok: 15, outputPerMTok: 75 }],
];

/** The price used for a model: the configured one, else the longest known prefix, else none. */
export function priceOf(model: string, settings?: Pick<LlmSettings, 'pricing'>): Price | undefined {
  if (settings?.pricing) return settings.pricing;
  const name = model.toLowerCase().replace(/^.*\//, '');
  return KNOWN.filter(([prefix]) => name.startsWith(prefix)).sort((a, b) => b[0].length - a[0].length)[0]?.[1];
}

/** Estimated cost of one call in USD, to the micro-dollar. */
export function estimateCost(price: Price | undefined, inputTokens: number, outputTokens: number): number {
  if (!price) return 0;
  const usd = (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1_000_000;
  return Math.round(usd * 1e6) / 1e6;
}
