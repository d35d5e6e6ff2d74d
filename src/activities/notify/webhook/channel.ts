/**
 * The `webhook` channel: each event POSTed as a CloudEvents 1.0 document in structured mode
 * (`content-type: application/cloudevents+json`), built and serialized by the `cloudevents` SDK, and signed with the
 * shared secret (signature.ts), so any tool (Teams, Discord, an internal bot) can subscribe and trust what it gets.
 *
 * The document: `id` = the event's id, `source` = `opsflow/<project>`, `type` = `dev.opsflow.<event type>`, `subject` =
 * the deploy id (the project for the agent's events), `time` = the event's time, `datacontenttype` =
 * `application/json`, `data` = the event itself as the catalogue (src/shared/notify/events.ts) defines it.
 *
 * At most one message per event is the receiver's to keep, and the CloudEvent id is what it keeps it by: the id is
 * the event's, stable across retries and replays, so a receiver that has seen a `source` + `id` answers 2xx and does
 * nothing (the CloudEvents spec: consumers may assume events with identical source and id are duplicates). This channel cannot know whether an earlier attempt arrived (a
 * worker killed after the POST, a timeout after the receiver took it): a retry sends again, and `duplicate` is
 * always false.
 *
 * 2xx is delivered; 429 (Retry-After honoured), 408, 5xx, timeouts and unreachable hosts are retryable; a redirect and
 * any other 4xx (401 for a signature the receiver refuses) are not. Messages name the URL's origin only, never its
 * path (which may hold a token) nor the secret.
 */
import { CloudEvent, HTTP } from 'cloudevents';
import { groupKey, type OpsEvent } from '../../../shared/notify/events';
import { parseChannelConfig } from '../channel-config';
import { ChannelError, type Channel, type SendResult } from '../contract';
import { credentialSource, readCredential, type Env } from '../credentials';
import { failureOf, originOf, post } from '../http';
import {
  DEFAULT_WEBHOOK_SECRET_ENV,
  MIN_WEBHOOK_SECRET_LENGTH,
  webhookChannelConfigSchema,
  type WebhookChannelConfig,
} from './config';
import { SIGNATURE_HEADER, signWebhookBody } from './signature';

/** The CloudEvents `type` prefix of every opsflow event. */
export const CLOUDEVENT_TYPE_PREFIX = 'dev.opsflow.';

/** What a webhook channel needs besides its config; tests pass their own. */
export interface WebhookDeps {
  env?: Env;
  /** The clock the signature's timestamp is read from. */
  now?: () => number;
  fetch?: typeof fetch;
}

/** The CloudEvent an event is sent as. */
export function toCloudEvent(event: OpsEvent): CloudEvent<OpsEvent> {
  return new CloudEvent<OpsEvent>({
    specversion: '1.0',
    id: event.id,
    source: `opsflow/${event.project}`,
    type: `${CLOUDEVENT_TYPE_PREFIX}${event.type}`,
    subject: 'deployId' in event ? event.deployId : event.project,
    time: event.time,
    datacontenttype: 'application/json',
    data: event,
  });
}

/** Sends events to one URL, signed with the worker's shared secret. */
export class WebhookChannel implements Channel {
  readonly kind = 'webhook';
  private readonly env: Env;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch;

  constructor(
    private readonly config: WebhookChannelConfig,
    deps: WebhookDeps = {},
  ) {
    this.env = deps.env ?? process.env;
    this.now = deps.now ?? Date.now;
    this.fetchImpl = deps.fetch ?? fetch;
  }

  async send(event: OpsEvent): Promise<SendResult> {
    const secret = this.secret();
    const message = HTTP.structured(toCloudEvent(event));
    if (typeof message.body !== 'string') throw new ChannelError('the CloudEvent did not serialize to text', false);
    const headers: Record<string, string> = {
      'content-type': String(message.headers['content-type']),
      'user-agent': 'opsflow-webhook',
      [SIGNATURE_HEADER]: signWebhookBody(message.body, secret, this.now()),
    };
    const where = `webhook ${originOf(this.config.url)}`;
    const answer = await post(where, this.config.url, message.body, headers, this.config.timeout, this.fetchImpl);
    if (answer.status < 200 || answer.status >= 300) throw failureOf(where, answer, answer.text.slice(0, 500), secret);
    return {
      ref: event.id,
      duplicate: false,
      detail: `CloudEvent ${CLOUDEVENT_TYPE_PREFIX}${event.type} for ${groupKey(event)} delivered to ${originOf(this.config.url)} (HTTP ${answer.status})`,
    };
  }

  private secret(): string {
    const source = credentialSource(this.config.secretFile, this.config.secretEnv, DEFAULT_WEBHOOK_SECRET_ENV);
    const secret = readCredential('the webhook signing secret', source, this.env);
    if (secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
      throw new ChannelError(
        `the webhook signing secret is shorter than ${MIN_WEBHOOK_SECRET_LENGTH} characters: use a random one, e.g. from openssl rand -hex 32`,
        false,
      );
    }
    return secret;
  }
}

/** The registry's factory: the channel of a `notifications.channels.<name>` block, or a ConfigError in one line. */
export function createWebhookChannel(block: unknown, context: { name: string; env: Env }): WebhookChannel {
  return new WebhookChannel(parseChannelConfig(webhookChannelConfigSchema, block, context.name), { env: context.env });
}
