import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { ChannelError } from '../../src/activities/notify/contract';
import {
  createPagerDutyChannel,
  dedupKeyOf,
  incidentSteps,
  PagerDutyChannel,
} from '../../src/activities/notify/pagerduty/channel';
import { pagerDutyChannelConfigSchema } from '../../src/activities/notify/pagerduty/config';
import { EVENT_TYPES, eventTitle } from '../../src/shared/notify/events';
import { describeIssue } from '../../src/shared/validation';
import { FakePagerDuty } from '../helpers/fake-pagerduty';
import { DEPLOY_ID, opsEvent, UI_URL } from '../helpers/ops-events';

const ROUTING_KEY = 'b7c1e0d4a9f24c6e8d3a5f1029384756';
const ENV = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };
const PRODUCTION = `opsflow/${DEPLOY_ID}/production`;

/** Every message and detail a test saw, checked at the end of each test for the routing key. */
let said: string[] = [];

function channel(apiUrl: string, extra: Record<string, unknown> = {}, env: Record<string, string> = ENV) {
  return new PagerDutyChannel(pagerDutyChannelConfigSchema.parse({ kind: 'pagerduty', apiUrl, ...extra }), { env });
}

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ChannelError, `expected a ChannelError, got ${String(err)}`);
    said.push(err.message);
    return err;
  }
  assert.fail('the send did not fail');
}

describe('pagerduty config', () => {
  it("defaults to PagerDuty's Events API with a 10 s limit", () => {
    assert.deepEqual(pagerDutyChannelConfigSchema.parse({ kind: 'pagerduty' }), {
      kind: 'pagerduty',
      apiUrl: 'https://events.pagerduty.com',
      timeout: 10_000,
    });
  });

  it('refuses in one line: a routing key in the file, two key sources, plain http beyond loopback', () => {
    const refusal = (config: unknown) => {
      const parsed = pagerDutyChannelConfigSchema.safeParse(config);
      assert.equal(parsed.success, false);
      return describeIssue(parsed.error!);
    };
    assert.match(
      refusal({ kind: 'pagerduty', routingKey: ROUTING_KEY }),
      /^routingKey: the routing key does not belong in opsflow\.yaml: name a variable of the worker with routingKeyEnv \(default PAGERDUTY_ROUTING_KEY\) or a file with routingKeyFile$/,
    );
    assert.equal(
      refusal({ kind: 'pagerduty', routingKeyEnv: 'PD_KEY', routingKeyFile: '/run/secrets/pd' }),
      'give routingKeyEnv or routingKeyFile, not both',
    );
    assert.equal(
      refusal({ kind: 'pagerduty', apiUrl: 'http://events.pagerduty.com' }),
      'apiUrl: must use https (plain http only to localhost, 127.0.0.1 or [::1])',
    );
    assert.throws(
      () => createPagerDutyChannel({ kind: 'pagerduty', serviceKey: 'x' }, { name: 'oncall', env: ENV }),
      (err: unknown) =>
        err instanceof ConfigError && /^notifications\.channels\.oncall: Unrecognized key/.test(err.message),
    );
  });
});

describe('which events touch an incident', () => {
  const cases: [string, ReturnType<typeof opsEvent>, string[]][] = [
    ['a rollback not verified triggers', opsEvent('deploy.rolled-back'), ['trigger']],
    [
      'a restored rollback triggers, then resolves',
      opsEvent('deploy.rolled-back', { restored: true }),
      ['trigger', 'resolve'],
    ],
    ['a failure triggers', opsEvent('deploy.failed'), ['trigger']],
    ['a first reminder does not page', opsEvent('approval.reminder', { severity: 'warning' }), []],
    ['a second reminder pages', opsEvent('approval.reminder', { level: 2, severity: 'critical' }), ['trigger']],
    ['a pause asking for a person does not page', opsEvent('canary.paused', { severity: 'warning' }), []],
    ['a pause about to roll back pages', opsEvent('canary.paused', { severity: 'critical' }), ['trigger']],
    ['a critical escalation of the agent pages', opsEvent('agent.escalation'), ['trigger']],
    ['a warning of the agent does not page', opsEvent('agent.escalation', { severity: 'warning' }), []],
    ['a decision resolves', opsEvent('approval.decided', { decision: 'rejected', by: 'bob' }), ['resolve']],
    ['a cancellation resolves', opsEvent('deploy.cancelled'), ['resolve']],
  ];
  for (const [name, event, actions] of cases) {
    it(name, () => {
      const steps = incidentSteps(event);
      assert.deepEqual(
        steps.map((s) => s.action),
        actions,
      );
      for (const step of steps)
        assert.equal(step.dedupKey, event.type.startsWith('agent.') ? 'opsflow/shop' : PRODUCTION);
    });
  }

  it('a promotion resolves every environment it names', () => {
    assert.deepEqual(incidentSteps(opsEvent('deploy.promoted')), [
      { action: 'resolve', dedupKey: `opsflow/${DEPLOY_ID}` },
      { action: 'resolve', dedupKey: `opsflow/${DEPLOY_ID}/staging` },
      { action: 'resolve', dedupKey: PRODUCTION },
    ]);
  });

  it('the channel wants only the events that touch an incident', () => {
    const pd = channel('http://127.0.0.1:9');
    const wanted = EVENT_TYPES.filter((type) => pd.wants(opsEvent(type)));
    // As the fixtures make them: a first reminder, a pause that is not critical, a critical escalation.
    assert.deepEqual(wanted, [
      'approval.decided',
      'deploy.rolled-back',
      'deploy.promoted',
      'deploy.failed',
      'deploy.cancelled',
      'agent.escalation',
    ]);
  });

  it('keeps a dedup_key within 255 characters, stable and distinct', () => {
    const long = `${'d'.repeat(200)}/${'e'.repeat(100)}`;
    const key = dedupKeyOf(long);
    assert.ok(key.length <= 255, `${key.length}`);
    assert.equal(key, dedupKeyOf(long));
    assert.notEqual(key, dedupKeyOf(`${'d'.repeat(200)}/${'e'.repeat(99)}f`));
    assert.ok(key.startsWith(`opsflow/${'d'.repeat(100)}`));
  });
});

describe('pagerduty channel against the Events API v2', () => {
  let pagerduty: FakePagerDuty;
  let apiUrl: string;
  let dir: string;

  beforeEach(async () => {
    said = [];
    pagerduty = new FakePagerDuty(ROUTING_KEY);
    apiUrl = await pagerduty.start();
    dir = mkdtempSync(path.join(tmpdir(), 'opsflow-pagerduty-'));
  });

  afterEach(async () => {
    await pagerduty.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const message of said) assert.ok(!message.includes(ROUTING_KEY), `the routing key leaked into: ${message}`);
  });

  it('a rollback triggers one incident with the exact v2 event; the same trigger again keeps one; a resolve closes it', async () => {
    const pd = channel(apiUrl);
    const rollback = opsEvent('deploy.rolled-back');
    const result = await pd.send(rollback);
    said.push(result.detail);
    assert.deepEqual(result, {
      ref: PRODUCTION,
      duplicate: false,
      detail: `PagerDuty triggered ${PRODUCTION} (critical)`,
    });
    assert.deepEqual(pagerduty.requests, [
      {
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: PRODUCTION,
        payload: {
          summary: eventTitle(rollback),
          source: 'opsflow',
          severity: 'critical',
          timestamp: '2026-12-07T16:20:00.000Z',
          component: 'hello',
          group: 'production',
          class: 'deploy.rolled-back',
          custom_details: rollback,
        },
        links: [{ href: UI_URL, text: 'Temporal UI' }],
      },
    ]);
    assert.equal(pagerduty.incidents.length, 1);
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'triggered');

    // A retried send (the activity's result was lost): the same dedup_key folds into the open alert.
    await pd.send(rollback);
    assert.equal(pagerduty.triggers, 2);
    assert.equal(pagerduty.incidents.length, 1);
    assert.equal(pagerduty.incident(PRODUCTION)?.events.length, 2);

    const cancelled = opsEvent('deploy.cancelled', { reason: 'abandoned after the rollback' });
    const decided = await pd.send(cancelled);
    said.push(decided.detail);
    assert.equal(decided.detail, `PagerDuty resolved ${PRODUCTION} (info)`);
    assert.equal(pagerduty.incidents.length, 1);
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'resolved');
    assert.deepEqual(pagerduty.requests.at(-1), {
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: PRODUCTION,
      payload: {
        summary: `hello 1.2.0 in production cancelled: abandoned after the rollback`,
        source: 'opsflow',
        severity: 'info',
        timestamp: '2026-12-07T16:20:00.000Z',
        component: 'hello',
        group: 'production',
        class: 'deploy.cancelled',
        custom_details: cancelled,
      },
      links: [{ href: UI_URL, text: 'Temporal UI' }],
    });
  });

  it('a restored rollback is one trigger and one resolve: the page is on record and closed', async () => {
    const rollback = opsEvent('deploy.rolled-back', { restored: true });
    const result = await channel(apiUrl).send(rollback);
    assert.equal(result.ref, PRODUCTION);
    assert.equal(result.detail, `PagerDuty triggered ${PRODUCTION}, then resolved ${PRODUCTION} (critical)`);
    assert.equal(pagerduty.triggers, 1);
    assert.equal(pagerduty.resolves, 1);
    assert.equal(pagerduty.incidents.length, 1);
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'resolved');
    assert.deepEqual(
      pagerduty.requests.map((r) => (r as { event_action: string }).event_action),
      ['trigger', 'resolve'],
    );
  });

  it('an approval paged at the second reminder is resolved by the decision', async () => {
    const pd = channel(apiUrl);
    await pd.send(opsEvent('approval.reminder', { severity: 'warning' }));
    assert.equal(pagerduty.requests.length, 0);
    await pd.send(opsEvent('approval.reminder', { level: 2, severity: 'critical', waitingMs: 7_200_000 }));
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'triggered');
    await pd.send(opsEvent('approval.decided'));
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'resolved');
    assert.equal(pagerduty.incidents.length, 1);
  });

  it('a promotion resolves the pause paged in its environment', async () => {
    const pd = channel(apiUrl);
    await pd.send(opsEvent('canary.paused', { severity: 'critical' }));
    const promoted = await pd.send(opsEvent('deploy.promoted'));
    assert.equal(promoted.ref, `opsflow/${DEPLOY_ID} opsflow/${DEPLOY_ID}/staging ${PRODUCTION}`);
    assert.equal(pagerduty.resolves, 3);
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'resolved');
  });

  it('sends nothing for an event that is no incident, and needs no routing key for it', async () => {
    const result = await channel(apiUrl, {}, {}).send(opsEvent('approval.requested'));
    assert.deepEqual(result, { ref: '', duplicate: false, detail: 'not an incident event: nothing sent' });
    assert.equal(pagerduty.requests.length, 0);
  });

  it('cuts a summary to 1024 characters', async () => {
    const escalation = opsEvent('agent.escalation', { summary: 'é'.repeat(2_000) });
    await channel(apiUrl).send(escalation);
    const summary = (pagerduty.requests[0] as { payload: { summary: string } }).payload.summary;
    assert.equal(Array.from(summary).length, 1024);
    assert.ok(summary.endsWith('é…'));
    assert.equal(pagerduty.incident('opsflow/shop')?.status, 'triggered');
  });

  it('a 429 with Retry-After is retryable after that long; without one, retryable at Temporal’s pace', async () => {
    pagerduty.answerNext({ status: 429, headers: { 'retry-after': '3' } });
    let err = await failure(channel(apiUrl).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 3_000);
    assert.equal(err.message, `PagerDuty ${apiUrl} is rate limiting: HTTP 429 (Retry-After 3 s)`);
    pagerduty.answerNext({ status: 429 });
    err = await failure(channel(apiUrl).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, undefined);
    assert.equal(pagerduty.incidents.length, 0);
  });

  it('a 500 is retryable; the retry after a trigger that went through adds no incident', async () => {
    const pd = channel(apiUrl);
    const rollback = opsEvent('deploy.rolled-back', { restored: true });
    pagerduty.answerNext({
      status: 500,
      body: '{"status":"error","message":"Internal Server Error"}',
      when: (event) => event.event_action === 'resolve',
    });
    const err = await failure(pd.send(rollback));
    assert.equal(err.retryable, true);
    assert.equal(
      err.message,
      `PagerDuty ${apiUrl} failed: HTTP 500: Internal Server Error (after it triggered ${PRODUCTION})`,
    );
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'triggered');
    await pd.send(rollback);
    assert.equal(pagerduty.triggers, 2);
    assert.equal(pagerduty.incidents.length, 1);
    assert.equal(pagerduty.incident(PRODUCTION)?.status, 'resolved');
  });

  it('the gap the header names: a retry after a restored rollback went through whole opens and closes a second incident', async () => {
    const pd = channel(apiUrl);
    const rollback = opsEvent('deploy.rolled-back', { restored: true });
    await pd.send(rollback);
    await pd.send(rollback);
    assert.deepEqual(
      pagerduty.incidents.map((i) => i.status),
      ['resolved', 'resolved'],
    );
  });

  it('a 400 is not retryable: an unknown routing key, an invalid event', async () => {
    let err = await failure(
      channel(apiUrl, {}, { PAGERDUTY_ROUTING_KEY: 'a0000000000000000000000000000000' }).send(
        opsEvent('deploy.failed'),
      ),
    );
    assert.equal(err.retryable, false);
    assert.equal(err.message, `PagerDuty ${apiUrl} refused the request: HTTP 400: Invalid routing key`);
    assert.ok(!err.message.includes('a0000000000000000000000000000000'));
    pagerduty.answerNext({
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        status: 'invalid event',
        message: 'Event object is invalid',
        errors: ["Length of 'routing_key' is incorrect (should be 32 characters)"],
      }),
    });
    err = await failure(channel(apiUrl).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `PagerDuty ${apiUrl} refused the request: HTTP 400: Event object is invalid; Length of 'routing_key' is incorrect (should be 32 characters)`,
    );
  });

  it('removes the routing key from what PagerDuty echoes', async () => {
    pagerduty.answerNext({ status: 403, body: `routing key ${ROUTING_KEY} is disabled` });
    const err = await failure(channel(apiUrl).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.match(err.message, /routing key \[redacted\] is disabled$/);
  });

  it("reads the routing key from the worker's variable or file, and names which is missing", async () => {
    let err = await failure(channel(apiUrl, {}, {}).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      "the PagerDuty routing key is not set: set PAGERDUTY_ROUTING_KEY in the worker's environment",
    );
    const file = path.join(dir, 'pd-key');
    writeFileSync(file, '\n', { mode: 0o600 });
    err = await failure(channel(apiUrl, { routingKeyFile: file }).send(opsEvent('deploy.failed')));
    assert.equal(err.message, `the PagerDuty routing key file ${file} is empty`);
    writeFileSync(file, `${ROUTING_KEY}\n`, { mode: 0o600 });
    await channel(apiUrl, { routingKeyFile: file }, {}).send(opsEvent('deploy.failed'));
    assert.equal(pagerduty.incidents.length, 1);
  });
});
