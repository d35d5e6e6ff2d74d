import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeployStatus } from '../../src/shared/deploy';
import { createKeyPair } from '../../src/keys/keys';
import { FAKE_BOT, FakeSlack, type StoredMessage } from '../helpers/fake-slack';
import { Stack, STACK_REQUESTER, stopProcess, waitFor, type Proc } from '../helpers/stack';

// The real stack (dev server, worker process, local platform, CLI) with the worker's Slack channel pointed at a local
// server that speaks Slack's Web API, and a real `opsflow chat-bridge` process answering the buttons, as Slack's
// Interactivity Request URL would reach it. The worker's policy maps alice and bob to Slack users, lists the bridge's
// own key, and lets one chat approval count in production (chat: first, required: 1).
const TOKEN = 'xoxb-e2e-bridge-token';
const CHANNEL = 'C0BRIDGE01';
const SIGNING_SECRET = 'e2e-signing-secret-3c59dc048e885024';
const BRIDGE = 'ops-slack';
const SLACK_USERS = { alice: 'U0ALICE001', bob: 'U0BOB00001' } as const;

let stack: Stack;
let bridge: Proc | undefined;
let bridgeUrl: string;
const slack = new FakeSlack(TOKEN, [CHANNEL]);
const keysDir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-bridge-e2e-keys-'));

before(async () => {
  const slackUrl = await slack.start();
  const key = (name: string) => createKeyPair(keysDir, name).line;
  const people = {
    alice: { key: key('alice'), slack: SLACK_USERS.alice },
    bob: { key: key('bob'), slack: SLACK_USERS.bob },
    [STACK_REQUESTER]: { key: key(STACK_REQUESTER) },
  };
  const bridgeKey = key(BRIDGE);
  const secretFile = path.join(keysDir, 'slack-signing-secret');
  writeFileSync(secretFile, `${SIGNING_SECRET}\n`, { mode: 0o600 });
  stack = await Stack.start({
    // The CLI signs starts and approvals with the keys made here; the bot token is the worker's.
    env: { SLACK_BOT_TOKEN: TOKEN, OPSFLOW_KEYS_DIR: keysDir },
    configure: (config) => ({
      ...config,
      // One service per test, so each test's deploy has its own id and neither depends on the other's outcome.
      services: { hello: config.services.hello, greeter: config.services.hello },
      notifications: { channels: { team: { kind: 'slack', channel: CHANNEL, apiUrl: slackUrl } } },
      policy: {
        people,
        bridges: { [BRIDGE]: { key: bridgeKey, kind: 'slack' } },
        environments: { production: { approvers: ['alice', 'bob'], required: 1, chat: 'first' } },
      },
    }),
  });
  const started = stack.startCli(
    'chat-bridge',
    '--key',
    path.join(keysDir, `${BRIDGE}.key`),
    '--config',
    'opsflow.yaml',
    '--port',
    '0',
    '--signing-secret-file',
    secretFile,
  );
  bridge = started;
  // It prints its URL once it listens; --port 0 lets it take any free loopback port.
  const listening = () => /on (http:\/\/127\.0\.0\.1:\d+)\/slack\/interactions/.exec(started.output())?.[1];
  await waitFor(
    async () => listening() !== undefined,
    30_000,
    () => started.output(),
  );
  bridgeUrl = listening() ?? '';
});

after(async () => {
  await stopProcess(bridge);
  await stack?.stop();
  await slack.close();
  rmSync(keysDir, { recursive: true, force: true });
});

/** The deploy's status, read as a test polls it (`deploy status --json` itself is checked where it matters). */
async function status(id: string): Promise<DeployStatus> {
  return stack.status(id);
}

async function startDeploy(service: string, version: string): Promise<string> {
  const started = await stack.cli('deploy', 'start', '--service', service, '--version', version, '--json');
  assert.equal(started.code, 0, started.stdout + started.stderr);
  return (JSON.parse(started.stdout) as { workflowId: string }).workflowId;
}

/** The deploy's message in the channel (its metadata names the deploy) and its thread's replies. */
function deployThread(deployId: string): { roots: StoredMessage[]; replies: StoredMessage[] } {
  const roots = slack
    .topLevel(CHANNEL)
    .filter((m) => m.metadata?.event_type === 'opsflow_deploy' && m.metadata.event_payload['deployId'] === deployId);
  return { roots, replies: roots[0] ? slack.replies(CHANNEL, roots[0].ts) : [] };
}

const hasApproveButton = (blocks: unknown) => JSON.stringify(blocks ?? []).includes('"opsflow_approve"');

/** The approval request's replies in the deploy's thread: the ones with an Approve button. */
function approvalRequests(deployId: string): StoredMessage[] {
  return deployThread(deployId).replies.filter((r) => hasApproveButton(r.blocks));
}

/** Events of the deploy's history that record an Update (a refused one leaves none). */
async function updateEvents(deployId: string): Promise<string[]> {
  const history = JSON.parse(await stack.historyJson(deployId)) as { events: Record<string, unknown>[] };
  return history.events.flatMap((e) =>
    Object.keys(e).filter((k) => /^workflowExecutionUpdate\w+EventAttributes$/.test(k)),
  );
}

interface Button {
  type: 'button';
  action_id: string;
  text: unknown;
  value: string;
  style?: string;
}

/** The button with `actionId` in a message's actions block, and the block's id, as Slack shows them. */
function buttonOf(message: StoredMessage, actionId: string): { blockId: string; button: Button } {
  for (const block of (message.blocks ?? []) as { type: string; block_id?: string; elements?: Button[] }[]) {
    const button = block.type === 'actions' ? block.elements?.find((e) => e.action_id === actionId) : undefined;
    if (button && block.block_id) return { blockId: block.block_id, button };
  }
  assert.fail(`no ${actionId} button in ${JSON.stringify(message.blocks)}`);
}

/**
 * The form Slack POSTs to the Interactivity Request URL when `user` presses `button` in `message`: a block_actions
 * payload, JSON in the `payload` field. No response_url: the bridge would answer there, and this test reaches no host
 * but loopback ones (the bridge answers only Slack's hosts).
 */
function blockActionsForm(message: StoredMessage, blockId: string, button: Button, user: string): string {
  const payload = {
    type: 'block_actions',
    user: { id: user, username: 'alice', name: 'alice', team_id: FAKE_BOT.teamId },
    api_app_id: FAKE_BOT.appId,
    token: 'deprecated-verification-token',
    container: {
      type: 'message',
      message_ts: message.ts,
      channel_id: message.channel,
      is_ephemeral: false,
      ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
    },
    trigger_id: '1111111111.2222222222.abcdef0123456789abcdef0123456789',
    team: { id: FAKE_BOT.teamId, domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: message.channel, name: 'deploys' },
    message: {
      type: 'message',
      subtype: 'bot_message',
      text: message.text,
      ts: message.ts,
      bot_id: message.bot_id,
      blocks: message.blocks,
      ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
    },
    state: { values: {} },
    actions: [
      {
        action_id: button.action_id,
        block_id: blockId,
        text: button.text,
        value: button.value,
        ...(button.style ? { style: button.style } : {}),
        type: 'button',
        action_ts: `${Math.floor(Date.now() / 1000)}.123456`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** Slack's request signature, written out as Slack documents it: v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>"). */
function slackHeaders(body: string, secret: string, timestamp: number): Record<string, string> {
  const signature = createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  return { 'X-Slack-Request-Timestamp': String(timestamp), 'X-Slack-Signature': `v0=${signature}` };
}

async function postToBridge(body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const response = await fetch(`${bridgeUrl}/slack/interactions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'Slackbot 1.0', ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

describe('Slack on the real stack: the chat bridge, and a worker killed mid-send', () => {
  it('a Slack interactivity payload signed as Slack signs it goes through the bridge and the deploy is promoted', async () => {
    const workflowId = await startDeploy('hello', '1.1.0');
    await waitFor(
      async () => (await status(workflowId)).phase === 'AWAITING_APPROVAL' && approvalRequests(workflowId).length > 0,
      60_000,
      () => 'awaiting approval, with the approval request in Slack',
    );
    const [request] = approvalRequests(workflowId);
    assert.ok(request);
    const { blockId, button } = buttonOf(request, 'opsflow_approve');
    assert.deepEqual(JSON.parse(button.value), { deployId: workflowId, environment: 'production' });
    assert.ok(buttonOf(request, 'opsflow_reject'));
    const body = blockActionsForm(request, blockId, button, SLACK_USERS.alice);
    const now = () => Math.floor(Date.now() / 1000);

    // Negative controls: another secret, and Slack's own signature over five minutes old. Refused, nothing sent.
    const forged = await postToBridge(body, slackHeaders(body, 'not-the-signing-secret', now()));
    assert.equal(forged.status, 401, forged.text);
    assert.match(forged.text, /X-Slack-Signature does not match the body/);
    const stale = await postToBridge(body, slackHeaders(body, SIGNING_SECRET, now() - 6 * 60));
    assert.equal(stale.status, 401, stale.text);
    assert.match(stale.text, /X-Slack-Request-Timestamp is 3\d\d s old/);
    assert.deepEqual(await updateEvents(workflowId), [], 'no refused request reached the history');
    const waiting = await status(workflowId);
    assert.equal(waiting.phase, 'AWAITING_APPROVAL');
    assert.deepEqual(waiting.approvals, []);

    // The request as Slack signs it.
    const signed = slackHeaders(body, SIGNING_SECRET, now());
    const approved = await postToBridge(body, signed);
    assert.equal(approved.status, 200, approved.text);
    assert.deepEqual(JSON.parse(approved.text), {
      response_type: 'ephemeral',
      text: `Approved production of ${workflowId} as alice, signed by the bridge ${BRIDGE}.`,
    });
    const accepted = await updateEvents(workflowId);
    assert.ok(accepted.includes('workflowExecutionUpdateAcceptedEventAttributes'), accepted.join(', '));
    // The same signed request again, within Slack's window: a replay, refused.
    const replayed = await postToBridge(body, signed);
    assert.equal(replayed.status, 401, replayed.text);
    assert.match(replayed.text, /a replay is refused/);

    const watched = await stack.cli('deploy', 'watch', workflowId);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    await stack.closed(workflowId);
    const final = await status(workflowId);
    assert.equal(final.phase, 'PROMOTED');
    assert.deepEqual(
      final.approvals.map((a) => [a.environment, a.by, a.through]),
      [['production', 'alice', { bridge: BRIDGE, platform: 'slack', user: SLACK_USERS.alice }]],
    );
    assert.deepEqual(await updateEvents(workflowId), accepted, 'the replay reached no history either');
    const production = (await stack.platformClient.state()).environments.find((e) => e.environment === 'production');
    assert.equal(production?.stable.version, '1.1.0');

    // Anyone can check from the history that the approval came through Slack, signed by the listed bridge.
    const verified = await stack.cli('deploy', 'verify', workflowId);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(
      verified.stdout,
      new RegExp(
        `approve production by alice \\(update, signed through slack by bridge ${BRIDGE} for ${SLACK_USERS.alice}\\): verified`,
      ),
    );
    assert.match(verified.stdout, /every decision verifies/);

    const log = bridge?.output() ?? '';
    assert.match(log, /401 X-Slack-Signature does not match the body/);
    assert.match(log, new RegExp(`200 approve ${workflowId} by ${SLACK_USERS.alice} as alice`));
    assert.ok(!log.includes(SIGNING_SECRET), 'the bridge never prints the signing secret');
  });

  it('a worker killed while sending leaves no duplicate', async () => {
    // Slack stores the approval request, but its answer is held until the worker that asked is dead.
    const held = slack.holdNextAnswer('chat.postMessage', (args) => hasApproveButton(args.blocks));
    let received = false;
    void held.received.then(() => (received = true));
    const workflowId = await startDeploy('greeter', '1.1.0');
    await waitFor(
      async () => received,
      60_000,
      () => `the approval request reaching Slack\n${stack.worker?.output() ?? ''}`,
    );
    assert.equal(approvalRequests(workflowId).length, 1, 'Slack has the message; the worker has no answer yet');
    await stack.killWorker();
    held.release();
    await stack.startWorker();

    // The notify activity's attempt times out (no worker answers it) and the new worker retries it: it finds the
    // reply by its metadata and posts nothing.
    await waitFor(
      async () => (await status(workflowId)).notifications?.some((n) => n.event === 'approval.requested') ?? false,
      90_000,
      () => `approval.requested recorded\n${stack.worker?.output() ?? ''}`,
    );
    const told = (await status(workflowId)).notifications?.find((n) => n.event === 'approval.requested');
    assert.deepEqual(
      told?.deliveries.map((d) => [d.channel, d.ok, d.duplicate ?? false]),
      [['team', true, true]],
      'the retry found the message the killed worker had sent',
    );

    const approved = await stack.cli('deploy', 'approve', workflowId, '--by', 'bob');
    assert.equal(approved.code, 0, approved.stdout + approved.stderr);
    const watched = await stack.cli('deploy', 'watch', workflowId);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    await stack.closed(workflowId);
    const final = await status(workflowId);
    assert.equal(final.phase, 'PROMOTED');
    assert.ok(final.timeline.some((e) => e.message === 'told team of approval.requested (it had it already)'));

    // Exactly one message per event: one deploy message, one reply per event, one approval request ever posted.
    const events = (final.notifications ?? []).map((n) => n.event).sort();
    assert.deepEqual(events, ['approval.decided', 'approval.requested', 'deploy.promoted', 'deploy.started']);
    const { roots, replies } = deployThread(workflowId);
    assert.equal(roots.length, 1, 'one deploy message');
    assert.deepEqual(
      replies.map((r) => r.metadata?.event_payload['eventId']).sort(),
      (final.notifications ?? []).map((n) => n.eventId).sort(),
      'one reply per event',
    );
    assert.equal(approvalRequests(workflowId).length, 1);
    const posts = slack.callsOf('chat.postMessage').filter((c) => String(c.args['thread_ts']) === roots[0]?.ts);
    assert.equal(posts.filter((c) => hasApproveButton(c.args['blocks'])).length, 1, 'the retry posted nothing');
  });
});
