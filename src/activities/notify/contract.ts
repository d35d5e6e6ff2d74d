/**
 * The notification channel contract: anything that can tell people about an event (Slack, PagerDuty, a webhook,
 * GitHub deployments, email). Each kind lives in a folder of its own beside this file and is built by `registry.ts`
 * from the worker's `notifications.channels`; the notify activity routes events to channels by the worker's rules.
 *
 * The rules every channel keeps:
 * - At most one message per event: `send` of an event whose id the channel already has sends nothing, also when the
 *   earlier send's worker died before it could record it. A channel that can see it answers `duplicate: true` (Slack:
 *   message metadata looked up before posting); one whose service dedups sends again with the same key and answers
 *   `duplicate: false` (PagerDuty's dedup key, the CloudEvent id a receiver dedups on).
 * - A failure says whether a retry can help: {@link ChannelError} with `retryable` (HTTP 5xx, timeouts, 429 with its
 *   Retry-After) or not (invalid_auth, a 4xx that will not change). Anything else thrown counts as retryable.
 * - No credential in a result, an error message or a log line.
 */
import type { OpsEvent } from '../../shared/notify/events';

export interface SendResult {
  /** The channel's handle of what it sent or found (Slack ts, dedup key, CloudEvent id, deployment id). */
  ref: string;
  /** The event was already there: nothing was sent. */
  duplicate: boolean;
  /** For people: what was sent. */
  detail: string;
}

export interface Channel {
  /** The kind, as the config names it (slack, webhook, pagerduty, github, email). */
  readonly kind: string;
  /** Whether the channel has anything to send for this event (PagerDuty: only events that open or close incidents). */
  wants?(event: OpsEvent): boolean;
  send(event: OpsEvent): Promise<SendResult>;
}

/** A channel's failure: one line without credentials, and whether retrying can help. */
export class ChannelError extends Error {
  override name = 'ChannelError';
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The service asked to wait this long (429 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
