import { addUsage, NO_USAGE, type LlmAuditRef, type LlmUsage } from '../../config/llm';
import { writeAudit, type AuditSink } from './audit';
import { LlmError } from './errors';
import { estimateCost, priceOf, type Price } from './pricing';
import type { ChatMessage, CompletionRequest, LlmProvider } from './provider';
import type { RetryStrategy } from './retry';

/** Shortest time worth starting a call in. */
const MIN_CALL_MS = 1_000;

/** The verdict on one answer: the value, or what is wrong with it (sent back to the model once). */
export type Check<T> = { ok: true; value: T } | { ok: false; issue: string };

/** A call that asks for an answer, checks it, and asks once more to repair it. */
export interface AskRequest<T> {
  purpose: string;
  promptVersion: string;
  system: string;
  user: string;
  json?: CompletionRequest['json'];
  maxOutputTokens: number;
  check: (text: string, structured: unknown) => Check<T>;
  /** The turn that asks for a repair, given what was wrong. */
  repair: (issue: string) => string;
  /** Epoch ms by which every call must be done (the activity's timeout); later calls are not started. */
  deadline?: number;
}

/** The outcome: a checked value, or the reason to fall back; with the calls' usage and audit references. */
export type AskResult<T> = ({ ok: true; value: T } | { ok: false; reason: string }) & {
  usage: LlmUsage;
  audit: LlmAuditRef[];
  model: string;
};

/**
 * A provider with the bookkeeping around it: every call's full text goes to an audit file, its tokens
 * and estimated cost are counted, and an answer that fails its check gets one repair attempt.
 */
export class LlmClient {
  readonly #price: Price | undefined;

  constructor(
    readonly provider: LlmProvider,
    private readonly retry: RetryStrategy,
    pricing?: Price,
  ) {
    this.#price = priceOf(provider.model, pricing ? { pricing } : undefined);
  }

  /** Asks, checks, repairs once. Non-retryable failures and exhausted retries become `ok: false`. */
  async ask<T>(sink: AuditSink, request: AskRequest<T>): Promise<AskResult<T>> {
    let usage = { ...NO_USAGE };
    const audit: LlmAuditRef[] = [];
    let model = this.provider.model;
    const messages: ChatMessage[] = [{ role: 'user', content: request.user }];
    const done = (result: { ok: true; value: T } | { ok: false; reason: string }): AskResult<T> => ({
      ...result,
      usage,
      audit,
      model,
    });

    for (let turn = 0; turn < 2; turn++) {
      const purpose = turn === 0 ? request.purpose : `${request.purpose}-repair`;
      const completionRequest: CompletionRequest = {
        system: request.system,
        messages: [...messages],
        maxOutputTokens: request.maxOutputTokens,
        ...(request.json ? { json: request.json } : {}),
      };
      let completion;
      let started = Date.now();
      const left = request.deadline !== undefined ? request.deadline - Date.now() : undefined;
      if (left !== undefined && left < MIN_CALL_MS) {
        return done({ ok: false, reason: "no time left for the model within the activity's startToCloseTimeout" });
      }
      if (left !== undefined) completionRequest.timeoutMs = left;
      for (let attempt = 1; ; attempt++) {
        started = Date.now();
        try {
          completion = await this.provider.complete(completionRequest);
          break;
        } catch (err) {
          const error = err instanceof LlmError ? err : new LlmError('unavailable', (err as Error).message);
          audit.push(this.#record(sink, request, purpose, completionRequest, started, { error: error.message }));
          if (error.retryable && (await this.retry.onRetryable(error, attempt))) continue;
          return done({ ok: false, reason: error.message });
        }
      }
      model = completion.model;
      const cost = estimateCost(this.#price, completion.inputTokens, completion.outputTokens);
      usage = addUsage(usage, {
        calls: 1,
        inputTokens: completion.inputTokens,
        outputTokens: completion.outputTokens,
        estimatedCostUsd: cost,
      });
      audit.push(
        this.#record(sink, request, purpose, completionRequest, started, {
          response: completion.text,
          inputTokens: completion.inputTokens,
          outputTokens: completion.outputTokens,
          cost,
          model: completion.model,
        }),
      );
      const checked = request.check(completion.text, completion.structured);
      if (checked.ok) return done(checked);
      if (turn === 1) return done({ ok: false, reason: `the model's answer was invalid twice: ${checked.issue}` });
      messages.push(
        { role: 'assistant', content: completion.text },
        { role: 'user', content: request.repair(checked.issue) },
      );
    }
    return done({ ok: false, reason: 'no answer' });
  }

  #record(
    sink: AuditSink,
    request: AskRequest<unknown>,
    purpose: string,
    completionRequest: CompletionRequest,
    started: number,
    outcome: {
      response?: string;
      error?: string;
      inputTokens?: number;
      outputTokens?: number;
      cost?: number;
      model?: string;
    },
  ): LlmAuditRef {
    return writeAudit(sink, {
      purpose,
      promptVersion: request.promptVersion,
      provider: this.provider.name,
      model: outcome.model ?? this.provider.model,
      baseUrl: this.provider.baseUrl,
      at: new Date().toISOString(),
      latencyMs: Math.max(0, Date.now() - started),
      request: completionRequest,
      ...(outcome.response !== undefined ? { response: outcome.response } : {}),
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      inputTokens: outcome.inputTokens ?? 0,
      outputTokens: outcome.outputTokens ?? 0,
      estimatedCostUsd: outcome.cost ?? 0,
    });
  }
}
