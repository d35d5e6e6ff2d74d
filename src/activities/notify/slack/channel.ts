/**
 * The `slack` channel: one message per deploy per channel, updated in place as the deploy moves, with one reply per
 * event in its thread; an agent's event is a message of its own. Built on `@slack/web-api` with its own retries off:
 * a failed call fails the send, and Temporal's activity retry (honouring a 429's Retry-After) sends it again.
 *
 * At most one message per event, also when a worker dies mid-send: everything opsflow posts carries message metadata,
 * and every send looks before it posts. The deploy's message is found in the channel's recent history by
 * `opsflow_deploy` metadata with the deploy's id; the event's reply in that thread by `opsflow_event` metadata with the
 * event's id. Only messages of this token's own bot count, so another app cannot hijack a thread or silence an event.
 *
 * The bot needs the scopes chat:write and channels:history (groups:history for a private channel), and must be a member
 * of the channel. The token is read from the worker's environment variable the config names; it is never in a message,
 * an error or a log line. The look-ups are conversations.history and .replies: Tier 3 for a team's own app, but Slack
 * allows one a minute to apps distributed outside its Marketplace (since 2025); there they meet 429s, which the
 * activity's retry waits out.
 */
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type Logger,
  type WebAPICallResult,
} from '@slack/web-api';
import { z } from 'zod';
import type { DeployEvent, OpsEvent } from '../../../shared/notify/events';
import { ChannelError, type Channel, type SendResult } from '../contract';
import { DEFAULT_SLACK_API_URL, parseSlackChannelConfig, type SlackChannelConfig } from './config';
import { deployMessage, eventMessage } from './message';
import { DEPLOY_MESSAGE_TYPE, EVENT_MESSAGE_TYPE } from './types';

/** How far back a deploy's message or an agent event's message is looked for (a deploy may wait out a long freeze). */
export const LOOKBACK_MS = 30 * 24 * 3_600_000;
/** Messages per history or thread page, and pages read at most: the look-up stays bounded in a busy channel. */
export const PAGE_SIZE = 200;
export const HISTORY_PAGES = 5;
export const THREAD_PAGES = 10;
/** One HTTP request's limit, so a hung connection fails the attempt well within the activity's timeout. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface SlackChannelOptions {
  /** The channel's name under notifications.channels, for messages that say what to fix. */
  name?: string;
  /** The worker's environment, where the token is read. */
  env?: NodeJS.ProcessEnv;
  /** Where the SDK's own log lines go; none by default (the notify activity reports each delivery). */
  logger?: Logger;
  requestTimeoutMs?: number;
}

/** A message as opsflow reads it back: only the fields it decides on, checked. */
const messageSchema = z.object({
  ts: z.string().min(1),
  user: z.string().optional(),
  bot_id: z.string().optional(),
  metadata: z.object({ event_type: z.string(), event_payload: z.record(z.string(), z.unknown()) }).optional(),
});
type ReadMessage = z.infer<typeof messageSchema>;

const pageSchema = z.object({
  messages: z.array(z.unknown()).optional(),
  has_more: z.boolean().optional(),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});

/** Who this token posts as: its bot (and bot user), from auth.test. */
interface Identity {
  userId?: string;
  botId?: string;
}

/** Slack's answers that a retry can help (besides 429, 5xx and the network). */
const TRANSIENT = new Set([
  'ratelimited',
  'rate_limited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'update_failed',
  'team_added_to_org',
  'org_login_required',
  'external_channel_migrating',
]);

/** What the token's answers mean for the person who fixes it. */
const TOKEN_PROBLEMS: Record<string, string> = {
  not_authed: 'no token reached Slack',
  invalid_auth: 'Slack refused the token',
  account_inactive: 'the token belongs to a deactivated user or workspace',
  token_revoked: 'the token was revoked or the app uninstalled',
  token_expired: 'the token has expired',
  not_allowed_token_type: 'Slack does not take this kind of token here',
  no_permission: 'the token may not do this',
  access_denied: 'the token may not do this',
  ekm_access_denied: "the workspace's administrators suspended posting",
  team_access_not_granted: 'the token was not granted access to this workspace',
};

/** The deploy message may be gone or not editable; the event's reply still carries the news. */
const ROOT_NOT_EDITABLE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

const SILENT_LOGGER: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

export class SlackChannel implements Channel {
  readonly kind = 'slack';
  private readonly name: string;
  private readonly token: string | undefined;
  private readonly client: WebClient | undefined;
  private identity?: Promise<Identity>;

  constructor(
    private readonly config: SlackChannelConfig,
    options: SlackChannelOptions = {},
  ) {
    this.name = options.name ?? 'slack';
    const token = (options.env ?? process.env)[config.tokenEnv]?.trim();
    this.token = token ? token : undefined;
    this.client = this.token
      ? new WebClient(this.token, {
          slackApiUrl: config.apiUrl ?? DEFAULT_SLACK_API_URL,
          // Retries belong to the activity: the SDK would otherwise retry for 30 minutes, or sleep out a Retry-After.
          retryConfig: { retries: 0 },
          rejectRateLimitedCalls: true,
          timeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
          allowAbsoluteUrls: false,
          logger: options.logger ?? SILENT_LOGGER,
        })
      : undefined;
  }

  async send(event: OpsEvent): Promise<SendResult> {
    const client = this.client;
    if (!client) {
      throw new ChannelError(
        `slack ${this.config.channel}: ${this.config.tokenEnv} is not set in the worker's environment: set it to the Slack app's bot token (xoxb-...)`,
        false,
      );
    }
    return 'deployId' in event ? this.sendDeployEvent(client, event) : this.sendAgentEvent(client, event);
  }

  /** The deploy's message (found, or posted), brought up to this event, and the event's reply in its thread. */
  private async sendDeployEvent(client: WebClient, event: DeployEvent): Promise<SendResult> {
    const channel = this.config.channel;
    const me = await this.whoAmI(client);
    const message = deployMessage(event);
    const isDeployMessage = (m: ReadMessage) =>
      m.metadata?.event_type === DEPLOY_MESSAGE_TYPE && m.metadata.event_payload.deployId === event.deployId;
    let root = await this.findInHistory(client, me, event, isDeployMessage);
    let rootTs: string;
    let rootNote: string;
    if (root) {
      rootTs = root.ts;
      rootNote = 'deploy message already showed this event';
    } else {
      rootTs = await this.post(client, 'chat.postMessage', () =>
        client.chat.postMessage({ channel, ...message, parse: 'none', unfurl_links: false, unfurl_media: false }),
      );
      rootNote = 'deploy message posted';
      // Another send of this deploy may have posted its first message at the same time: all keep the earliest.
      const earliest = await this.findInHistory(client, me, event, isDeployMessage);
      if (earliest && earliest.ts !== rootTs) {
        await this.deleteOwn(client, rootTs);
        root = earliest;
        rootTs = earliest.ts;
        rootNote = 'deploy message posted at the same time by another send';
      }
    }

    const earlier = await this.findInThread(client, me, rootTs, event.id);
    if (earlier) {
      return {
        ref: `${channel}/${earlier.ts}`,
        duplicate: true,
        detail: `${event.type} was already in the thread of ${rootTs} in ${channel}: nothing sent`,
      };
    }

    if (root && isOlderState(root, event)) {
      rootNote = await this.updateRoot(client, rootTs, message);
    } else if (root && root.metadata?.event_payload.eventId !== event.id) {
      rootNote = 'deploy message left as it is: it shows a later event';
    }
    const reply = eventMessage(event);
    const ts = await this.post(client, 'chat.postMessage', () =>
      client.chat.postMessage({
        channel,
        thread_ts: rootTs,
        ...reply,
        // What asks for a person (or reports harm) is shown in the channel too, not only in the thread.
        reply_broadcast: event.severity !== 'info',
        parse: 'none',
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    return {
      ref: `${channel}/${ts}`,
      duplicate: false,
      detail: `${event.type} posted in the thread of ${rootTs} in ${channel} (${rootNote})`,
    };
  }

  /** An agent's event: a message of its own, unless the channel's recent history has it already. */
  private async sendAgentEvent(client: WebClient, event: OpsEvent): Promise<SendResult> {
    const channel = this.config.channel;
    const me = await this.whoAmI(client);
    const earlier = await this.findInHistory(client, me, event, (m) => isEventMessage(m, event.id));
    if (earlier) {
      return {
        ref: `${channel}/${earlier.ts}`,
        duplicate: true,
        detail: `${event.type} was already posted in ${channel}: nothing sent`,
      };
    }
    const ts = await this.post(client, 'chat.postMessage', () =>
      client.chat.postMessage({
        channel,
        ...eventMessage(event),
        parse: 'none',
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    return { ref: `${channel}/${ts}`, duplicate: false, detail: `${event.type} posted in ${channel}` };
  }

  /** Rewrites the deploy message; a message Slack will not let us edit is left as it is (the reply still goes). */
  private async updateRoot(client: WebClient, ts: string, message: ReturnType<typeof deployMessage>): Promise<string> {
    try {
      // chat.update resets `parse` to its own default unless it is given again.
      await client.chat.update({ channel: this.config.channel, ts, ...message, parse: 'none' });
      return 'deploy message updated';
    } catch (err) {
      if (err instanceof WebAPIPlatformError && ROOT_NOT_EDITABLE.has(err.data.error)) {
        return `deploy message not updated: ${errorCode(err.data.error)}`;
      }
      throw this.failure('chat.update', err);
    }
  }

  /** Takes back a deploy message posted twice; one that will not go stays, and later sends ignore it (not the earliest). */
  private async deleteOwn(client: WebClient, ts: string): Promise<void> {
    try {
      await client.chat.delete({ channel: this.config.channel, ts });
    } catch (err) {
      if (!(err instanceof WebAPIPlatformError)) throw this.failure('chat.delete', err);
    }
  }

  /** This token's bot, asked once per channel object (again after a failure). */
  private async whoAmI(client: WebClient): Promise<Identity> {
    this.identity ??= (async () => {
      const answer = await client.auth.test();
      return {
        ...(typeof answer.user_id === 'string' ? { userId: answer.user_id } : {}),
        ...(typeof answer.bot_id === 'string' ? { botId: answer.bot_id } : {}),
      };
    })();
    try {
      return await this.identity;
    } catch (err) {
      this.identity = undefined;
      throw this.failure('auth.test', err);
    }
  }

  /**
   * A message of ours in the channel's recent history that `match` accepts: the earliest on the first page that has
   * one, so that sends racing to post a deploy's first message all continue under the same one afterwards.
   */
  private async findInHistory(
    client: WebClient,
    me: Identity,
    event: OpsEvent,
    match: (m: ReadMessage) => boolean,
  ): Promise<ReadMessage | undefined> {
    const oldest = `${Math.max(0, Math.floor((Date.parse(event.time) - LOOKBACK_MS) / 1_000))}.000000`;
    let cursor: string | undefined;
    for (let page = 0; page < HISTORY_PAGES; page++) {
      const answer = await this.call('conversations.history', () =>
        client.conversations.history({
          channel: this.config.channel,
          include_all_metadata: true,
          limit: PAGE_SIZE,
          oldest,
          ...(cursor ? { cursor } : {}),
        }),
      );
      const { messages, next } = readPage(answer);
      const found = messages.filter((m) => isOurs(m, me) && match(m)).sort((a, b) => compareTs(a.ts, b.ts))[0];
      if (found || !next) return found;
      cursor = next;
    }
    return undefined;
  }

  /** Our reply carrying `eventId` in the thread of `rootTs`. */
  private async findInThread(
    client: WebClient,
    me: Identity,
    rootTs: string,
    eventId: string,
  ): Promise<ReadMessage | undefined> {
    let cursor: string | undefined;
    for (let page = 0; page < THREAD_PAGES; page++) {
      const answer = await this.call('conversations.replies', () =>
        client.conversations.replies({
          channel: this.config.channel,
          ts: rootTs,
          include_all_metadata: true,
          limit: PAGE_SIZE,
          ...(cursor ? { cursor } : {}),
        }),
      );
      const { messages, next } = readPage(answer);
      const found = messages.find((m) => m.ts !== rootTs && isOurs(m, me) && isEventMessage(m, eventId));
      if (found || !next) return found;
      cursor = next;
    }
    return undefined;
  }

  /** A post, answered with the new message's ts. */
  private async post(client: WebClient, method: string, send: () => Promise<{ ts?: string }>): Promise<string> {
    const answer = await this.call(method, send);
    if (typeof answer.ts !== 'string' || !answer.ts) {
      throw new ChannelError(`slack ${this.config.channel}: ${method} answered without a message ts`, true);
    }
    return answer.ts;
  }

  private async call<T>(method: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw this.failure(method, err);
    }
  }

  /** The one place Slack's failures become ChannelErrors: one line, retryable or not, never the token. */
  private failure(method: string, err: unknown): ChannelError {
    if (err instanceof ChannelError) return err;
    const where = `slack ${this.config.channel}: ${method}`;
    if (err instanceof WebAPIRateLimitedError) {
      return new ChannelError(
        `${where}: rate limited by Slack, retry after ${err.retryAfter} s`,
        true,
        err.retryAfter * 1_000,
      );
    }
    if (err instanceof WebAPIHTTPError) {
      const status = err.statusCode;
      const retryable = status === 408 || status === 429 || status >= 500;
      return new ChannelError(
        retryable
          ? `${where}: Slack answered HTTP ${status}`
          : `${where}: Slack answered HTTP ${status}: check notifications.channels.${this.name}.apiUrl (${this.config.apiUrl ?? DEFAULT_SLACK_API_URL})`,
        retryable,
      );
    }
    if (err instanceof WebAPIRequestError) {
      return new ChannelError(
        `${where}: Slack could not be reached: ${this.redact(describeCause(err.original))}`,
        true,
      );
    }
    if (err instanceof WebAPIPlatformError) return this.platformFailure(where, err);
    const message = err instanceof Error ? err.message : String(err);
    return new ChannelError(`${where}: ${this.redact(message)}`, true);
  }

  private platformFailure(where: string, err: WebAPIPlatformError): ChannelError {
    const code = errorCode(err.data.error);
    const env = this.config.tokenEnv;
    const channel = this.config.channel;
    const setting = `notifications.channels.${this.name}.channel`;
    if (TRANSIENT.has(code)) {
      const retryAfter = err.data.response_metadata?.retryAfter;
      return new ChannelError(
        `${where}: ${code}`,
        true,
        typeof retryAfter === 'number' && retryAfter > 0 ? retryAfter * 1_000 : undefined,
      );
    }
    const tokenProblem = TOKEN_PROBLEMS[code];
    if (tokenProblem) {
      return new ChannelError(
        `${where}: ${code}: ${tokenProblem}: set ${env} in the worker's environment to the Slack app's bot token (xoxb-...)`,
        false,
      );
    }
    switch (code) {
      case 'missing_scope': {
        const data = err.data as WebAPICallResult & { needed?: unknown };
        const needed = typeof data.needed === 'string' ? scopes(data.needed) : '';
        return new ChannelError(
          `${where}: missing_scope: the token in ${env} lacks ${needed || 'a scope'}: add chat:write and channels:history (groups:history for a private channel) to the Slack app, reinstall it and update ${env}`,
          false,
        );
      }
      case 'channel_not_found':
        return new ChannelError(
          `${where}: channel_not_found: the workspace of the token in ${env} has no channel ${channel} the bot can see: check ${setting} (a channel id) and ${env}`,
          false,
        );
      case 'not_in_channel':
        return new ChannelError(
          `${where}: not_in_channel: the bot of the token in ${env} is not a member of ${channel}: invite it there (/invite @the-app), or change ${setting}`,
          false,
        );
      case 'is_archived':
      case 'is_inactive':
        return new ChannelError(
          `${where}: ${code}: channel ${channel} is archived: unarchive it or change ${setting}`,
          false,
        );
      default:
        if (code.startsWith('restricted_action')) {
          return new ChannelError(
            `${where}: ${code}: the bot of the token in ${env} may not post in ${channel}: allow it in the channel's settings or change ${setting}`,
            false,
          );
        }
        return new ChannelError(`${where}: Slack refused the request: ${code}`, false);
    }
  }

  /** Text from outside (an error's message) with the token, or anything shaped like a Slack token, taken out. */
  private redact(text: string): string {
    const token = this.token;
    const withoutToken = token ? text.split(token).join('[token]') : text;
    return withoutToken
      .replace(/xox[a-z]-[A-Za-z0-9-]+/g, '[token]')
      .replace(/\s+/g, ' ')
      .slice(0, 300);
  }
}

/** The `channel` block of the worker's config as a channel; a refused block is a ConfigError in one line. */
export function createSlackChannel(block: unknown, context: { name: string; env: NodeJS.ProcessEnv }): SlackChannel {
  return new SlackChannel(parseSlackChannelConfig(block, context.name), { name: context.name, env: context.env });
}

/** Messages of a history or thread page that parse; the cursor of the next page when there is one. */
function readPage(answer: unknown): { messages: ReadMessage[]; next: string | undefined } {
  const page = pageSchema.safeParse(answer);
  if (!page.success) return { messages: [], next: undefined };
  const messages = (page.data.messages ?? []).flatMap((m) => {
    const parsed = messageSchema.safeParse(m);
    return parsed.success ? [parsed.data] : [];
  });
  const cursor = page.data.response_metadata?.next_cursor;
  return { messages, next: page.data.has_more && cursor ? cursor : undefined };
}

/** Posted by this token's bot (or user): another app's message with our metadata is not ours. */
function isOurs(message: ReadMessage, me: Identity): boolean {
  if (me.botId !== undefined) return message.bot_id === me.botId;
  return me.userId !== undefined && message.user === me.userId;
}

function isEventMessage(message: ReadMessage, eventId: string): boolean {
  return message.metadata?.event_type === EVENT_MESSAGE_TYPE && message.metadata.event_payload.eventId === eventId;
}

/** The deploy message shows an earlier event than this one (a late retry of an older event leaves it as it is). */
function isOlderState(root: ReadMessage, event: DeployEvent): boolean {
  const payload = root.metadata?.event_payload ?? {};
  if (payload.eventId === event.id) return false;
  const shown = typeof payload.eventTime === 'string' ? Date.parse(payload.eventTime) : Number.NaN;
  return !Number.isFinite(shown) || Date.parse(event.time) >= shown;
}

/** Slack timestamps in time order ("seconds.micros"; too many digits for a double to compare exactly). */
export function compareTs(a: string, b: string): number {
  const key = (ts: string) => {
    const [seconds = '', micros = ''] = ts.split('.');
    return `${seconds.padStart(12, '0')}.${micros.padEnd(6, '0')}`;
  };
  const [ka, kb] = [key(a), key(b)];
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Slack's error code as we repeat it: its own characters only, short. */
function errorCode(code: unknown): string {
  return typeof code === 'string' ? code.replace(/[^a-z0-9_.]/gi, '').slice(0, 60) || 'unknown_error' : 'unknown_error';
}

/** A scope list from Slack's `needed`, its characters only. */
function scopes(needed: string): string {
  return needed.replace(/[^a-z0-9:._,]/gi, '').slice(0, 120);
}

/** A network failure's message with its cause's code (fetch says only "fetch failed"). */
function describeCause(err: Error): string {
  const cause = (err as Error & { cause?: unknown }).cause;
  const code =
    cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string' ? ` (${cause.code})` : '';
  return `${err.message}${code}`;
}
