import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeployStatus } from '../../src/shared/deploy';
import { FakePagerDuty } from '../helpers/fake-pagerduty';
import { FakeSlack } from '../helpers/fake-slack';
import { Stack, waitFor } from '../helpers/stack';

// The real stack (dev server, worker, local platform, CLI) with the worker's notifications pointed at local servers
// that speak Slack's Web API and PagerDuty's Events API v2; the worker reads the credentials from its environment.
const TOKEN = 'xoxb-e2e-token';
const ROUTING_KEY = 'e2e0routing0key0000000000000000a';
const CHANNEL = 'C0TEAM0001';

let stack: Stack;
const slack = new FakeSlack(TOKEN, [CHANNEL]);
const pagerduty = new FakePagerDuty(ROUTING_KEY);

before(async () => {
  const slackUrl = await slack.start();
  const pagerdutyUrl = await pagerduty.start();
  stack = await Stack.start({
    env: { SLACK_BOT_TOKEN: TOKEN, PAGERDUTY_ROUTING_KEY: ROUTING_KEY },
    configure: (config) => ({
      ...config,
      notifications: {
        channels: {
          team: { kind: 'slack', channel: CHANNEL, apiUrl: slackUrl },
          oncall: { kind: 'pagerduty', apiUrl: pagerdutyUrl },
        },
      },
    }),
  });
});

after(async () => {
  await stack?.stop();
  await slack.close();
  await pagerduty.stop();
});

/** The deploy's status, read as a test polls it (`deploy status --json` itself is checked in deploy-e2e). */
async function status(id: string): Promise<DeployStatus> {
  return stack.status(id);
}

/** The deploy's message in the channel (its metadata names the deploy) and its thread's replies. */
function deployThread(deployId: string) {
  const root = slack
    .topLevel(CHANNEL)
    .find((m) => m.metadata?.event_type === 'opsflow_deploy' && m.metadata.event_payload['deployId'] === deployId);
  return { root, replies: root ? slack.replies(CHANNEL, root.ts) : [] };
}

describe('notifications end to end (Slack, PagerDuty)', () => {
  it('asks the approvers in Slack with buttons, tells the promotion in place, and pages nobody', async () => {
    const started = await stack.cli('deploy', 'start', '--service', 'hello', '--version', '1.1.0', '--json');
    assert.equal(started.code, 0, started.stderr);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
    await waitFor(
      async () => (await status(workflowId)).phase === 'AWAITING_APPROVAL',
      60_000,
      () => 'awaiting approval',
    );
    // Each event is sent by its own activity, beside the deploy: the replies come in the order the sends end.
    const approvalRequest = () =>
      deployThread(workflowId).replies.find((r) => JSON.stringify(r.blocks ?? []).includes('opsflow_approve'));
    await waitFor(
      async () => approvalRequest() !== undefined,
      30_000,
      () => 'the approval request in Slack',
    );
    assert.match(JSON.stringify(approvalRequest()?.blocks ?? []), /opsflow_reject/);

    const approved = await stack.cli('deploy', 'approve', workflowId, '--by', 'alice');
    assert.equal(approved.code, 0, approved.stdout + approved.stderr);
    const watched = await stack.cli('deploy', 'watch', workflowId);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);

    // The deploy tells its outcome as it ends, after its final phase, which is where watch stops.
    await stack.closed(workflowId);
    const final = await status(workflowId);
    const told = Object.fromEntries(
      (final.notifications ?? []).map((n) => [n.event, n.deliveries.map((d) => [d.channel, d.ok])]),
    );
    assert.deepEqual(told, {
      'deploy.started': [['team', true]],
      'approval.requested': [['team', true]],
      'approval.decided': [
        ['team', true],
        ['oncall', true],
      ],
      'deploy.promoted': [
        ['team', true],
        ['oncall', true],
      ],
    });
    assert.equal(final.notifications?.length, 4, 'each event once');
    const { root, replies } = deployThread(workflowId);
    assert.equal(replies.length, 4, 'one reply per event');
    assert.match(root?.text ?? '', /promoted/i, 'the deploy message tells the outcome in place');
    assert.equal(pagerduty.triggers, 0, 'a promotion pages nobody');
  });

  it('pages once when 1.2.0 is rolled back, and resolves the incident once stable is verified', async () => {
    const started = await stack.cli('deploy', 'start', '--service', 'hello', '--version', '1.2.0', '--wait');
    assert.equal(started.code, 2, started.stdout + started.stderr);
    const workflowId = 'deploy-hello-1.2.0-production';
    await stack.closed(workflowId);
    const final = await status(workflowId);
    assert.equal(final.phase, 'ROLLED_BACK');
    const rolledBack = final.notifications?.find((n) => n.event === 'deploy.rolled-back');
    assert.deepEqual(
      rolledBack?.deliveries.map((d) => [d.channel, d.ok]),
      [
        ['team', true],
        ['oncall', true],
      ],
    );
    assert.equal(pagerduty.triggers, 1, 'one trigger');
    const incident = pagerduty.incidents.find((i) => i.dedupKey.includes(workflowId));
    assert.equal(incident?.status, 'resolved', 'resolved once the rollback was verified');
    assert.equal(pagerduty.incidents.length, 1);
    assert.ok(final.timeline.some((e) => e.message === 'told oncall of deploy.rolled-back'));
  });
});
