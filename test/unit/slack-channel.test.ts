import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { ChannelError } from '../../src/activities/notify/contract';
import { SlackChannel, createSlackChannel } from '../../src/activities/notify/slack/channel';
import { parseSlackChannelConfig, slackChannelConfigSchema } from '../../src/activities/notify/slack/config';
import { escapeMrkdwn, fit, slackLink } from '../../src/activities/notify/slack/message';
import { opsEventSchema, type OpsEvent } from '../../src/shared/notify/events';
import { FAKE_BOT, FakeSlack, type RecordedCall, type StoredMessage } from '../helpers/fake-slack';

const TOKEN = 'xoxb-1111-2222-fakeSecretToken';
const CHANNEL = 'C0DEPLOYS1';
const UI = 'http://localhost:8233/namespaces/default/workflows/deploy-hello-1.1.0-production/run-1/history';

/** Events a second apart, starting a minute ago (inside the channel's look-back, as a live deploy's are). */
const T0 = Date.now() - 60_000;
const at = (second: number) => new Date(T0 + second * 1_000).toISOString();

const deploy = {
  project: 'shop',
  deployId: 'deploy-hello-1.1.0-production',
  service: 'hello',
  version: '1.1.0',
  environment: 'production',
  requestedBy: 'carol',
  uiUrl: UI,
};

/** A catalogue event, checked against the catalogue's schema so the tests send only what a workflow could. */
function event(fields: Record<string, unknown>): OpsEvent {
  return opsEventSchema.parse({ severity: 'info', ...deploy, ...fields });
}

const started = (deployId = deploy.deployId) =>
  event({
    id: `${deployId}:started`,
    time: at(0),
    type: 'deploy.started',
    deployId,
    environments: ['staging', 'production'],
  });
const approvalRequested = (deployId = deploy.deployId) =>
  event({
    id: `${deployId}:approval-requested:production`,
    time: at(1),
    severity: 'warning',
    type: 'approval.requested',
    deployId,
    approvers: ['alice', 'bob'],
    required: 1,
    deadline: at(86_400),
  });
const approved = event({
  id: `${deploy.deployId}:approval-decided:production`,
  time: at(2),
  type: 'approval.decided',
  decision: 'approved',
  by: 'alice',
  approvals: 1,
  required: 1,
});
const stepPassed = event({
  id: `${deploy.deployId}:step-passed:2`,
  time: at(3),
  type: 'canary.step-passed',
  step: 2,
  steps: 4,
  weight: 25,
});
const promoted = event({
  id: `${deploy.deployId}:promoted`,
  time: at(4),
  type: 'deploy.promoted',
  environments: ['staging', 'production'],
});

let slack: FakeSlack;
let apiUrl: string;

function channel(overrides: { env?: NodeJS.ProcessEnv; channel?: string; apiUrl?: string } = {}): SlackChannel {
  return new SlackChannel(
    slackChannelConfigSchema.parse({
      kind: 'slack',
      channel: overrides.channel ?? CHANNEL,
      apiUrl: overrides.apiUrl ?? apiUrl,
    }),
    { name: 'team', env: overrides.env ?? { SLACK_BOT_TOKEN: TOKEN } },
  );
}

/** The deploy messages (opsflow_deploy metadata) of the channel. */
function deployMessages(): StoredMessage[] {
  return slack.topLevel(CHANNEL).filter((m) => m.metadata?.event_type === 'opsflow_deploy');
}

async function rejection(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ChannelError, `expected a ChannelError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the send to fail');
}

/** Every argument the fake received, as one string: what reached Slack at all. */
function everythingSent(calls: readonly RecordedCall[]): string {
  return JSON.stringify(calls.map((c) => c.args));
}

beforeEach(async () => {
  slack = new FakeSlack(TOKEN, [CHANNEL]);
  apiUrl = await slack.start();
});

afterEach(async () => {
  await slack.close();
});

describe('slack channel: one message per deploy, one reply per event', () => {
  it('keeps one deploy message, updated in place, with one reply per event in its thread', async () => {
    const slackChannel = channel();
    const events = [started(), approvalRequested(), approved, stepPassed, promoted];
    const results = [];
    for (const e of events) results.push(await slackChannel.send(e));

    const roots = deployMessages();
    assert.equal(roots.length, 1);
    const root = roots[0]!;
    const replies = slack.replies(CHANNEL, root.ts);
    assert.deepEqual(
      replies.map((r) => r.metadata),
      events.map((e) => ({ event_type: 'opsflow_event', event_payload: { eventId: e.id } })),
    );
    assert.deepEqual(
      results.map((r) => ({ ...r, detail: undefined })),
      replies.map((r) => ({ ref: `${CHANNEL}/${r.ts}`, duplicate: false, detail: undefined })),
    );
    assert.equal(slack.callsOf('auth.test').length, 1, 'the bot is looked up once');
    assert.equal(slack.callsOf('chat.postMessage').length, 1 + events.length);
    assert.equal(slack.callsOf('chat.update').length, events.length - 1);
    assert.equal(slack.callsOf('conversations.history').length, events.length + 1, 'once more after posting the root');
    assert.equal(slack.callsOf('conversations.replies').length, events.length);
    for (const call of slack.calls) {
      assert.equal(call.authorization, `Bearer ${TOKEN}`);
      assert.equal(call.contentType, 'application/x-www-form-urlencoded');
    }

    // The first post is the deploy message, exactly as sent.
    const seconds = (s: number) => Math.floor((T0 + s * 1_000) / 1_000);
    assert.deepEqual(slack.callsOf('chat.postMessage')[0]!.args, {
      channel: CHANNEL,
      text: 'hello 1.1.0: started in production',
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: '*hello 1.1.0*: started in production\nhello 1.1.0: deploy started through staging → production by carol',
            verbatim: true,
          },
        },
        {
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: `deploy-hello-1.1.0-production · requested by carol · updated <!date^${seconds(0)}^{date_short_pretty} {time}|${at(0)}> · <${UI}|Temporal UI>`,
              verbatim: true,
            },
          ],
        },
      ],
      metadata: {
        event_type: 'opsflow_deploy',
        event_payload: {
          deployId: deploy.deployId,
          service: 'hello',
          version: '1.1.0',
          environment: 'production',
          phase: 'started',
          eventId: events[0]!.id,
          eventTime: at(0),
        },
      },
      parse: 'none',
      unfurl_links: 'false',
      unfurl_media: 'false',
    });

    // The look-ups ask for metadata, bounded: a page of 200 since 30 days before the event.
    const history = slack.callsOf('conversations.history')[0]!.args;
    assert.deepEqual(history, {
      channel: CHANNEL,
      include_all_metadata: 'true',
      limit: '200',
      oldest: `${seconds(0) - 30 * 86_400}.000000`,
    });
    assert.deepEqual(slack.callsOf('conversations.replies')[0]!.args, {
      channel: CHANNEL,
      ts: root.ts,
      include_all_metadata: 'true',
      limit: '200',
    });

    // The deploy message now shows the last event; each update named the message and kept parse none.
    for (const update of slack.callsOf('chat.update')) {
      assert.equal(update.args.ts, root.ts);
      assert.equal(update.args.parse, 'none');
    }
    assert.equal(root.text, 'hello 1.1.0: promoted in production');
    assert.deepEqual(root.metadata?.event_payload, {
      deployId: deploy.deployId,
      service: 'hello',
      version: '1.1.0',
      environment: 'production',
      phase: 'promoted',
      eventId: promoted.id,
      eventTime: at(4),
    });
    assert.deepEqual((root.blocks?.[0] as { text: unknown }).text, {
      type: 'mrkdwn',
      text: '*hello 1.1.0*: promoted in production\nhello 1.1.0 promoted: runs in staging and production',
      verbatim: true,
    });

    // A step reply, exactly: in the thread, not broadcast (info), with the UI link.
    const stepCall = slack
      .callsOf('chat.postMessage')
      .find((c) => c.args.text === 'hello 1.1.0 in production step 2/4 passed at 25 %');
    assert.deepEqual(stepCall?.args, {
      channel: CHANNEL,
      thread_ts: root.ts,
      text: 'hello 1.1.0 in production step 2/4 passed at 25 %',
      blocks: [
        {
          type: 'section',
          text: { type: 'mrkdwn', text: 'hello 1.1.0 in production step 2/4 passed at 25 %', verbatim: true },
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: `<${UI}|Temporal UI>`, verbatim: true }] },
      ],
      metadata: { event_type: 'opsflow_event', event_payload: { eventId: stepPassed.id } },
      reply_broadcast: 'false',
      parse: 'none',
      unfurl_links: 'false',
      unfurl_media: 'false',
    });
  });

  it('sends an event once: the same event again answers duplicate and posts nothing', async () => {
    const slackChannel = channel();
    await slackChannel.send(started());
    const first = await slackChannel.send(approvalRequested());
    const posts = slack.callsOf('chat.postMessage').length;
    const updates = slack.callsOf('chat.update').length;

    const second = await slackChannel.send(approvalRequested());

    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.ref, first.ref);
    assert.equal(slack.callsOf('chat.postMessage').length, posts, 'nothing posted the second time');
    assert.equal(slack.callsOf('chat.update').length, updates, 'nothing updated the second time');
    assert.equal(slack.replies(CHANNEL, deployMessages()[0]!.ts).length, 2);
  });

  it('leaves one reply when the reply was posted but its answer was lost (a worker killed mid-send)', async () => {
    const slackChannel = channel();
    await slackChannel.send(started());
    slack.dropNextAnswer('chat.postMessage');

    const lost = await rejection(slackChannel.send(approvalRequested()));
    assert.equal(lost.retryable, true);
    assert.match(lost.message, /^slack C0DEPLOYS1: chat\.postMessage: Slack could not be reached: /);
    const root = deployMessages()[0]!;
    assert.equal(slack.replies(CHANNEL, root.ts).length, 2, 'Slack has the reply even though the answer was lost');

    // The activity's retry, possibly on a fresh worker (a new channel object).
    const retried = await channel().send(approvalRequested());
    const replies = slack.replies(CHANNEL, root.ts);
    assert.equal(replies.length, 2);
    assert.deepEqual(retried, {
      ref: `${CHANNEL}/${replies[1]!.ts}`,
      duplicate: true,
      detail: `approval.requested was already in the thread of ${root.ts} in ${CHANNEL}: nothing sent`,
    });
  });

  it('leaves one deploy message when the first post was stored but its answer was lost', async () => {
    slack.dropNextAnswer('chat.postMessage');
    const lost = await rejection(channel().send(started()));
    assert.equal(lost.retryable, true);

    const retried = await channel().send(started());
    assert.equal(retried.duplicate, false);
    assert.equal(deployMessages().length, 1);
    assert.equal(slack.replies(CHANNEL, deployMessages()[0]!.ts).length, 1);
    assert.equal(slack.callsOf('chat.update').length, 0, 'the message found already shows this event');
  });

  it('keeps the earliest deploy message when another send posted one at the same time', async () => {
    // Another worker's send of this deploy posts its first message just before ours lands.
    let theirs: StoredMessage | undefined;
    slack.beforeNext('chat.postMessage', () => {
      theirs = slack.inject({
        channel: CHANNEL,
        text: 'hello 1.1.0: started in production',
        user: FAKE_BOT.userId,
        bot_id: FAKE_BOT.botId,
        metadata: {
          event_type: 'opsflow_deploy',
          event_payload: { deployId: deploy.deployId, eventId: started().id, eventTime: at(0) },
        },
      });
    });

    const sent = await channel().send(approvalRequested());

    assert.equal(deployMessages().length, 1);
    assert.equal(deployMessages()[0]!.ts, theirs?.ts);
    assert.equal(slack.callsOf('chat.delete').length, 1, 'ours was taken back');
    const replies = slack.replies(CHANNEL, theirs!.ts);
    assert.equal(replies.length, 1);
    assert.equal(sent.ref, `${CHANNEL}/${replies[0]!.ts}`);
    assert.equal(deployMessages()[0]!.metadata?.event_payload.eventId, approvalRequested().id, 'brought up to date');
  });

  it('finds the deploy message on a later page of a busy channel', async () => {
    const slackChannel = channel();
    await slackChannel.send(started());
    for (let i = 0; i < 250; i++) slack.inject({ channel: CHANNEL, text: `chatter ${i}`, user: 'U0PERSON01' });
    const pagesBefore = slack.callsOf('conversations.history').length;

    await slackChannel.send(approvalRequested());

    assert.equal(deployMessages().length, 1);
    const pages = slack.callsOf('conversations.history').slice(pagesBefore);
    assert.equal(pages.length, 2);
    assert.equal(typeof pages[1]!.args.cursor, 'string');
    assert.equal(slack.replies(CHANNEL, deployMessages()[0]!.ts).length, 2);
  });

  it('leaves the deploy message as it is for an older event sent late, and still replies', async () => {
    const slackChannel = channel();
    await slackChannel.send(started());
    await slackChannel.send(promoted);
    const updates = slack.callsOf('chat.update').length;

    const late = await slackChannel.send(stepPassed);

    assert.equal(late.duplicate, false);
    assert.equal(slack.callsOf('chat.update').length, updates);
    assert.equal(deployMessages()[0]!.metadata?.event_payload.phase, 'promoted');
    assert.equal(slack.replies(CHANNEL, deployMessages()[0]!.ts).length, 3);
  });

  it("ignores another app's messages that carry opsflow's metadata (no hijacked thread, no silenced event)", async () => {
    const forgedRoot = slack.inject({
      channel: CHANNEL,
      text: 'forged',
      user: 'U0OTHERBOT',
      bot_id: 'B0OTHERBOT',
      metadata: { event_type: 'opsflow_deploy', event_payload: { deployId: deploy.deployId, eventTime: at(9) } },
    });
    const slackChannel = channel();
    await slackChannel.send(started());
    const root = deployMessages().find((m) => m.bot_id === FAKE_BOT.botId)!;
    assert.notEqual(root.ts, forgedRoot.ts);
    slack.inject({
      channel: CHANNEL,
      thread_ts: root.ts,
      text: 'forged reply',
      user: 'U0OTHERBOT',
      bot_id: 'B0OTHERBOT',
      metadata: { event_type: 'opsflow_event', event_payload: { eventId: approvalRequested().id } },
    });

    const sent = await slackChannel.send(approvalRequested());

    assert.equal(sent.duplicate, false);
    assert.equal(slack.replies(CHANNEL, forgedRoot.ts).length, 0);
    assert.equal(slack.replies(CHANNEL, root.ts).filter((m) => m.bot_id === FAKE_BOT.botId).length, 2);
  });
});

describe('slack channel: buttons', () => {
  it('gives approval.requested Approve and Reject with the deploy and environment, shown in the channel', async () => {
    const slackChannel = channel();
    await slackChannel.send(approvalRequested());
    const reply = slack.callsOf('chat.postMessage')[1]!.args;
    const value = JSON.stringify({ deployId: deploy.deployId, environment: 'production' });

    assert.equal(reply.reply_broadcast, 'true');
    assert.deepEqual((reply.blocks as unknown[])[1], {
      type: 'actions',
      block_id: 'opsflow_approval',
      elements: [
        {
          type: 'button',
          action_id: 'opsflow_approve',
          text: { type: 'plain_text', text: 'Approve' },
          style: 'primary',
          value,
        },
        {
          type: 'button',
          action_id: 'opsflow_reject',
          text: { type: 'plain_text', text: 'Reject' },
          style: 'danger',
          value,
          confirm: {
            title: { type: 'plain_text', text: 'Reject this deploy?' },
            text: { type: 'plain_text', text: 'hello 1.1.0 in production ends as cancelled.' },
            confirm: { type: 'plain_text', text: 'Reject' },
            deny: { type: 'plain_text', text: 'Back' },
            style: 'danger',
          },
        },
      ],
    });
    assert.deepEqual(JSON.parse(value), { deployId: deploy.deployId, environment: 'production' });
    // The deploy message carries no buttons: it is rewritten as the deploy moves.
    assert.equal(
      (slack.callsOf('chat.postMessage')[0]!.args.blocks as { type: string }[]).some((b) => b.type === 'actions'),
      false,
    );
  });

  it('gives canary.paused Resume and Abort', async () => {
    const paused = event({
      id: `${deploy.deployId}:paused:1`,
      time: at(5),
      severity: 'warning',
      type: 'canary.paused',
      cause: 'inconclusive',
      by: 'opsflow',
      reason: 'too few requests',
      deadline: at(3_600),
    });
    await channel().send(paused);
    const actions = (
      slack.callsOf('chat.postMessage')[1]!.args.blocks as { type: string; elements?: unknown[] }[]
    ).find((b) => b.type === 'actions');
    const buttons = (actions?.elements ?? []) as { action_id: string; value: string; style: string }[];
    assert.deepEqual(
      buttons.map((b) => [b.action_id, b.style, JSON.parse(b.value)]),
      [
        ['opsflow_resume', 'primary', { deployId: deploy.deployId, environment: 'production' }],
        ['opsflow_abort', 'danger', { deployId: deploy.deployId, environment: 'production' }],
      ],
    );
  });
});

describe('slack channel: untrusted text', () => {
  it('escapes mrkdwn so a reason cannot ping @channel or forge a link', async () => {
    const hostile = event({
      id: `${deploy.deployId}:failed`,
      time: at(6),
      severity: 'critical',
      type: 'deploy.failed',
      requestedBy: 'carol',
      reason: '<!channel> urgent: <http://evil.example|click here> & <@U0ADMIN> <!date^1^{date}|x>',
    });
    await channel().send(hostile);

    const sent = everythingSent(slack.calls);
    for (const forged of ['<!channel>', '<http://evil', '<@U0ADMIN>', '<!date^1^']) {
      assert.equal(sent.includes(forged), false, `${forged} reached Slack unescaped`);
    }
    const reply = slack.callsOf('chat.postMessage')[1]!.args;
    const expected =
      ':rotating_light: hello 1.1.0 in production FAILED: &lt;!channel&gt; urgent: &lt;http://evil.example|click here&gt; &amp; &lt;@U0ADMIN&gt; &lt;!date^1^{date}|x&gt;';
    assert.equal(reply.text, expected);
    assert.deepEqual((reply.blocks as unknown[])[0], {
      type: 'section',
      text: { type: 'mrkdwn', text: expected, verbatim: true },
    });
    assert.equal(reply.reply_broadcast, 'true');
  });

  it('escapes &, < and > and drops control and bidi characters', () => {
    assert.equal(escapeMrkdwn('a & b <c> \u202eevil\u0007'), 'a &amp; b &lt;c&gt; evil');
    assert.equal(escapeMrkdwn('line one\nline two'), 'line one\nline two');
  });

  it('cuts long text without splitting an entity', () => {
    const cut = fit(escapeMrkdwn(`${'x'.repeat(2_997)}<<<`));
    assert.equal(cut.length <= 3_000, true);
    assert.equal(cut, `${'x'.repeat(2_997)}…`);
  });

  it('links only http(s) URLs, with | < > percent-encoded and & escaped', () => {
    assert.equal(slackLink('http://ui/a|b?x=1&y=<2>', 'UI'), '<http://ui/a%7Cb?x=1&amp;y=%3C2%3E|UI>');
    assert.equal(slackLink('javascript:alert(1)', 'UI'), undefined);
    assert.equal(slackLink(undefined, 'UI'), undefined);
  });
});

describe('slack channel: agent events', () => {
  it('posts an agent event as a message of its own, once', async () => {
    const escalation = opsEventSchema.parse({
      id: 'shop:escalation:outage:1',
      time: at(7),
      project: 'shop',
      severity: 'critical',
      type: 'agent.escalation',
      kind: 'outage',
      source: 'prometheus',
      summary: 'hello is down',
    });
    const slackChannel = channel();
    const first = await slackChannel.send(escalation);
    const second = await slackChannel.send(escalation);

    const messages = slack.topLevel(CHANNEL);
    assert.equal(messages.length, 1);
    assert.deepEqual(messages[0]!.metadata, { event_type: 'opsflow_event', event_payload: { eventId: escalation.id } });
    assert.equal(messages[0]!.thread_ts, undefined);
    assert.equal(messages[0]!.text, ':rotating_light: shop: outage from prometheus: hello is down');
    assert.deepEqual(first, {
      ref: `${CHANNEL}/${messages[0]!.ts}`,
      duplicate: false,
      detail: `agent.escalation posted in ${CHANNEL}`,
    });
    assert.equal(second.duplicate, true);
    assert.equal(second.ref, first.ref);
    assert.equal(slack.callsOf('chat.postMessage').length, 1);
  });
});

describe('slack channel: failures', () => {
  it('answers a 429 as retryable with its Retry-After, without waiting it out', async () => {
    slack.failNext(1, { status: 429, retryAfterSeconds: 7 });
    const begun = Date.now();
    const error = await rejection(channel().send(started()));
    assert.equal(error.retryable, true);
    assert.equal(error.retryAfterMs, 7_000);
    assert.equal(error.message, 'slack C0DEPLOYS1: auth.test: rate limited by Slack, retry after 7 s');
    assert.ok(Date.now() - begun < 3_000, 'the SDK did not sleep out the Retry-After');
    assert.equal(slack.calls.length, 1, 'the SDK did not retry by itself');
  });

  it('answers a 429 in the middle of a send as retryable, and the retry completes it', async () => {
    const slackChannel = channel();
    await slackChannel.send(started());
    slack.failNext(1, { status: 429, retryAfterSeconds: 2 }, 'conversations.replies');
    const error = await rejection(slackChannel.send(approvalRequested()));
    assert.equal(error.retryAfterMs, 2_000);
    await slackChannel.send(approvalRequested());
    assert.equal(slack.replies(CHANNEL, deployMessages()[0]!.ts).length, 2);
  });

  it('answers HTTP 500 and an unreachable Slack as retryable', async () => {
    slack.failNext(1, { status: 500 });
    const server = await rejection(channel().send(started()));
    assert.equal(server.retryable, true);
    assert.equal(server.retryAfterMs, undefined);
    assert.equal(server.message, 'slack C0DEPLOYS1: auth.test: Slack answered HTTP 500');

    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = await rejection(channel({ apiUrl: `http://127.0.0.1:${port}/api/` }).send(started()));
    assert.equal(unreachable.retryable, true);
    assert.match(unreachable.message, /^slack C0DEPLOYS1: auth\.test: Slack could not be reached: .*ECONNREFUSED/);
  });

  it('answers invalid_auth as not retryable, in one line naming the variable, never the token', async () => {
    const wrong = 'xoxb-9999-8888-wrongSecret';
    const error = await rejection(channel({ env: { SLACK_BOT_TOKEN: wrong } }).send(started()));
    assert.equal(error.retryable, false);
    assert.equal(
      error.message,
      "slack C0DEPLOYS1: auth.test: invalid_auth: Slack refused the token: set SLACK_BOT_TOKEN in the worker's environment to the Slack app's bot token (xoxb-...)",
    );
    assert.equal(error.message.includes('\n'), false);
    assert.equal(error.message.includes(wrong), false);
    assert.equal(error.message.includes(TOKEN), false);
    assert.equal(slack.calls[0]!.authorization, `Bearer ${wrong}`);
  });

  it('refuses without calling Slack when the variable is not set', async () => {
    const error = await rejection(channel({ env: {} }).send(started()));
    assert.equal(error.retryable, false);
    assert.equal(
      error.message,
      "slack C0DEPLOYS1: SLACK_BOT_TOKEN is not set in the worker's environment: set it to the Slack app's bot token (xoxb-...)",
    );
    assert.equal(slack.calls.length, 0);
  });

  it('answers channel_not_found and not_in_channel as not retryable, naming the setting and the variable', async () => {
    const missing = await rejection(channel({ channel: 'C0NOWHERE1' }).send(started()));
    assert.equal(missing.retryable, false);
    assert.equal(
      missing.message,
      'slack C0NOWHERE1: conversations.history: channel_not_found: the workspace of the token in SLACK_BOT_TOKEN has no channel C0NOWHERE1 the bot can see: check notifications.channels.team.channel (a channel id) and SLACK_BOT_TOKEN',
    );

    slack.failNext(1, { error: 'not_in_channel' }, 'conversations.history');
    const outside = await rejection(channel().send(started()));
    assert.equal(outside.retryable, false);
    assert.match(
      outside.message,
      /not_in_channel: the bot of the token in SLACK_BOT_TOKEN is not a member of C0DEPLOYS1/,
    );

    slack.failNext(1, { error: 'missing_scope', extra: { needed: 'channels:history', provided: 'chat:write' } });
    const scope = await rejection(channel().send(started()));
    assert.equal(scope.retryable, false);
    assert.match(scope.message, /missing_scope: the token in SLACK_BOT_TOKEN lacks channels:history: /);
  });

  it('answers token_revoked as not retryable and internal_error as retryable', async () => {
    slack.failNext(1, { error: 'token_revoked' });
    const revoked = await rejection(channel().send(started()));
    assert.equal(revoked.retryable, false);
    assert.match(revoked.message, /token_revoked: .*set SLACK_BOT_TOKEN/);

    slack.failNext(1, { error: 'internal_error' });
    const internal = await rejection(channel().send(started()));
    assert.equal(internal.retryable, true);
  });
});

describe('slack channel config', () => {
  it('defaults the token variable and leaves the API URL to the SDK', () => {
    assert.deepEqual(slackChannelConfigSchema.parse({ kind: 'slack', channel: 'C0123456789' }), {
      kind: 'slack',
      channel: 'C0123456789',
      tokenEnv: 'SLACK_BOT_TOKEN',
    });
  });

  const refusals: [string, Record<string, unknown>, string][] = [
    [
      'a token in the config',
      { kind: 'slack', channel: 'C0123456789', token: 'xoxb-1' },
      "notifications.channels.team.token: token must not be written in opsflow.yaml: put the bot token in the worker's environment and name the variable in tokenEnv (default SLACK_BOT_TOKEN)",
    ],
    [
      'a uiUrl',
      { kind: 'slack', channel: 'C0123456789', uiUrl: 'http://ui' },
      "notifications.channels.team.uiUrl: uiUrl is not a channel setting: each event carries its Temporal UI link, from the worker's temporal.uiUrl",
    ],
    [
      'a channel name',
      { kind: 'slack', channel: '#deploys' },
      'notifications.channels.team.channel: channel must be a channel id such as C0123456789 (in Slack: the channel details, at the bottom), not its name',
    ],
    [
      'an unknown setting',
      { kind: 'slack', channel: 'C0123456789', webhook: 'https://hooks.slack.com/x' },
      'notifications.channels.team: unknown setting webhook: a slack channel takes kind, channel, tokenEnv and apiUrl',
    ],
    [
      'a token variable that is not a name',
      { kind: 'slack', channel: 'C0123456789', tokenEnv: 'xoxb-1234' },
      'notifications.channels.team.tokenEnv: tokenEnv must be the name of an environment variable, e.g. SLACK_BOT_TOKEN',
    ],
    [
      'an API URL that is not http(s)',
      { kind: 'slack', channel: 'C0123456789', apiUrl: 'file:///etc/passwd' },
      'notifications.channels.team.apiUrl: apiUrl must be an http or https URL, e.g. https://slack.com/api/',
    ],
  ];
  for (const [what, block, message] of refusals) {
    it(`refuses ${what} in one line`, () => {
      assert.throws(
        () => parseSlackChannelConfig(block, 'team'),
        (err: unknown) => err instanceof ConfigError && err.message === message,
      );
    });
  }

  it('builds a channel from its block and the worker environment', async () => {
    const built = createSlackChannel(
      { kind: 'slack', channel: CHANNEL, apiUrl },
      { name: 'team', env: { SLACK_BOT_TOKEN: TOKEN } },
    );
    assert.equal(built.kind, 'slack');
    const sent = await built.send(started());
    assert.equal(sent.duplicate, false);
    assert.equal(slack.calls[0]!.authorization, `Bearer ${TOKEN}`);
  });
});
