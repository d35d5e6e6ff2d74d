import { setTimeout as delay } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../../shared/errors';
import { MAX_RETRY_AFTER_MS, type LlmError } from './errors';

/** Decides what a retryable LLM failure (429, 5xx, timeout) leads to: another try, or the offline result. */
export interface RetryStrategy {
  /** Resolves true to try again now; false to give up; or throws to let Temporal retry the activity. */
  onRetryable(error: LlmError, attempt: number): Promise<boolean>;
}

/**
 * Inside an activity: retries are Temporal's. Before the last allowed attempt the failure is thrown with the
 * provider's Retry-After as the next retry delay (visible in the pending activity); on the last one the
 * caller falls back to the offline result, so an LLM outage never fails a deploy.
 */
export function temporalRetry(maxAttempts: number): RetryStrategy {
  return {
    async onRetryable(error) {
      const attempt = Context.current().info.attempt;
      if (attempt >= maxAttempts || (error.retryAfterMs ?? 0) > MAX_RETRY_AFTER_MS) return false;
      throw ApplicationFailure.create({
        type: ErrorType.LlmUnavailable,
        message: `${error.message} (attempt ${attempt} of ${maxAttempts})`,
        nonRetryable: false,
        ...(error.retryAfterMs !== undefined ? { nextRetryDelay: Math.max(error.retryAfterMs, 100) } : {}),
      });
    },
  };
}

/** When the current activity times out, less a margin for writing the result; undefined outside an activity. */
export function activityDeadline(marginMs = 3_000): number | undefined {
  let timeoutMs: number | undefined;
  try {
    timeoutMs = Context.current().info.startToCloseTimeoutMs;
  } catch {
    return undefined;
  }
  return timeoutMs ? Date.now() + timeoutMs - marginMs : undefined;
}

/** Outside Temporal (the CLI): wait Retry-After, or 1 s, 2 s, 4 s…, up to maxAttempts calls in all. */
export function inlineRetry(maxAttempts: number, sleep: (ms: number) => Promise<unknown> = delay): RetryStrategy {
  return {
    async onRetryable(error, attempt) {
      if (attempt >= maxAttempts) return false;
      const wait = error.retryAfterMs ?? 1000 * 2 ** (attempt - 1);
      if (wait > MAX_RETRY_AFTER_MS) return false;
      await sleep(wait);
      return true;
    },
  };
}
