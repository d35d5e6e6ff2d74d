import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ChannelError, type Channel, type SendResult } from '../../src/activities/notify/contract';
import { createNotifyActivities } from '../../src/activities/notify';
import { ChannelRegistry } from '../../src/activities/notify/registry';
import { notificationsConfigSchema, wantedEvents } from '../../src/config/notifications';
import type { DeployPolicy } from '../../src/shared/deploy';
import { pauseUpdate } from '../../src/shared/deploy/messages';
import { NOTIFY_ATTEMPTS } from '../../src/shared/notify/delivery';
import { EVENT_TYPES, opsEventSchema, type Delivery, type OpsEvent } from '../../src/shared/notify/events';
import { TYPED_NAMES_POLICY } from '../helpers/fakes';
import { DeployTestEnv } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** The demo policy, with notifications of every event and the given escalation. */
function notifying(escalation: NonNullable<DeployPolicy['notify']>['escalation'] = {}): DeployPolicy {
  return { ...TYPED_NAMES_POLICY, notify: { events: [...EVENT_TYPES], escalation } };
}

/** A notify activity that keeps what it is sent, as a channel that answers at once. */
function capture(
  events: OpsEvent[],
  answer: (event: OpsEvent) => Delivery[] = () => [{ channel: 'team', ok: true, ref: 'r', detail: 'posted' }],
) {
  return () => ({
    notify: async (event: OpsEvent) => {
      events.push(opsEventSchema.parse(event));
      return answer(event);
    },
  });
}

const MINUTE = 60_000;

describe('a deploy tells people what it does (issue 18)', () => {
  it('sends each routed event once, in order, with stable ids, and records every delivery', async () => {
    const events: OpsEvent[] = [];
    const run = await t.runDeploy({ policy: notifying(), forge: capture(events) }, t.approve());
    assert.equal(run.result?.outcome, 'promoted');
    assert.deepEqual(
      events.map((e) => [e.type, 'environment' in e ? e.environment : undefined, e.severity]),
      [
        ['deploy.started', undefined, 'info'],
        ['approval.requested', 'production', 'warning'],
        ['approval.decided', 'production', 'info'],
        ['canary.step-passed', 'production', 'info'],
        ['canary.step-passed', 'production', 'info'],
        ['canary.step-passed', 'production', 'info'],
        ['deploy.promoted', 'production', 'info'],
      ],
    );
    const runId = (await run.handle.describe()).runId;
    assert.deepEqual(
      events.map((e) => e.id),
      events.map((_, i) => `${run.handle.workflowId}/${runId}/${i + 1}`),
    );
    const requested = events[1];
    assert.ok(requested?.type === 'approval.requested');
    assert.deepEqual(requested.approvers, ['alice', 'bob']);
    const decided = events[2];
    assert.ok(decided?.type === 'approval.decided');
    assert.deepEqual([decided.decision, decided.by, decided.approvals, decided.required], ['approved', 'alice', 1, 1]);
    assert.equal(run.status.notifications?.length, 7);
    assert.ok(run.status.timeline.some((e) => e.message === 'told team of deploy.promoted'));
  });

  it('reminds at the escalation times, pages from the second reminder, and says when the wait timed out', async () => {
    const events: OpsEvent[] = [];
    const run = await t.runDeploy(
      {
        policy: notifying({ production: { approvalRemindersMs: [30 * MINUTE, 45 * MINUTE, 2 * 60 * MINUTE] } }),
        forge: capture(events),
      },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        await t.env.sleep('61 minutes');
      },
    );
    assert.equal(run.result?.outcome, 'approval-timed-out');
    const requested = events.find((e) => e.type === 'approval.requested');
    const reminders = events.filter((e) => e.type === 'approval.reminder');
    // The approval times out after 1 h: the 2 h reminder never comes.
    assert.deepEqual(
      reminders.map((e) => [e.type === 'approval.reminder' && e.level, e.severity]),
      [
        [1, 'warning'],
        [2, 'critical'],
      ],
    );
    assert.ok(requested);
    assert.deepEqual(
      reminders.map((e) => Math.round((Date.parse(e.time) - Date.parse(requested.time)) / MINUTE)),
      [30, 45],
    );
    const decided = events.find((e) => e.type === 'approval.decided');
    assert.equal(decided?.type === 'approval.decided' && decided.decision, 'timed-out');
    assert.equal(events.at(-1)?.type, 'deploy.cancelled');
  });

  it('pages at once on a production rollback, with its cause and time to restore; a staging one only warns', async () => {
    const events: OpsEvent[] = [];
    const run = await t.runDeploy(
      {
        version: '1.2.0',
        policy: notifying(),
        forge: capture(events),
        profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.2, p95Ms: 300 } },
      },
      t.approve(),
    );
    assert.equal(run.result?.outcome, 'rolled-back');
    const rolledBack = events.filter((e) => e.type === 'deploy.rolled-back');
    assert.equal(rolledBack.length, 1, 'one rollback event, not another at the end');
    const event = rolledBack[0];
    assert.ok(event?.type === 'deploy.rolled-back');
    assert.deepEqual(
      [event.environment, event.severity, event.cause, event.restored],
      ['production', 'critical', 'critical', true],
    );
    assert.ok(event.timeToRestoreMs !== undefined && event.timeToRestoreMs >= 0);
    assert.equal(events.at(-1)?.type, 'deploy.rolled-back');

    const staging: OpsEvent[] = [];
    await t.runDeploy(
      {
        version: '1.2.0',
        policy: notifying(),
        forge: capture(staging),
        profiles: { 'staging/1.2.0': { requests: 100, errorRate: 0.2, p95Ms: 300 } },
      },
      async () => undefined,
    );
    const stagingRollback = staging.find((e) => e.type === 'deploy.rolled-back');
    assert.deepEqual(
      [stagingRollback?.severity, stagingRollback && 'environment' in stagingRollback && stagingRollback.environment],
      ['warning', 'staging'],
    );
  });

  it('pages before a pause times out, then tells of the rollback', async () => {
    const events: OpsEvent[] = [];
    const run = await t.runDeploy(
      {
        policy: notifying({ production: { approvalRemindersMs: [], pauseAlertBeforeMs: 10 * MINUTE } }),
        forge: capture(events),
        config: { production: { pauseTimeout: '30m' } },
      },
      async (handle) => {
        await t.approve()(handle);
        await t.waitFor(handle, 'CANARY');
        await handle.executeUpdate(pauseUpdate, { args: [{ by: 'dave', reason: 'checking a dashboard' }] });
        await t.env.sleep('31 minutes');
      },
    );
    assert.equal(run.result?.outcome, 'rolled-back');
    const paused = events.filter((e) => e.type === 'canary.paused');
    assert.deepEqual(
      paused.map((e) => e.severity),
      ['warning', 'critical'],
    );
    const [first, alert] = paused;
    assert.ok(first && alert);
    assert.equal(Math.round((Date.parse(alert.time) - Date.parse(first.time)) / MINUTE), 20);
    const rolledBack = events.find((e) => e.type === 'deploy.rolled-back');
    assert.equal(rolledBack?.type === 'deploy.rolled-back' && rolledBack.cause, 'pause-timeout');
  });

  it('never lets a channel hold up or fail the deploy: failures are recorded once', async () => {
    const run = await t.runDeploy(
      {
        policy: notifying(),
        forge: () => ({
          notify: async () => {
            throw ApplicationFailure.nonRetryable('the notify activity broke');
          },
        }),
      },
      t.approve(),
    );
    assert.equal(run.result?.outcome, 'promoted');
    assert.equal(run.status.notifications?.length, 7);
    assert.ok(run.status.notifications?.every((n) => n.error?.includes('the notify activity broke')));
    assert.ok(run.status.timeline.some((e) => /^could not notify of deploy\.promoted: /.test(e.message)));
  });

  it('schedules no notification where the worker routes none', async () => {
    const run = await t.runDeploy({ policy: TYPED_NAMES_POLICY }, t.approve());
    const history = await run.handle.fetchHistory();
    const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
    assert.ok(!scheduled.includes('notify'));
    assert.equal(run.status.notifications, undefined);
  });
});

/** A channel of the test: answers from a script, counts its sends. */
class ScriptedChannel implements Channel {
  readonly kind = 'scripted';
  sent: string[] = [];
  constructor(private readonly script: (event: OpsEvent, n: number) => SendResult | Error) {}
  async send(event: OpsEvent): Promise<SendResult> {
    const answer = this.script(event, this.sent.length);
    this.sent.push(event.id);
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

describe('the notify activity', () => {
  const event: OpsEvent = {
    id: 'deploy-hello-1.1.0-production/run/1',
    type: 'deploy.failed',
    severity: 'critical',
    time: '2026-12-07T12:00:00.000Z',
    project: 'demo',
    deployId: 'deploy-hello-1.1.0-production',
    service: 'hello',
    version: '1.1.0',
    requestedBy: 'carol',
    environment: 'production',
    reason: 'the canary failed',
  };
  const ok = (ref: string): SendResult => ({ ref, duplicate: false, detail: 'sent' });

  it("routes by the worker's rules, keeps done channels across attempts, honours Retry-After, gives up once", async () => {
    const slack = new ScriptedChannel(() => ok('ts-1'));
    let pagerTries = 0;
    const pager = new ScriptedChannel(() => {
      pagerTries += 1;
      return new ChannelError('PagerDuty answered 429', true, 7_000);
    });
    const audit = new ScriptedChannel(() => ok('never'));
    const routes = [
      { events: ['deploy.failed' as const], environments: ['production'], channels: ['slack', 'pager'] },
      { events: ['deploy.promoted' as const], channels: ['audit'] },
    ];
    const { notify } = createNotifyActivities({ channels: new ChannelRegistry({ slack, pager, audit }, routes) });

    // First attempt: slack done, pager asks to wait 7 s: the activity fails for Temporal to retry after 7 s.
    let details: unknown;
    const first = new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') });
    first.on('heartbeat', (d: unknown) => (details = d));
    await assert.rejects(first.run(notify, event), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.nonRetryable, false);
      assert.equal(err.nextRetryDelay, 7_000);
      assert.match(err.message, /^pager: PagerDuty answered 429$/);
      return true;
    });
    // The last attempt, with the first one's heartbeat: slack is not sent again; pager is given up on, once.
    const last = new MockActivityEnvironment(
      { attempt: NOTIFY_ATTEMPTS, heartbeatDetails: details },
      { logger: new DefaultLogger('ERROR') },
    );
    const deliveries = (await last.run(notify, event)) as Delivery[];
    assert.deepEqual(slack.sent, [event.id], 'sent to slack once');
    assert.equal(pagerTries, 2);
    assert.equal(audit.sent.length, 0, 'not routed there');
    assert.deepEqual(
      deliveries.map((d) => [d.channel, d.ok]),
      [
        ['slack', true],
        ['pager', false],
      ],
    );
    assert.match(
      deliveries[1]?.detail ?? '',
      new RegExp(`^gave up after ${NOTIFY_ATTEMPTS} attempts: PagerDuty answered 429$`),
    );
  });

  it('records a failure no retry can help at once, and sends the other channels', async () => {
    const broken = new ScriptedChannel(
      () => new ChannelError('Slack refused the token in SLACK_BOT_TOKEN (invalid_auth)', false),
    );
    const hook = new ScriptedChannel(() => ok('evt-1'));
    const { notify } = createNotifyActivities({
      channels: new ChannelRegistry({ broken, hook }, [{ channels: ['broken', 'hook'] }]),
    });
    const env = new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') });
    const deliveries = (await env.run(notify, event)) as Delivery[];
    assert.deepEqual(
      deliveries.map((d) => [d.channel, d.ok, d.detail]),
      [
        ['broken', false, 'Slack refused the token in SLACK_BOT_TOKEN (invalid_auth)'],
        ['hook', true, 'sent'],
      ],
    );
  });

  it('refuses an event outside the catalogue without sending anything', async () => {
    const hook = new ScriptedChannel(() => ok('x'));
    const { notify } = createNotifyActivities({ channels: new ChannelRegistry({ hook }, [{ channels: ['hook'] }]) });
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    await assert.rejects(
      env.run(notify, { ...event, type: 'deploy.exploded' } as never),
      /not an event of the catalogue/,
    );
    assert.equal(hook.sent.length, 0);
  });
});

describe('notification routes in the worker config', () => {
  it('routes every channel to the default events when no route is given, and names a missing channel in one line', () => {
    const block = notificationsConfigSchema.parse({ channels: { team: { kind: 'slack', channel: 'C1' } } });
    assert.ok(wantedEvents(block).includes('deploy.rolled-back'));
    assert.ok(!wantedEvents(block).includes('canary.step-passed'), 'step-passed is opt-in');
    const bad = notificationsConfigSchema.safeParse({
      channels: { team: { kind: 'slack' } },
      routes: [{ channels: ['oncall'] }],
    });
    assert.equal(bad.success, false);
    assert.match(
      bad.success ? '' : (bad.error.issues[0]?.message ?? ''),
      /^no channel "oncall" under notifications\.channels \(team\)$/,
    );
  });
});
