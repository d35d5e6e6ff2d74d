import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { refuseEffect, type EffectContext } from '../../src/activities/authority';
import { signSlackRequest } from '../../src/activities/notify/slack/request-signature';
import { SLACK_ACTIONS } from '../../src/activities/notify/slack/types';
import { startChatBridge, type ChatBridgeServer } from '../../src/cli/chat-bridge';
import { verificationLines } from '../../src/cli/commands/verify-actions';
import { ConfigError } from '../../src/config/errors';
import { loadConfig } from '../../src/config/load';
import { resolvePolicy } from '../../src/config/policy';
import { createKeyPair, loadSigner, signDecision, type Signer } from '../../src/keys/keys';
import { failedDecisions, verifyHistory } from '../../src/keys/verify';
import type { ChatRule, DeployPolicy, EnvironmentPlan, EnvironmentPolicy } from '../../src/shared/deploy';
import { approveUpdate, pauseUpdate, resumeUpdate, statusQuery } from '../../src/shared/deploy/messages';
import { ErrorType } from '../../src/shared/errors';
import { hashOf, type SignedAction, type SignedStatement } from '../../src/shared/signing';
import { testConfig, testInput } from '../helpers/config';
import { DeployTestEnv, type DeployHandle } from '../helpers/workflow-env';
import { environmentRules } from '../helpers/policy';

Runtime.install({ logger: new DefaultLogger('WARN') });

/**
 * The forgery catalogue, grown by chat (issue 18, item 3): a decision from Slack is a statement signed by the bridge's
 * own key for the person the policy maps the Slack user to, and counts only where the environment's `chat` rule lets
 * it, in the Update's validator, in the activity that changes the environment and in `deploy verify`; the bridge
 * refuses what Slack did not sign before anything reaches Temporal.
 */
const t = new DeployTestEnv();
const keysDir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-chat-keys-'));
const people = ['alice', 'bob', 'carol', 'mallory', 'bridge', 'rogue'] as const;
type Signing = (typeof people)[number];
const lines = {} as Record<Signing, string>;
const SLACK = { alice: 'U0ALICE001', bob: 'U0BOB00001', mallory: 'U0MALLORY1' } as const;
const BRIDGE = 'ops-slack';
const SECRET = 'test-signing-secret-8f14e45fceea167a';
before(async () => {
  await t.setup();
  for (const name of people) lines[name] = createKeyPair(keysDir, name).line;
});
after(async () => {
  await t.teardown();
  rmSync(keysDir, { recursive: true, force: true });
});

const rules = environmentRules;

/** The worker's policy: alice and bob approve production and are mapped in Slack; the bridge ops-slack is listed. */
function policy(chat: ChatRule | undefined, production: Partial<EnvironmentPolicy> = {}): DeployPolicy {
  return {
    trustTypedNames: false,
    people: {
      alice: { publicKey: lines.alice, groups: [], slack: SLACK.alice },
      bob: { publicKey: lines.bob, groups: [], slack: SLACK.bob },
      carol: { publicKey: lines.carol, groups: [] },
      mallory: { publicKey: lines.mallory, groups: [], slack: SLACK.mallory },
    },
    bridges: { [BRIDGE]: { publicKey: lines.bridge, kind: 'slack' } },
    environments: {
      production: rules({ ...(chat ? { chat } : {}), ...production }),
      staging: rules({ protected: false, approvers: [] }),
    },
    source: 'test policy',
  };
}

function signerOf(name: Signing): Promise<Signer> {
  return loadSigner(path.join(keysDir, `${name}.key`), undefined);
}

/** A statement "person, through slack user U…", signed by the bridge's key unless a forgery says otherwise. */
async function chatStatement(
  handle: DeployHandle,
  person: string,
  forge: { user?: string; bridge?: string; signer?: Signing; action?: SignedAction; via?: false } = {},
): Promise<SignedStatement> {
  const status = await handle.query(statusQuery);
  const signing = status.signing;
  assert.ok(signing && status.environment, 'the status says what to sign');
  const user = forge.user ?? SLACK[person as keyof typeof SLACK];
  return signDecision(
    await signerOf(forge.signer ?? 'bridge'),
    {
      namespace: signing.namespace,
      workflowId: handle.workflowId,
      runId: signing.runId,
      environment: status.environment,
      planHash: signing.planHashes[status.environment] ?? '',
    },
    {
      action: forge.action ?? 'approve',
      person,
      ...(forge.via === false ? {} : { via: { bridge: forge.bridge ?? BRIDGE, platform: 'slack' as const, user } }),
    },
    { nowMs: await t.env.currentTimeMs() },
  );
}

/** A statement signed with a person's own key, as `opsflow deploy approve` makes it. */
async function keyStatement(handle: DeployHandle, person: Signing, action: SignedAction = 'approve') {
  const status = await handle.query(statusQuery);
  const signing = status.signing;
  assert.ok(signing && status.environment);
  return signDecision(
    await signerOf(person),
    {
      namespace: signing.namespace,
      workflowId: handle.workflowId,
      runId: signing.runId,
      environment: status.environment,
      planHash: signing.planHashes[status.environment] ?? '',
    },
    { action, person },
    { nowMs: await t.env.currentTimeMs() },
  );
}

/** Sends an Update that the validator must refuse, with the given one-line reason. */
async function refused(handle: DeployHandle, args: object, reason: RegExp, update = approveUpdate) {
  await assert.rejects(handle.executeUpdate(update, { args: [args as never] }), (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    const message = String((err.cause as Error | undefined)?.message);
    assert.match(message, reason);
    assert.ok(!message.includes('\n'), 'one line');
    return true;
  });
}

/** Events of the deploy's history that record an accepted Update. */
async function acceptedUpdates(handle: DeployHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

describe('approvals from chat, in the workflow', () => {
  it('where chat: all, a bridge-signed approval promotes; status, timeline and deploy verify say it came through slack', async () => {
    const run = await t.runDeploy({ policy: policy('all') }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      const signed = await chatStatement(handle, 'alice');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed }] });
    });
    assert.equal(run.result?.outcome, 'promoted');
    const approval = run.status.approvals.find((a) => a.environment === 'production');
    assert.deepEqual(approval?.through, { bridge: BRIDGE, platform: 'slack', user: SLACK.alice });
    assert.ok(
      run.status.timeline.some(
        (e) =>
          e.message ===
          `approved by alice through slack (${SLACK.alice}) (update, signed by the chat bridge ${BRIDGE})`,
      ),
      'the timeline says who, through which platform and user',
    );
    const events = (await run.handle.fetchHistory()).events ?? [];
    const runId = (await run.handle.describe()).runId;
    const verified = verifyHistory(run.handle.workflowId, 'default', events, { policy: policy('all'), runId });
    const decision = verified.decisions.find((d) => d.action === 'approve');
    assert.deepEqual(decision?.chat, { bridge: BRIDGE, platform: 'slack', user: SLACK.alice });
    assert.equal(decision?.problem, undefined);
    assert.ok(
      verificationLines(verified, 0).some((l) =>
        l.endsWith(
          `approve production by alice (update, signed through slack by bridge ${BRIDGE} for ${SLACK.alice}): verified`,
        ),
      ),
    );
    // The verifier whose own policy does not let chat count in production says so, and fails the deploy's check.
    const strict = verifyHistory(run.handle.workflowId, 'default', events, { policy: policy('none'), runId });
    assert.match(failedDecisions(strict)[0]?.problem ?? '', /decisions through chat do not count in production/);
  });

  it('refuses every chat forgery with one line and nothing in history; chat: none refuses a genuine one', async () => {
    const run = await t.runDeploy({ policy: policy('all') }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      const before = await acceptedUpdates(handle);
      // A bridge the policy does not list, with a key of its own.
      const unlisted = await chatStatement(handle, 'alice', { bridge: 'rogue-bridge', signer: 'rogue' });
      await refused(
        handle,
        { by: 'alice', signed: unlisted },
        /the chat bridge rogue-bridge is not in the worker's policy/,
      );
      // The listed bridge's name, signed by another key.
      const wrongKey = await chatStatement(handle, 'alice', { signer: 'rogue' });
      await refused(handle, { by: 'alice', signed: wrongKey }, /the signature is not the chat bridge ops-slack's/);
      // alice signing a "through chat" statement herself is not the bridge either.
      const ownKeyAsBridge = await chatStatement(handle, 'alice', { signer: 'alice' });
      await refused(
        handle,
        { by: 'alice', signed: ownKeyAsBridge },
        /the signature is not the chat bridge ops-slack's/,
      );
      // The bridge's key without `via` is nobody's personal key.
      const bridgeAsAlice = await chatStatement(handle, 'alice', { via: false });
      await refused(handle, { by: 'alice', signed: bridgeAsAlice }, /the signature is not alice's/);
      // A Slack user the policy maps to nobody.
      const stranger = await chatStatement(handle, 'alice', { user: 'U0NOBODY01' });
      await refused(
        handle,
        { by: 'alice', signed: stranger },
        /slack user U0NOBODY01 is not alice's in the worker's policy/,
      );
      // A statement claiming bob's Slack user speaks for alice.
      const otherUser = await chatStatement(handle, 'alice', { user: SLACK.bob });
      await refused(handle, { by: 'alice', signed: otherUser }, new RegExp(`slack user ${SLACK.bob} is not alice's`));
      // mallory is mapped, but no approver.
      const mallory = await chatStatement(handle, 'mallory');
      await refused(handle, { by: 'mallory', signed: mallory }, /mallory is not an approver for production/);
      assert.equal(await acceptedUpdates(handle), before, 'no refused update reached history');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await chatStatement(handle, 'bob') }] });
    });
    assert.equal(run.result?.outcome, 'promoted');

    const none = await t.runDeploy({ policy: policy(undefined) }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      const before = await acceptedUpdates(handle);
      await refused(
        handle,
        { by: 'alice', signed: await chatStatement(handle, 'alice') },
        /^decisions through chat do not count in production \(the worker's policy says chat: none\): use "opsflow deploy approve" with your own key$/,
      );
      assert.equal(await acceptedUpdates(handle), before, 'no refused update reached history');
      await handle.executeUpdate(approveUpdate, {
        args: [{ by: 'alice', signed: await keyStatement(handle, 'alice') }],
      });
    });
    assert.equal(none.result?.outcome, 'promoted');
    assert.equal(none.status.approvals.find((a) => a.environment === 'production')?.through, undefined);
  });

  it('with chat: first, one approval of two may come through chat; the second needs a personal key; a person counts once', async () => {
    const run = await t.runDeploy({ policy: policy('first', { required: 2 }) }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, {
        args: [{ by: 'alice', signed: await chatStatement(handle, 'alice') }],
      });
      const before = await acceptedUpdates(handle);
      await refused(
        handle,
        { by: 'bob', signed: await chatStatement(handle, 'bob') },
        /^only one approval of production may come through chat \(the worker's policy says chat: first\): bob approves with their own key/,
      );
      await refused(
        handle,
        { by: 'alice', signed: await keyStatement(handle, 'alice') },
        /alice already approved production: 2 approvals must come from different people/,
      );
      assert.equal(await acceptedUpdates(handle), before, 'no refused update reached history');
      assert.equal((await handle.query(statusQuery)).phase, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await keyStatement(handle, 'bob') }] });
    });
    assert.equal(run.result?.outcome, 'promoted', 'the effect activity counted the chat approval and the key one');
    const events = (await run.handle.fetchHistory()).events ?? [];
    const runId = (await run.handle.describe()).runId;
    const verified = verifyHistory(run.handle.workflowId, 'default', events, {
      policy: policy('first', { required: 2 }),
      runId,
    });
    assert.deepEqual(
      verified.decisions.filter((d) => d.action === 'approve').map((d) => [d.person, d.chat?.user, d.problem]),
      [
        ['alice', SLACK.alice, undefined],
        ['bob', undefined, undefined],
      ],
    );
  });

  it('a chat resume counts where chat is allowed and is recorded as such', async () => {
    const run = await t.runDeploy({ policy: policy('all') }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, {
        args: [{ by: 'alice', signed: await chatStatement(handle, 'alice') }],
      });
      await t.waitFor(handle, 'CANARY');
      await handle.executeUpdate(pauseUpdate, { args: [{ by: 'bob', reason: 'look first' }] });
      const signed = await chatStatement(handle, 'bob', { action: 'resume' });
      const resumed = await handle.executeUpdate(resumeUpdate, {
        args: [{ by: 'bob', reason: `resumed in Slack by ${SLACK.bob}`, signed }],
      });
      assert.deepEqual(resumed.through, { bridge: BRIDGE, platform: 'slack', user: SLACK.bob });
    });
    assert.equal(run.result?.outcome, 'promoted');
    assert.ok(run.status.timeline.some((e) => e.message.startsWith(`resumed by bob through slack (${SLACK.bob})`)));
  });
});

describe('the activity that changes an environment counts chat approvals by its own rule', () => {
  it("refuses a chat approval the worker's rule does not allow, whatever the policy answer said", async () => {
    // Someone completes the workerPolicy activity with a policy that lets chat count: the worker's own says none.
    const run = await t.runDeploy(
      { policy: policy(undefined), forge: () => ({ workerPolicy: async () => policy('all') }) },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        await handle.executeUpdate(approveUpdate, {
          args: [{ by: 'alice', signed: await chatStatement(handle, 'alice') }],
        });
      },
    );
    assert.equal(run.status.outcome, 'failed');
    assert.equal(run.status.cause?.kind === 'error' ? run.status.cause.errorType : undefined, ErrorType.PolicyRefused);
    assert.match(
      run.status.reason ?? '',
      /the worker refuses to start in production: .*decisions through chat do not count in production/,
    );
    assert.equal(run.target.count('start', 'production'), 0, 'nothing started in production');
  });

  const NOW = Date.parse('2026-12-07T12:00:00Z');
  const where: EffectContext = {
    namespace: 'default',
    workflowId: 'deploy-hello-1.1.0-production',
    runId: 'r',
    nowMs: NOW,
  };
  const plan = testInput(testConfig(), '/tmp', { version: '1.1.0' }).environments[1] as EnvironmentPlan;
  const start = { kind: 'start' as const, environment: 'production', service: 'hello', version: '1.1.0' };
  const approval = (signer: Signing, person: string, via?: boolean) =>
    signerOf(signer).then((s) =>
      signDecision(
        s,
        {
          namespace: 'default',
          workflowId: where.workflowId,
          runId: 'r',
          environment: 'production',
          planHash: hashOf(plan),
        },
        {
          action: 'approve',
          person,
          ...(via
            ? { via: { bridge: BRIDGE, platform: 'slack' as const, user: SLACK[person as 'alice' | 'bob'] } }
            : {}),
        },
        { nowMs: NOW - 60_000 },
      ),
    );

  it('counts a person once by key or chat, and one chat approval of N under first', async () => {
    const aliceKey = await approval('alice', 'alice');
    const aliceChat = await approval('bridge', 'alice', true);
    const bobChat = await approval('bridge', 'bob', true);
    const bobKey = await approval('bob', 'bob');
    const all = policy('all', { required: 2 });
    assert.match(refuseEffect(all, where, start, { plan, approvals: [aliceChat, aliceKey] }) ?? '', /1 verify/);
    assert.equal(refuseEffect(all, where, start, { plan, approvals: [aliceChat, bobChat] }), undefined);
    const first = policy('first', { required: 2 });
    assert.match(
      refuseEffect(first, where, start, { plan, approvals: [aliceChat, bobChat] }) ?? '',
      /1 verify; refused: only one approval of production may come through chat/,
    );
    // Keys first: alice by key and bob through chat is one chat approval of the two.
    assert.equal(refuseEffect(first, where, start, { plan, approvals: [aliceChat, bobChat, aliceKey] }), undefined);
    assert.equal(refuseEffect(first, where, start, { plan, approvals: [aliceChat, bobKey] }), undefined);
    // A policy without the bridge knows no such signer.
    const noBridge = { ...all, bridges: {} };
    assert.match(
      refuseEffect(noBridge, where, start, { plan, approvals: [aliceChat, bobChat] }) ?? '',
      /the chat bridge ops-slack is not in the worker's policy/,
    );
  });
});

describe("the worker's policy of chat, as it loads", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-chat-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const load = (name: string, block: string) => {
    const file = path.join(dir, name);
    writeFileSync(
      file,
      `
project: p
services:
  hello:
    target: { kind: local, command: [node, server.js], versions: ['1.0.0'], initialVersion: '1.0.0' }
environments:
  staging: {}
  production:
    approval: { required: true, approvers: [alice, bob] }
policy:
${block}
`,
    );
    return resolvePolicy(loadConfig(file).config, file);
  };

  it('maps Slack users, lists bridges and the chat rule; absent, none, as recorded policies read', () => {
    const loaded = load(
      'chat.yaml',
      `  people:
    alice: { key: "${lines.alice}", slack: ${SLACK.alice} }
    bob: { key: "${lines.bob}" }
  bridges:
    ${BRIDGE}: { key: "${lines.bridge}", kind: slack }
  environments:
    production: { approvers: [alice, bob], required: 2, chat: first }
    staging: { protected: false, approvers: [alice] }`,
    );
    assert.equal(loaded.people['alice']?.slack, SLACK.alice);
    assert.equal('slack' in (loaded.people['bob'] ?? {}), false);
    assert.deepEqual(loaded.bridges, { [BRIDGE]: { publicKey: lines.bridge, kind: 'slack' } });
    assert.equal(loaded.environments['production']?.chat, 'first');
    assert.equal('chat' in (loaded.environments['staging'] ?? {}), false, 'none is written as absent');
    const plain = load('plain.yaml', `  people:\n    alice: { key: "${lines.alice}" }`);
    assert.equal('bridges' in plain, false);
  });

  it("refuses a Slack user listed for two people, and a bridge holding a person's key, in one line", () => {
    const oneLine = (pattern: RegExp) => (err: unknown) =>
      err instanceof ConfigError && pattern.test(err.message) && !err.message.includes('\n');
    assert.throws(
      () =>
        load(
          'twice.yaml',
          `  people:
    alice: { key: "${lines.alice}", slack: ${SLACK.alice} }
    bob: { key: "${lines.bob}", slack: ${SLACK.alice} }`,
        ),
      oneLine(
        /^policy\.people\.bob\.slack: U0ALICE001 is policy\.people\.alice's too; a Slack user maps to one person$/,
      ),
    );
    assert.throws(
      () =>
        load(
          'bridge-key.yaml',
          `  people:
    alice: { key: "${lines.alice}" }
  bridges:
    ${BRIDGE}: { key: "${lines.alice.replace(/ alice$/, ' bridge')}", kind: slack }`,
        ),
      oneLine(
        /^policy\.bridges\.ops-slack: the same key as policy\.people\.alice \(SHA256:.*\); a bridge needs a key of its own$/,
      ),
    );
  });
});

describe('opsflow chat-bridge', () => {
  /** A block_actions payload as Slack sends a button press, form-encoded. */
  const form = (user: string, deployId: string, action: string = SLACK_ACTIONS.approve) =>
    new URLSearchParams({
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: user, username: 'someone', team_id: 'T0TEAM0001' },
        team: { id: 'T0TEAM0001', domain: 'example' },
        api_app_id: 'A0APP00001',
        response_url: 'https://hooks.slack.com/actions/T0TEAM0001/1/abc',
        trigger_id: '1.2.3',
        actions: [
          {
            type: 'button',
            action_id: action,
            block_id: 'opsflow_approval',
            value: JSON.stringify({ deployId, environment: 'production' }),
            action_ts: '1.2',
          },
        ],
      }),
    }).toString();

  async function post(
    bridge: ChatBridgeServer,
    body: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; text: string }> {
    const response = await fetch(`${bridge.url}/slack/interactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
    return { status: response.status, text: await response.text() };
  }

  it('refuses what Slack did not sign, old, replayed or from a stranger with nothing in history; signs and sends the rest', async () => {
    const answers: string[] = [];
    const log: string[] = [];
    const run = await t.runDeploy({ policy: policy('first', { required: 2 }) }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      const bridge = await startChatBridge({
        client: t.env.client,
        policy: policy('first', { required: 2 }),
        bridge: { name: BRIDGE, signer: await signerOf('bridge') },
        signingSecret: SECRET,
        clock: () => t.env.currentTimeMs(),
        respond: async (_url, message) => void answers.push(message.text),
        onRequest: (line) => log.push(line),
        port: 0,
      });
      try {
        const now = () => t.env.currentTimeMs();
        const before = await acceptedUpdates(handle);
        const body = form(SLACK.alice, handle.workflowId);
        const expect = async (got: Promise<{ status: number; text: string }>, status: number, text: RegExp) => {
          const answer = await got;
          assert.equal(answer.status, status, answer.text);
          assert.match(answer.text, text);
          assert.equal(answer.text.trim().split('\n').length, 1, 'one line');
        };
        await expect(post(bridge, body, {}), 401, /X-Slack-Signature is missing/);
        await expect(
          post(bridge, body, signSlackRequest(body, 'another-secret', await now())),
          401,
          /X-Slack-Signature does not match the body/,
        );
        const tampered = signSlackRequest(form(SLACK.bob, handle.workflowId), SECRET, await now());
        await expect(post(bridge, body, tampered), 401, /does not match the body/);
        await expect(
          post(bridge, body, signSlackRequest(body, SECRET, (await now()) - 6 * 60_000)),
          401,
          /X-Slack-Request-Timestamp is 36\d s old; at most 300 s are accepted/,
        );
        const stranger = form('U0NOBODY01', handle.workflowId);
        await expect(
          post(bridge, stranger, signSlackRequest(stranger, SECRET, await now())),
          403,
          /Slack user U0NOBODY01 is not a person of the worker's policy/,
        );
        const garbled = 'payload=%7Bnot-json';
        await expect(post(bridge, garbled, signSlackRequest(garbled, SECRET, await now())), 400, /not JSON/);
        const unknownAction = form(SLACK.alice, handle.workflowId, 'opsflow_delete_everything');
        await expect(
          post(bridge, unknownAction, signSlackRequest(unknownAction, SECRET, await now())),
          400,
          /not one of opsflow's buttons/,
        );
        assert.equal(await acceptedUpdates(handle), before, 'nothing reached Temporal');

        // Genuine: alice through Slack is the one chat approval of two production allows.
        const signed = signSlackRequest(body, SECRET, await now());
        const ok = await post(bridge, body, signed);
        assert.equal(ok.status, 200);
        assert.deepEqual(JSON.parse(ok.text), {
          response_type: 'ephemeral',
          text: `Approved production of ${handle.workflowId} as alice, signed by the bridge ${BRIDGE}.`,
        });
        assert.equal(await acceptedUpdates(handle), before + 1);
        // The same signed request again, within Slack's window: refused, nothing sent.
        await expect(post(bridge, body, signed), 401, /answered already: a replay is refused/);
        // bob through Slack: the validator's refusal goes back to Slack, and nothing reaches history.
        const bobs = form(SLACK.bob, handle.workflowId);
        const refusedAnswer = await post(bridge, bobs, signSlackRequest(bobs, SECRET, await now()));
        assert.equal(refusedAnswer.status, 200);
        assert.match(
          JSON.parse(refusedAnswer.text).text,
          /^Not done: refused: only one approval of production may come through chat/,
        );
        assert.equal(await acceptedUpdates(handle), before + 1);
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await keyStatement(handle, 'bob') }] });
      } finally {
        await bridge.close();
      }
    });
    assert.equal(run.result?.outcome, 'promoted');
    assert.deepEqual(
      run.status.approvals.filter((a) => a.environment === 'production').map((a) => [a.by, a.through?.user]),
      [
        ['alice', SLACK.alice],
        ['bob', undefined],
      ],
    );
    assert.equal(answers.length, 3, 'the 403 and both 200 answers went to response_url too');
    assert.ok(
      log.every((l) => !l.includes(SECRET)),
      'the log never holds the secret',
    );
  });
});
