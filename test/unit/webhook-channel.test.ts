import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { ChannelError } from '../../src/activities/notify/contract';
import { createWebhookChannel, toCloudEvent, WebhookChannel } from '../../src/activities/notify/webhook/channel';
import { webhookChannelConfigSchema } from '../../src/activities/notify/webhook/config';
import {
  signWebhookBody,
  verifyWebhookSignature,
  WebhookSignatureError,
} from '../../src/activities/notify/webhook/signature';
import { describeIssue } from '../../src/shared/validation';
import { FakeWebhook } from '../helpers/fake-webhook';
import { DEPLOY_ID, opsEvent } from '../helpers/ops-events';

const SECRET = 'whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const ENV = { OPSFLOW_WEBHOOK_SECRET: SECRET };

/** Every message and detail a test saw, checked at the end of each test for the secret. */
let said: string[] = [];

function channel(
  url: string,
  extra: Record<string, unknown> = {},
  deps: ConstructorParameters<typeof WebhookChannel>[1] = {},
) {
  return new WebhookChannel(webhookChannelConfigSchema.parse({ kind: 'webhook', url, ...extra }), {
    env: ENV,
    ...deps,
  });
}

/** The ChannelError a send fails with. */
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

function refusal(config: unknown): string {
  const parsed = webhookChannelConfigSchema.safeParse(config);
  assert.equal(parsed.success, false, 'the config was accepted');
  return describeIssue(parsed.error!);
}

describe('webhook config', () => {
  it('defaults the timeout to 10 s and reads durations', () => {
    const config = webhookChannelConfigSchema.parse({ kind: 'webhook', url: 'https://hooks.example.com/opsflow' });
    assert.deepEqual(config, { kind: 'webhook', url: 'https://hooks.example.com/opsflow', timeout: 10_000 });
    assert.equal(
      webhookChannelConfigSchema.parse({ kind: 'webhook', url: 'http://127.0.0.1:9/x', timeout: '2s' }).timeout,
      2_000,
    );
  });

  it('refuses in one line: plain http beyond loopback, a secret in the file, two secret sources, unknown keys', () => {
    const url = 'https://hooks.example.com/opsflow';
    assert.equal(
      refusal({ kind: 'webhook', url: 'http://hooks.example.com/opsflow' }),
      'url: must use https (plain http only to localhost, 127.0.0.1 or [::1])',
    );
    assert.equal(
      refusal({ kind: 'webhook', url: 'https://u:p@hooks.example.com/' }),
      'url: must not carry a user or password: the channel signs or authenticates each request itself',
    );
    assert.equal(
      refusal({ kind: 'webhook', url: 'hooks' }),
      'url: must be a URL such as https://hooks.example.com/opsflow',
    );
    assert.match(
      refusal({ kind: 'webhook', url, secret: SECRET }),
      /^secret: the signing secret does not belong in opsflow\.yaml/,
    );
    assert.equal(
      refusal({ kind: 'webhook', url, secretEnv: 'HOOK_SECRET', secretFile: '/run/secrets/hook' }),
      'give secretEnv or secretFile, not both',
    );
    assert.match(
      refusal({ kind: 'webhook', url, secretEnv: 'not a name' }),
      /^secretEnv: must be an environment variable name/,
    );
    assert.match(refusal({ kind: 'webhook', url, timeout: '0s' }), /^timeout: must be at least/);
    assert.match(refusal({ kind: 'webhook', url, headers: {} }), /^Unrecognized key/);
    for (const message of said) assert.ok(!message.includes(SECRET));
  });

  it('the factory names the channel in its refusal', () => {
    assert.throws(
      () => createWebhookChannel({ kind: 'webhook', url: 'http://example.com' }, { name: 'teams', env: ENV }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message ===
          'notifications.channels.teams.url: must use https (plain http only to localhost, 127.0.0.1 or [::1])',
    );
  });
});

describe('webhook signature', () => {
  const body = JSON.stringify({ id: 'e1', data: { version: '1.2.0' } });
  const signedAt = Date.parse('2026-12-07T16:20:00.000Z');
  const header = signWebhookBody(body, SECRET, signedAt);

  it('is t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', async () => {
    const { createHmac } = await import('node:crypto');
    const t = signedAt / 1000;
    assert.equal(header, `t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex')}`);
  });

  it('accepts the signed body, as a string or as bytes, within the tolerance', () => {
    verifyWebhookSignature(body, header, SECRET, signedAt);
    verifyWebhookSignature(Buffer.from(body), header, SECRET, signedAt + 299_000);
    verifyWebhookSignature(body, header, SECRET, signedAt - 299_000);
  });

  it('accepts any of several v1 signatures, so a secret can be rotated', () => {
    const other = signWebhookBody(body, 'the-previous-secret-0000', signedAt).split(',')[1]!;
    verifyWebhookSignature(body, `${header},${other}`, SECRET, signedAt);
    verifyWebhookSignature(body, `${header},${other}`, 'the-previous-secret-0000', signedAt);
  });

  const refusals: [string, () => void, RegExp][] = [
    [
      'a bad signature (another secret)',
      () => verifyWebhookSignature(body, signWebhookBody(body, 'not-the-secret-at-all', signedAt), SECRET, signedAt),
      /^X-Opsflow-Signature does not match the body: signed with another secret, or the body was changed$/,
    ],
    [
      'a tampered body',
      () => verifyWebhookSignature(body.replace('1.2.0', '1.2.1'), header, SECRET, signedAt),
      /does not match the body/,
    ],
    [
      'a tampered timestamp',
      () => verifyWebhookSignature(body, header.replace(/^t=\d+/, `t=${signedAt / 1000 + 60}`), SECRET, signedAt),
      /does not match the body/,
    ],
    [
      'a stale timestamp (a replay)',
      () => verifyWebhookSignature(body, header, SECRET, signedAt + 301_000),
      /^X-Opsflow-Signature is too old: signed 301 s ago, at most 300 s are accepted$/,
    ],
    [
      'a stale timestamp under a tighter tolerance',
      () => verifyWebhookSignature(body, header, SECRET, signedAt + 61_000, 60_000),
      /too old: signed 61 s ago, at most 60 s/,
    ],
    [
      'a timestamp far in the future',
      () => verifyWebhookSignature(body, header, SECRET, signedAt - 400_000),
      /is dated 400 s in the future/,
    ],
    [
      'a missing header',
      () => verifyWebhookSignature(body, undefined, SECRET, signedAt),
      /^X-Opsflow-Signature is missing$/,
    ],
    [
      'a header given twice',
      () => verifyWebhookSignature(body, [header, header], SECRET, signedAt),
      /given more than once/,
    ],
    [
      'a header without v1',
      () => verifyWebhookSignature(body, `t=${signedAt / 1000}`, SECRET, signedAt),
      /is malformed: expected t=<unix seconds>,v1=<64 hex digits>/,
    ],
    [
      'a header with two timestamps',
      () => verifyWebhookSignature(body, `t=1,${header}`, SECRET, signedAt),
      /is malformed/,
    ],
    [
      'a GitHub-style header',
      () => verifyWebhookSignature(body, `sha256=${header.split('v1=')[1]}`, SECRET, signedAt),
      /is malformed/,
    ],
  ];
  for (const [name, verify, message] of refusals) {
    it(`refuses ${name} in one line, without the secret or the expected value`, () => {
      assert.throws(verify, (err: unknown) => {
        assert.ok(err instanceof WebhookSignatureError);
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        assert.ok(!err.message.includes(SECRET));
        assert.ok(!err.message.includes(header.split('v1=')[1]!));
        return true;
      });
    });
  }
});

describe('webhook channel against a receiver', () => {
  let hook: FakeWebhook;
  let url: string;
  let dir: string;

  beforeEach(async () => {
    said = [];
    hook = new FakeWebhook(SECRET);
    url = await hook.start();
    dir = mkdtempSync(path.join(tmpdir(), 'opsflow-webhook-'));
  });

  afterEach(async () => {
    await hook.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const message of said) {
      assert.ok(!message.includes(SECRET), `the secret leaked into: ${message}`);
      assert.ok(!message.includes('token='), `the URL's query leaked into: ${message}`);
    }
  });

  it('delivers one signed CloudEvents 1.0 document in structured mode, with the event as its data', async () => {
    const event = opsEvent('deploy.rolled-back');
    const result = await channel(url).send(event);
    said.push(result.detail);
    assert.deepEqual(result, {
      ref: event.id,
      duplicate: false,
      detail: `CloudEvent dev.opsflow.deploy.rolled-back for ${DEPLOY_ID}/production delivered to ${new URL(url).origin} (HTTP 204)`,
    });
    assert.equal(hook.deliveries.length, 1);
    const [delivery] = hook.deliveries;
    assert.equal(delivery!.status, 204);
    assert.equal(delivery!.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
    assert.match(String(delivery!.headers['x-opsflow-signature']), /^t=\d{10},v1=[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(delivery!.rawBody), {
      specversion: '1.0',
      id: event.id,
      source: 'opsflow/shop',
      type: 'dev.opsflow.deploy.rolled-back',
      subject: DEPLOY_ID,
      time: '2026-12-07T16:20:00.000Z',
      datacontenttype: 'application/json',
      data: event,
    });
    const received = hook.event(event.id);
    assert.ok(received);
    assert.deepEqual(received.data, event);
    assert.equal(received.subject, DEPLOY_ID);
  });

  it("names the project as the subject of the agent's events", async () => {
    const event = opsEvent('agent.review');
    await channel(url).send(event);
    assert.equal(hook.event(event.id)?.subject, 'shop');
    assert.equal(hook.event(event.id)?.type, 'dev.opsflow.agent.review');
    assert.deepEqual(toCloudEvent(event).toJSON().data, event);
  });

  it('sends again on a retry, with the same CloudEvent id: the receiver keeps the event once', async () => {
    const webhook = channel(url);
    const event = opsEvent('approval.requested');
    const first = await webhook.send(event);
    const second = await webhook.send(event);
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, false);
    assert.equal(hook.deliveries.length, 2);
    assert.deepEqual(
      hook.deliveries.map((d) => d.status),
      [204, 200],
    );
    assert.equal(hook.events.size, 1);
    assert.equal(hook.duplicates, 1);
    await webhook.send(opsEvent('approval.decided'));
    assert.equal(hook.events.size, 2);
  });

  it('a 429 with Retry-After is retryable after that long', async () => {
    hook.answerNext({ status: 429, headers: { 'retry-after': '7' }, body: 'slow down' });
    const err = await failure(channel(url).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 7_000);
    assert.equal(err.message, `webhook ${new URL(url).origin} is rate limiting: HTTP 429 (Retry-After 7 s): slow down`);
    assert.equal(hook.events.size, 0);
  });

  it('a 500 is retryable, and the retry is delivered', async () => {
    hook.answerNext({ status: 500, body: 'database down' });
    const webhook = channel(url);
    const event = opsEvent('deploy.failed');
    const err = await failure(webhook.send(event));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, undefined);
    assert.match(err.message, /failed: HTTP 500: database down$/);
    await webhook.send(event);
    assert.equal(hook.events.size, 1);
  });

  it('a 400 is not retryable', async () => {
    hook.answerNext({ status: 400, body: 'unknown event type' });
    const err = await failure(channel(url).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.match(err.message, /refused the request: HTTP 400: unknown event type$/);
  });

  it('a receiver that refuses the signature (another secret, a clock far behind) is not retried', async () => {
    const wrong = channel(url, {}, { env: { OPSFLOW_WEBHOOK_SECRET: 'another-secret-of-some-length' } });
    let err = await failure(wrong.send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.match(err.message, /HTTP 401: X-Opsflow-Signature does not match the body/);
    const late = channel(url, {}, { now: () => Date.now() - 600_000 });
    err = await failure(late.send(opsEvent('deploy.failed')));
    assert.match(err.message, /HTTP 401: X-Opsflow-Signature is too old: signed 60[01] s ago/);
    assert.equal(hook.events.size, 0);
  });

  it('a receiver that does not answer in time, or cannot be reached, is retryable', async () => {
    hook.answerNext({ status: 204, delayMs: 1_000 });
    let err = await failure(channel(url, { timeout: '200ms' }).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, true);
    assert.equal(err.message, `webhook ${new URL(url).origin} did not answer within 200 ms`);
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    err = await failure(channel(`http://127.0.0.1:${port}/hook`).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, true);
    assert.equal(err.message, `webhook http://127.0.0.1:${port} cannot be reached: ECONNREFUSED`);
  });

  it('does not follow a redirect', async () => {
    hook.answerNext({ status: 302, headers: { location: 'https://elsewhere.example.com/hook' } });
    const err = await failure(channel(url).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.match(
      err.message,
      /answered a redirect \(HTTP 302 to https:\/\/elsewhere\.example\.com\): configure the final URL/,
    );
    assert.equal(hook.deliveries.length, 1);
  });

  it("names the URL's origin only: a token in its path or query stays out of messages", async () => {
    hook.answerNext({ status: 503 });
    const err = await failure(channel(`${url}?token=abc123`).send(opsEvent('deploy.failed')));
    assert.equal(err.message, `webhook ${new URL(url).origin} failed: HTTP 503`);
    const ok = await channel(`${url}?token=abc123`).send(opsEvent('deploy.failed'));
    said.push(ok.detail);
  });

  it('removes the secret from what a receiver echoes', async () => {
    hook.answerNext({ status: 400, body: `bad signature for secret ${SECRET}` });
    const err = await failure(channel(url).send(opsEvent('deploy.failed')));
    assert.match(err.message, /bad signature for secret \[redacted\]/);
  });

  it("reads the secret from the worker's variable or file, and says which is missing without a value", async () => {
    let err = await failure(channel(url, {}, { env: {} }).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      "the webhook signing secret is not set: set OPSFLOW_WEBHOOK_SECRET in the worker's environment",
    );
    err = await failure(channel(url, { secretEnv: 'HOOK_SECRET' }).send(opsEvent('deploy.failed')));
    assert.match(err.message, /set HOOK_SECRET in the worker's environment/);
    const file = path.join(dir, 'hook-secret');
    err = await failure(channel(url, { secretFile: file }).send(opsEvent('deploy.failed')));
    assert.equal(err.message, `the webhook signing secret file ${file} cannot be read: ENOENT`);
    writeFileSync(file, 'short\n', { mode: 0o600 });
    err = await failure(channel(url, { secretFile: file }).send(opsEvent('deploy.failed')));
    assert.match(err.message, /shorter than 16 characters/);
    assert.equal(hook.deliveries.length, 0);
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    await channel(url, { secretFile: file }, { env: {} }).send(opsEvent('deploy.failed'));
    assert.equal(hook.events.size, 1);
  });
});
