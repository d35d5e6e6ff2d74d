/**
 * A local Slack Web API for tests: an HTTP server on 127.0.0.1 that answers the methods the slack channel calls
 * (auth.test, chat.postMessage, chat.update, chat.delete, conversations.history, conversations.replies) on the wire as
 * Slack does, keeps the messages in memory with their metadata and threads, and can fail on purpose.
 *
 * Checked against the SDK's source (node_modules/@slack/web-api 8.2.0: WebClient.js, its request and response types):
 * - Methods are POSTed to `<slackApiUrl><method>` as `application/x-www-form-urlencoded`, objects (blocks, metadata)
 *   as JSON strings, booleans as "true"/"false", the token as `Authorization: Bearer`; a status other than 200 or
 *   429 is an HTTP error whatever the body; auth.test answers `user_id` and, for a bot token, `bot_id`.
 * Checked against Slack's documentation (the method references of these six methods, read in the slack-api-ref copy of
 * them; the Block Kit text-object reference, the rate-limits page and changelog, the message metadata guide):
 * - Slack also takes the token as a `token` form field, and JSON bodies with the token in the header.
 * - Answers are HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": "<code>"}`: `not_authed` without a
 *   token, `invalid_auth` with a wrong one, `channel_not_found`, `message_not_found` and `cant_update_message` from
 *   chat.update, `cant_delete_message` from chat.delete (which answers `{ok, channel, ts}`), `thread_not_found` from
 *   conversations.replies, `invalid_cursor`, `no_text`.
 * - A rate limit is HTTP 429 with `Retry-After: <seconds>` (the `ratelimited` code).
 * - chat.postMessage answers `{ok, channel, ts, message}` (a bot's message carries `bot_id`); chat.update
 *   `{ok, channel, ts, text, message}`, and keeps the message's metadata unless it is sent again (an empty object
 *   removes it); metadata is `{event_type, event_payload}`.
 * - conversations.history takes `oldest`/`latest` (exclusive unless `inclusive`) and `limit` (default 100, at most
 *   999); both methods page with `has_more` and `response_metadata.next_cursor`; conversations.replies lists the
 *   parent first, then the replies oldest first, each with `thread_ts`; the parent has `reply_count`.
 * - A text object holds 1 to 3,000 characters; a button's text at most 75, its value 2,000, its action_id 255.
 *
 * Assumed (not stated in what was read): metadata comes back only with `include_all_metadata=true` (the stricter
 * reading: the channel must ask for it); history lists newest first; replies broadcast to the channel appear in
 * history with their metadata; a bot's message carries the bot user's id as `user` and its `app_id`; the code for a
 * block over a limit is `invalid_blocks`; a `thread_ts` naming no message is refused as `thread_not_found`;
 * conversations.replies pages over the parent and replies together (default limit 1,000); cursors are opaque
 * offsets; the 429 and 5xx bodies are short JSON errors.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The bot the token belongs to. */
export const FAKE_BOT = { userId: 'U0FAKEBOT1', botId: 'B0FAKEBOT1', appId: 'A0FAKEAPP1', teamId: 'T0FAKETEAM' };

export interface StoredMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  thread_ts?: string;
  reply_broadcast?: boolean;
  user: string;
  bot_id?: string;
  app_id?: string;
  edited?: { user: string; ts: string };
  /** Post order across the server, for sorting. */
  seq: number;
}

/** One request as received: the method, its arguments decoded as Slack reads them, and how it came. */
export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  contentType: string;
  authorization: string | undefined;
}

/** A scripted failure for the next matching calls. */
export type FakeFailure =
  | { status: 429; retryAfterSeconds?: number }
  | { status: 500 | 502 | 503 }
  | { error: string; extra?: Record<string, unknown> };

/** An answer held back by {@link FakeSlack.holdNextAnswer}. */
export interface HeldAnswer {
  /** Resolves with the call once it has arrived and been carried out (its answer not yet sent). */
  received: Promise<RecordedCall>;
  /** Sends the answer (to nobody, when the client is gone). */
  release: () => void;
}

interface Held {
  method: string;
  match: (args: Record<string, unknown>) => boolean;
  arrived: (call: RecordedCall) => void;
  release: () => void;
  released: Promise<void>;
  taken: boolean;
}

interface Pending {
  method: string | undefined;
  remaining: number;
  failure: FakeFailure;
}

type Answer = { status?: number; headers?: Record<string, string>; body: Record<string, unknown> };

const JSON_FIELDS = new Set(['blocks', 'attachments', 'metadata']);
const MAX_TEXT_OBJECT = 3_000;

export class FakeSlack {
  readonly calls: RecordedCall[] = [];
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private readonly messages: StoredMessage[] = [];
  private failures: Pending[] = [];
  private drops: { method: string; remaining: number }[] = [];
  private hooks: { method: string; run: () => void }[] = [];
  private holds: Held[] = [];
  private seq = 0;
  private lastTs = 0;

  constructor(
    private readonly token: string,
    private readonly channels: readonly string[],
  ) {}

  /** Starts on a free port of 127.0.0.1; answers the URL to give the SDK as `slackApiUrl`. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
  }

  async close(): Promise<void> {
    for (const held of this.holds) held.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  /** The next `count` calls (of `method`, when given) fail as scripted, before anything is stored. */
  failNext(count: number, failure: FakeFailure, method?: string): void {
    this.failures.push({ method, remaining: count, failure });
  }

  /** The next call of `method` is carried out (the message stored), but its answer is lost: the connection drops. */
  dropNextAnswer(method: string, count = 1): void {
    this.drops.push({ method, remaining: count });
  }

  /**
   * The next call of `method` whose arguments `match` accepts is carried out (the message stored), but its answer is
   * held back until `release()` (or close): a client killed meanwhile never hears it. `received` resolves with the call
   * once it is carried out. Calls that do not match are answered as usual meanwhile.
   */
  holdNextAnswer(method: string, match: (args: Record<string, unknown>) => boolean = () => true): HeldAnswer {
    let arrived!: (call: RecordedCall) => void;
    let release!: () => void;
    const received = new Promise<RecordedCall>((resolve) => (arrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ method, match, arrived, release, released, taken: false });
    return { received, release };
  }

  /** Runs `run` when the next call of `method` arrives, before it is carried out (another client acting meanwhile). */
  beforeNext(method: string, run: () => void): void {
    this.hooks.push({ method, run });
  }

  /** A message posted by someone else (another app, a person, another worker with the same token), metadata and all. */
  inject(message: Omit<StoredMessage, 'ts' | 'seq'>): StoredMessage {
    const stored = { ...message, ts: this.nextTs(), seq: ++this.seq };
    this.messages.push(stored);
    return stored;
  }

  /** The calls of one method, in order. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Top-level messages of a channel, in post order. */
  topLevel(channel: string): StoredMessage[] {
    return this.messages.filter((m) => m.channel === channel && (m.thread_ts === undefined || m.thread_ts === m.ts));
  }

  /** The replies in the thread of `ts`, in post order. */
  replies(channel: string, ts: string): StoredMessage[] {
    return this.messages.filter((m) => m.channel === channel && m.thread_ts === ts && m.ts !== ts);
  }

  private nextTs(): string {
    // Unique and increasing like Slack's: seconds and a six-digit suffix.
    const micros = Math.max(Date.now() * 1_000, this.lastTs + 1);
    this.lastTs = micros;
    return `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = (req.url ?? '').replace(/^\/api\//, '').replace(/\?.*$/, '');
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    const decoded = decodeBody(contentType, raw);
    const args = decoded.args;
    const call: RecordedCall = { method, args, contentType, authorization: req.headers.authorization };
    this.calls.push(call);

    const hook = this.hooks.findIndex((h) => h.method === method);
    if (hook >= 0) this.hooks.splice(hook, 1)[0]?.run();
    const failure = this.takeFailure(method);
    let answer: Answer;
    if (failure) {
      answer = failureAnswer(failure);
    } else if (decoded.error) {
      answer = { body: { ok: false, error: decoded.error } };
    } else {
      answer = this.authorize(req, contentType, args) ?? this.dispatch(method, args);
    }

    const hold =
      answer.body.ok === true ? this.holds.find((h) => !h.taken && h.method === method && h.match(args)) : undefined;
    if (hold) {
      hold.taken = true;
      hold.arrived(call);
      await hold.released;
      if (req.socket.destroyed) return;
    }

    const drop = this.drops.find((d) => d.method === method && d.remaining > 0);
    if (drop && answer.body.ok === true) {
      drop.remaining--;
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  }

  private takeFailure(method: string): FakeFailure | undefined {
    const pending = this.failures.find((f) => f.remaining > 0 && (f.method === undefined || f.method === method));
    if (!pending) return undefined;
    pending.remaining--;
    this.failures = this.failures.filter((f) => f.remaining > 0);
    return pending.failure;
  }

  /** `not_authed` without a token, `invalid_auth` with another; JSON bodies must carry it in the header. */
  private authorize(req: http.IncomingMessage, contentType: string, args: Record<string, unknown>): Answer | undefined {
    const header = req.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    const token = bearer ?? (contentType === 'application/json' ? undefined : args.token);
    if (token === undefined || token === '') return { body: { ok: false, error: 'not_authed' } };
    if (token !== this.token) return { body: { ok: false, error: 'invalid_auth' } };
    return undefined;
  }

  private dispatch(method: string, args: Record<string, unknown>): Answer {
    switch (method) {
      case 'auth.test':
        return {
          body: {
            ok: true,
            url: 'https://fake.slack.invalid/',
            team: 'Fake',
            user: 'opsflow',
            team_id: FAKE_BOT.teamId,
            user_id: FAKE_BOT.userId,
            bot_id: FAKE_BOT.botId,
            is_enterprise_install: false,
          },
        };
      case 'chat.postMessage':
        return this.postMessage(args);
      case 'chat.update':
        return this.update(args);
      case 'chat.delete':
        return this.delete(args);
      case 'conversations.history':
        return this.history(args);
      case 'conversations.replies':
        return this.threadReplies(args);
      default:
        return { status: 404, body: { ok: false, error: 'unknown_method' } };
    }
  }

  private channelOf(args: Record<string, unknown>): string | undefined {
    const channel = args.channel;
    return typeof channel === 'string' && this.channels.includes(channel) ? channel : undefined;
  }

  private postMessage(args: Record<string, unknown>): Answer {
    const channel = this.channelOf(args);
    if (!channel) return { body: { ok: false, error: 'channel_not_found' } };
    const content = checkContent(args);
    if ('error' in content) return { body: { ok: false, error: content.error } };
    const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : undefined;
    let parent: StoredMessage | undefined;
    if (threadTs !== undefined) {
      parent = this.messages.find((m) => m.channel === channel && m.ts === threadTs);
      if (!parent) return { body: { ok: false, error: 'thread_not_found' } };
    }
    const stored: StoredMessage = {
      channel,
      ts: this.nextTs(),
      ...content,
      ...(parent ? { thread_ts: parent.thread_ts ?? parent.ts } : {}),
      ...(parent && isTrue(args.reply_broadcast) ? { reply_broadcast: true } : {}),
      user: FAKE_BOT.userId,
      bot_id: FAKE_BOT.botId,
      app_id: FAKE_BOT.appId,
      seq: ++this.seq,
    };
    if (parent) parent.thread_ts = parent.thread_ts ?? parent.ts;
    this.messages.push(stored);
    return { body: { ok: true, channel, ts: stored.ts, message: this.view(stored, true) } };
  }

  private update(args: Record<string, unknown>): Answer {
    const channel = this.channelOf(args);
    if (!channel) return { body: { ok: false, error: 'channel_not_found' } };
    const message = this.messages.find((m) => m.channel === channel && m.ts === args.ts);
    if (!message) return { body: { ok: false, error: 'message_not_found' } };
    if (message.bot_id !== FAKE_BOT.botId) return { body: { ok: false, error: 'cant_update_message' } };
    const content = checkContent(args);
    if ('error' in content) return { body: { ok: false, error: content.error } };
    message.text = content.text;
    if (content.blocks) message.blocks = content.blocks;
    else delete message.blocks;
    if (args.metadata !== undefined) {
      if (content.metadata) message.metadata = content.metadata;
      else delete message.metadata;
    }
    message.edited = { user: FAKE_BOT.userId, ts: this.nextTs() };
    return {
      body: { ok: true, channel, ts: message.ts, text: message.text, message: this.view(message, true) },
    };
  }

  private delete(args: Record<string, unknown>): Answer {
    const channel = this.channelOf(args);
    if (!channel) return { body: { ok: false, error: 'channel_not_found' } };
    const index = this.messages.findIndex((m) => m.channel === channel && m.ts === args.ts);
    const message = this.messages[index];
    if (!message) return { body: { ok: false, error: 'message_not_found' } };
    if (message.bot_id !== FAKE_BOT.botId) return { body: { ok: false, error: 'cant_delete_message' } };
    this.messages.splice(index, 1);
    return { body: { ok: true, channel, ts: message.ts } };
  }

  private history(args: Record<string, unknown>): Answer {
    const channel = this.channelOf(args);
    if (!channel) return { body: { ok: false, error: 'channel_not_found' } };
    const inclusive = isTrue(args.inclusive);
    const oldest = Number(args.oldest ?? 0);
    const latest = args.latest === undefined ? Number.POSITIVE_INFINITY : Number(args.latest);
    const inRange = (ts: number) =>
      (inclusive ? ts >= oldest : ts > oldest || oldest === 0) && (inclusive ? ts <= latest : ts < latest);
    const listed = this.messages
      .filter((m) => m.channel === channel)
      .filter((m) => m.thread_ts === undefined || m.thread_ts === m.ts || m.reply_broadcast === true)
      .filter((m) => inRange(Number(m.ts)))
      .sort((a, b) => b.seq - a.seq);
    return this.page(listed, args, 100, 999);
  }

  private threadReplies(args: Record<string, unknown>): Answer {
    const channel = this.channelOf(args);
    if (!channel) return { body: { ok: false, error: 'channel_not_found' } };
    const message = this.messages.find((m) => m.channel === channel && m.ts === args.ts);
    if (!message) return { body: { ok: false, error: 'thread_not_found' } };
    const parentTs = message.thread_ts ?? message.ts;
    const thread = this.messages
      .filter((m) => m.channel === channel && (m.ts === parentTs || m.thread_ts === parentTs))
      .sort((a, b) => (a.ts === parentTs ? -1 : b.ts === parentTs ? 1 : a.seq - b.seq));
    return this.page(thread, args, 1_000, 1_000);
  }

  /** One page of `listed` from the cursor, `limit` long, as Slack pages: has_more and next_cursor. */
  private page(listed: StoredMessage[], args: Record<string, unknown>, defaultLimit: number, maxLimit: number): Answer {
    const limit = Math.min(maxLimit, Math.max(1, Number(args.limit ?? defaultLimit) || defaultLimit));
    const start = typeof args.cursor === 'string' && args.cursor ? decodeCursor(args.cursor) : 0;
    if (start === undefined) return { body: { ok: false, error: 'invalid_cursor' } };
    const slice = listed.slice(start, start + limit);
    const hasMore = start + limit < listed.length;
    const withMetadata = isTrue(args.include_all_metadata);
    return {
      body: {
        ok: true,
        messages: slice.map((m) => this.view(m, withMetadata)),
        has_more: hasMore,
        pin_count: 0,
        ...(hasMore ? { response_metadata: { next_cursor: encodeCursor(start + limit) } } : {}),
      },
    };
  }

  /** A stored message as Slack shows it. */
  private view(m: StoredMessage, withMetadata: boolean): Record<string, unknown> {
    const replies = this.messages.filter((r) => r.channel === m.channel && r.thread_ts === m.ts && r.ts !== m.ts);
    return {
      type: 'message',
      ...(m.bot_id ? { subtype: m.reply_broadcast ? 'thread_broadcast' : 'bot_message', bot_id: m.bot_id } : {}),
      ...(m.app_id ? { app_id: m.app_id } : {}),
      user: m.user,
      text: m.text,
      ts: m.ts,
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
      ...(m.thread_ts && m.thread_ts !== m.ts ? { parent_user_id: this.parentUser(m) } : {}),
      ...(replies.length
        ? { reply_count: replies.length, latest_reply: replies[replies.length - 1]?.ts, reply_users: [FAKE_BOT.userId] }
        : {}),
      ...(m.edited ? { edited: m.edited } : {}),
      ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
    };
  }

  private parentUser(m: StoredMessage): string | undefined {
    return this.messages.find((p) => p.channel === m.channel && p.ts === m.thread_ts)?.user;
  }
}

/** The arguments of a request, decoded as Slack reads them: form fields (objects as JSON strings) or a JSON body. */
function decodeBody(contentType: string, raw: string): { args: Record<string, unknown>; error?: string } {
  if (raw === '') return { args: {} };
  if (contentType === 'application/json') {
    try {
      const parsed: unknown = JSON.parse(raw);
      return parsed && typeof parsed === 'object'
        ? { args: parsed as Record<string, unknown> }
        : { args: {}, error: 'invalid_json' };
    } catch {
      return { args: {}, error: 'invalid_json' };
    }
  }
  if (contentType !== 'application/x-www-form-urlencoded') {
    return { args: {}, error: contentType ? 'invalid_post_type' : 'missing_post_type' };
  }
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    if (JSON_FIELDS.has(key)) {
      try {
        args[key] = JSON.parse(value);
      } catch {
        return { args, error: key === 'metadata' ? 'invalid_metadata_format' : 'invalid_blocks_format' };
      }
    } else {
      args[key] = value;
    }
  }
  return { args };
}

/** The text, blocks and metadata of a post or update, checked as Slack checks them (the parts opsflow uses). */
function checkContent(
  args: Record<string, unknown>,
): { text: string; blocks?: unknown[]; metadata?: StoredMessage['metadata'] } | { error: string } {
  const text = typeof args.text === 'string' ? args.text : '';
  const blocks = args.blocks;
  if (blocks !== undefined && (!Array.isArray(blocks) || blocks.length > 50 || !blocks.every(validBlock))) {
    return { error: 'invalid_blocks' };
  }
  if (text === '' && blocks === undefined) return { error: 'no_text' };
  const metadata = args.metadata;
  if (metadata === undefined) return { text, ...(blocks ? { blocks } : {}) };
  if (typeof metadata !== 'object' || metadata === null) return { error: 'invalid_metadata_format' };
  if (Object.keys(metadata).length === 0) return { text, ...(blocks ? { blocks } : {}) };
  const { event_type: type, event_payload: payload } = metadata as Record<string, unknown>;
  if (typeof type !== 'string' || !/^[A-Za-z0-9_]+$/.test(type) || !payload || typeof payload !== 'object') {
    return { error: 'invalid_metadata_schema' };
  }
  return {
    text,
    ...(blocks ? { blocks } : {}),
    metadata: { event_type: type, event_payload: payload as Record<string, unknown> },
  };
}

function validText(value: unknown, max = MAX_TEXT_OBJECT): boolean {
  if (!value || typeof value !== 'object') return false;
  const { type, text } = value as Record<string, unknown>;
  return (
    (type === 'mrkdwn' || type === 'plain_text') && typeof text === 'string' && text.length >= 1 && text.length <= max
  );
}

/** Section, context and actions blocks with Slack's limits on their text objects and buttons. */
function validBlock(block: unknown): boolean {
  if (!block || typeof block !== 'object') return false;
  const b = block as Record<string, unknown>;
  switch (b.type) {
    case 'section':
      return validText(b.text);
    case 'context':
      return Array.isArray(b.elements) && b.elements.length <= 10 && b.elements.every((e) => validText(e));
    case 'actions':
      return (
        Array.isArray(b.elements) &&
        b.elements.length <= 25 &&
        b.elements.every((e) => {
          const button = e as Record<string, unknown>;
          return (
            button.type === 'button' &&
            validText(button.text, 75) &&
            typeof button.action_id === 'string' &&
            button.action_id.length <= 255 &&
            (button.value === undefined || (typeof button.value === 'string' && button.value.length <= 2_000))
          );
        })
      );
    default:
      return false;
  }
}

function failureAnswer(failure: FakeFailure): Answer {
  if ('error' in failure) return { body: { ok: false, error: failure.error, ...failure.extra } };
  if (failure.status === 429) {
    return {
      status: 429,
      headers: failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) },
      body: { ok: false, error: 'ratelimited' },
    };
  }
  return { status: failure.status, body: { ok: false, error: 'service_unavailable' } };
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

function encodeCursor(offset: number): string {
  return Buffer.from(`next_ts:${offset}`).toString('base64');
}

function decodeCursor(cursor: string): number | undefined {
  const match = /^next_ts:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}
