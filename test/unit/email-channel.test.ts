import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { ChannelError } from '../../src/activities/notify/contract';
import { createEmailChannel, EmailChannel, emailMessage, messageIdOf } from '../../src/activities/notify/email/channel';
import { emailChannelConfigSchema } from '../../src/activities/notify/email/config';
import { CHANNEL_KINDS } from '../../src/activities/notify/kinds';
import { channelsFromConfig } from '../../src/activities/notify/registry';
import { EVENT_TYPES, eventTitle, type OpsEvent } from '../../src/shared/notify/events';
import { describeIssue } from '../../src/shared/validation';
import { FakeSmtp } from '../helpers/fake-smtp';
import { DEPLOY_ID, opsEvent, UI_URL } from '../helpers/ops-events';

const USER = 'opsflow-mailer';
const PASSWORD = 'smtp-Secret-Pa55word-for-tests';
const LOGIN_ENV = { SMTP_USER: USER, SMTP_PASSWORD: PASSWORD };
const FROM = 'opsflow@example.com';
const TO = ['alice@example.com', 'bob@example.com'];
const THREAD = `<${DEPLOY_ID}@opsflow>`;

/** Every message and detail a test saw, checked at the end of each test for the credentials. */
let said: string[] = [];

function channel(smtp: Record<string, unknown>, extra: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  return new EmailChannel(emailChannelConfigSchema.parse({ kind: 'email', smtp, from: FROM, to: TO, ...extra }), {
    env,
  });
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

describe('email config', () => {
  it('defaults to port 587 and a 10 s limit', () => {
    assert.deepEqual(
      emailChannelConfigSchema.parse({ kind: 'email', smtp: { host: 'smtp.example.com' }, from: FROM, to: TO }),
      { kind: 'email', smtp: { host: 'smtp.example.com', port: 587 }, from: FROM, to: TO, timeout: 10_000 },
    );
  });

  it('refuses in one line: credentials in the file, half a login, a bad host or address, no recipient', () => {
    const refusal = (block: Record<string, unknown>) => {
      const parsed = emailChannelConfigSchema.safeParse({
        kind: 'email',
        from: FROM,
        to: TO,
        ...block,
        smtp: { host: 'smtp.example.com', ...(block.smtp as object) },
      });
      assert.equal(parsed.success, false);
      return describeIssue(parsed.error!);
    };
    assert.equal(
      refusal({ smtp: { userEnv: 'SMTP_USER', password: PASSWORD } }),
      'smtp.password: the SMTP password does not belong in opsflow.yaml: name a variable of the worker with passwordEnv or a file with passwordFile',
    );
    assert.equal(
      refusal({ smtp: { user: USER } }),
      'smtp.user: name the variable of the worker that holds the SMTP user with userEnv',
    );
    assert.equal(
      refusal({ smtp: { userEnv: 'SMTP_USER' } }),
      'smtp: a login needs both: userEnv and passwordEnv (or passwordFile), or neither for a server without one',
    );
    assert.equal(
      refusal({ smtp: { passwordEnv: 'SMTP_PASSWORD' } }),
      'smtp: a login needs both: userEnv and passwordEnv (or passwordFile), or neither for a server without one',
    );
    assert.equal(
      refusal({ smtp: { userEnv: 'U', passwordEnv: 'P', passwordFile: '/run/secrets/smtp' } }),
      'smtp: give passwordEnv or passwordFile, not both',
    );
    assert.equal(
      refusal({ smtp: { host: 'smtp://smtp.example.com:25' } }),
      'smtp.host: must be a host name or an IP address, such as smtp.example.com (no scheme, no port)',
    );
    assert.equal(refusal({ from: 'opsflow' }), 'from: must be an email address such as opsflow@example.com');
    assert.equal(
      refusal({ to: ['alice@example.com', 'bob'] }),
      'to.1: must be an email address such as opsflow@example.com',
    );
    assert.equal(refusal({ to: [] }), 'to: name at least one recipient');
    assert.throws(
      () =>
        createEmailChannel(
          { kind: 'email', smtp: { host: 'smtp.example.com' }, from: FROM, to: TO, cc: TO },
          { name: 'mail', env: {} },
        ),
      (err: unknown) =>
        err instanceof ConfigError && /^notifications\.channels\.mail: Unrecognized key/.test(err.message),
    );
  });
});

describe('email kind', () => {
  it('is registered: the worker builds it from its notifications block, and routes it only what it wants', () => {
    assert.equal(CHANNEL_KINDS.email, createEmailChannel);
    const registry = channelsFromConfig(
      {
        channels: { approvers: { kind: 'email', smtp: { host: 'smtp.example.com' }, from: FROM, to: TO } },
        escalation: {},
      },
      CHANNEL_KINDS,
      {},
    );
    assert.deepEqual(
      registry.route(opsEvent('approval.requested')).map((r) => [r.name, r.channel.kind]),
      [['approvers', 'email']],
    );
    assert.deepEqual(registry.route(opsEvent('deploy.promoted')), []);
  });
});

describe('what an email says', () => {
  it('wants what asks a person to act or went wrong, unless the block names its events', () => {
    const mail = channel({ host: '127.0.0.1' });
    assert.deepEqual(
      EVENT_TYPES.filter((type) => mail.wants(opsEvent(type))),
      ['approval.requested', 'approval.reminder', 'canary.paused', 'deploy.rolled-back', 'deploy.failed'],
    );
    const some = channel({ host: '127.0.0.1' }, { events: ['deploy.promoted', 'agent.escalation'] });
    assert.deepEqual(
      EVENT_TYPES.filter((type) => some.wants(opsEvent(type))),
      ['deploy.promoted', 'agent.escalation'],
    );
  });

  it('keeps an id as its Message-ID when it can, and makes any other id safe and distinct', () => {
    assert.equal(messageIdOf(`${DEPLOY_ID}/run-1/3`), `<${DEPLOY_ID}/run-1/3@opsflow>`);
    const odd = messageIdOf('a b<c>@d..e');
    assert.match(odd, /^<a_b_c__d\.e\.[0-9a-f]{16}@opsflow>$/);
    assert.notEqual(odd, messageIdOf('a b<c>@d..f'));
    assert.notEqual(messageIdOf('a b'), messageIdOf('a_b'));
    const long = messageIdOf('x'.repeat(300));
    assert.ok(long.length < 210, `${long.length}`);
  });

  it('renders the subject on one line and every field on its own', () => {
    const paused = opsEvent('canary.paused', { reason: 'too few requests\r\nBcc: mallory@example.com' });
    const message = emailMessage(paused);
    assert.equal(
      message.subject,
      'hello 1.2.0 in production paused by opsflow: too few requests Bcc: mallory@example.com; rolls back at 2026-12-07T16:50:00.000Z unless someone decides',
    );
    assert.equal(message.messageId, `<${paused.id}@opsflow>`);
    assert.equal(message.thread, THREAD);
    assert.equal(
      message.text,
      [
        message.subject,
        '',
        'type: canary.paused',
        'severity: info',
        'project: shop',
        'service: hello',
        'version: 1.2.0',
        'environment: production',
        `deployId: ${DEPLOY_ID}`,
        'requestedBy: carol',
        'cause: inconclusive',
        'by: opsflow',
        'reason: too few requests Bcc: mallory@example.com',
        'deadline: 2026-12-07T16:50:00.000Z',
        'time: 2026-12-07T16:20:00.000Z',
        `id: ${paused.id}`,
        '',
        `Temporal UI: ${UI_URL}`,
        '',
        '-- ',
        `Sent by opsflow. Every copy of this event carries the Message-ID <${paused.id}@opsflow>.`,
        '',
      ].join('\n'),
    );
    const escalation = emailMessage(opsEvent('agent.escalation'));
    assert.equal(escalation.thread, undefined);
  });
});

describe('email channel against an SMTP server', () => {
  let smtp: FakeSmtp;
  let server: { host: string; port: number };
  let dir: string;

  beforeEach(async () => {
    said = [];
    dir = mkdtempSync(path.join(tmpdir(), 'opsflow-email-'));
  });

  afterEach(async () => {
    await smtp?.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const message of said) {
      assert.ok(!message.includes(PASSWORD), `the password leaked into: ${message}`);
      assert.ok(!message.includes(USER), `the user leaked into: ${message}`);
    }
  });

  async function start(login?: { user: string; password: string }) {
    smtp = new FakeSmtp(login);
    server = await smtp.start();
  }

  async function send(mail: EmailChannel, event: OpsEvent) {
    const result = await mail.send(event);
    said.push(result.detail);
    return result;
  }

  it('sends one message with the exact headers, threaded under the deploy, and says where it went', async () => {
    await start();
    const rollback = opsEvent('deploy.rolled-back');
    const result = await send(channel(server), rollback);
    const messageId = `<${rollback.id}@opsflow>`;
    assert.deepEqual(result, {
      ref: messageId,
      duplicate: false,
      detail: `email ${messageId} sent through SMTP 127.0.0.1:${server.port} to ${TO.join(', ')}`,
    });
    assert.equal(smtp.received.length, 1);
    const mail = smtp.received[0]!;
    assert.deepEqual(mail.envelope, { from: FROM, to: TO });
    const h = mail.headers;
    assert.equal(h.get('from'), FROM);
    assert.equal(h.get('to'), TO.join(', '));
    assert.equal(h.get('subject'), eventTitle(rollback));
    assert.equal(h.get('message-id'), messageId);
    assert.equal(h.get('in-reply-to'), THREAD);
    assert.equal(h.get('references'), THREAD);
    assert.equal(h.get('date'), 'Mon, 07 Dec 2026 16:20:00 +0000');
    assert.equal(h.get('auto-submitted'), 'auto-generated');
    assert.equal(h.get('x-opsflow-event'), 'deploy.rolled-back');
    assert.match(h.get('content-type') ?? '', /^text\/plain; charset=utf-8$/i);
    assert.equal(mail.text, emailMessage(rollback).text);
    assert.ok(mail.text.includes(`\nTemporal UI: ${UI_URL}\n`));
  });

  it("threads a deploy's emails together, each with its own Message-ID", async () => {
    await start();
    const mail = channel(server);
    const requested = opsEvent('approval.requested');
    const reminder = opsEvent('approval.reminder');
    const other = opsEvent('deploy.failed', { deployId: 'deploy-hello-1.3.0-production', version: '1.3.0' });
    for (const event of [requested, reminder, other]) await send(mail, event);
    assert.deepEqual(
      smtp.received.map((m) => [
        m.headers.get('message-id'),
        m.headers.get('in-reply-to'),
        m.headers.get('references'),
      ]),
      [
        [`<${requested.id}@opsflow>`, THREAD, THREAD],
        [`<${reminder.id}@opsflow>`, THREAD, THREAD],
        [`<${other.id}@opsflow>`, '<deploy-hello-1.3.0-production@opsflow>', '<deploy-hello-1.3.0-production@opsflow>'],
      ],
    );
  });

  it('sends the same event again with the same Message-ID and the same bytes: the receiver dedups on it', async () => {
    await start();
    const mail = channel(server);
    const failed = opsEvent('deploy.failed');
    await send(mail, failed);
    await send(mail, failed);
    const copies = smtp.withMessageId(`<${failed.id}@opsflow>`);
    assert.equal(copies.length, 2);
    assert.equal(copies[0]!.raw, copies[1]!.raw);
  });

  it('a control character in a field cannot add a header', async () => {
    await start();
    await send(channel(server), opsEvent('canary.paused', { reason: 'x\r\nBcc: mallory@example.com\r\n\r\nforged' }));
    const mail = smtp.received[0]!;
    assert.equal(mail.headers.has('bcc'), false);
    assert.deepEqual(mail.envelope.to, TO);
    assert.match(mail.headers.get('subject') ?? '', /paused by opsflow: x Bcc: mallory@example\.com forged;/);
  });

  it('sends nothing for an event it does not want', async () => {
    await start();
    const result = await send(channel(server), opsEvent('deploy.promoted'));
    assert.deepEqual(result, { ref: '', duplicate: false, detail: 'deploy.promoted is not sent by email' });
    assert.equal(smtp.connections, 0);
  });

  it("logs in with the worker's user and password, from variables or a file", async () => {
    await start({ user: USER, password: PASSWORD });
    await send(
      channel({ ...server, userEnv: 'SMTP_USER', passwordEnv: 'SMTP_PASSWORD' }, {}, LOGIN_ENV),
      opsEvent('deploy.failed'),
    );
    const file = path.join(dir, 'smtp-password');
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    await send(
      channel({ ...server, userEnv: 'SMTP_USER', passwordFile: file }, {}, { SMTP_USER: USER }),
      opsEvent('deploy.failed'),
    );
    assert.deepEqual(
      smtp.received.map((m) => m.user),
      [USER, USER],
    );
  });

  it('a refused login is not retryable and names where the login comes from, never the user or password', async () => {
    await start({ user: USER, password: 'another-password' });
    const err = await failure(
      channel({ ...server, userEnv: 'SMTP_USER', passwordEnv: 'SMTP_PASSWORD' }, {}, LOGIN_ENV).send(
        opsEvent('deploy.failed'),
      ),
    );
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `SMTP 127.0.0.1:${server.port} refused the message (AUTH): 535 Authentication credentials invalid: check the login in SMTP_USER and SMTP_PASSWORD`,
    );
    assert.equal(smtp.refusedLogins, 1);
    assert.equal(smtp.received.length, 0);
  });

  it('a missing password is not retryable and names the variable', async () => {
    await start();
    const err = await failure(
      channel({ ...server, userEnv: 'SMTP_USER', passwordEnv: 'SMTP_PASSWORD' }, {}, { SMTP_USER: USER }).send(
        opsEvent('deploy.failed'),
      ),
    );
    assert.equal(err.retryable, false);
    assert.equal(err.message, "the SMTP password is not set: set SMTP_PASSWORD in the worker's environment");
    assert.equal(smtp.connections, 0);
  });

  it('an SMTP 4xx is retryable, at any step', async () => {
    await start();
    // One recipient: a refusal at RCPT TO then stops the message (see the partial case below).
    const mail = channel(server, { to: ['alice@example.com'] });
    const cases: [Parameters<FakeSmtp['refuseNext']>[0], number, string, string][] = [
      ['MAIL', 421, 'Service not available, closing channel', 'MAIL'],
      ['RCPT', 450, 'Greylisted, try again in 5 minutes', 'RCPT'],
      ['DATA', 451, 'Local error in processing', 'DATA'],
    ];
    for (const [stage, code, text] of cases) {
      smtp.refuseNext(stage, code, text);
      const err = await failure(mail.send(opsEvent('deploy.failed')));
      assert.equal(err.retryable, true, err.message);
      assert.match(err.message, new RegExp(`^SMTP 127\\.0\\.0\\.1:${server.port} deferred the message`));
      assert.ok(err.message.includes(`${code} ${text}`), err.message);
    }
    assert.equal(smtp.received.length, 0);
    await send(mail, opsEvent('deploy.failed'));
    assert.equal(smtp.received.length, 1);
  });

  it('an SMTP 5xx is not retryable', async () => {
    await start();
    const mail = channel(server);
    smtp.refuseNext('DATA', 554, 'Transaction failed: message rejected as spam');
    let err = await failure(mail.send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `SMTP 127.0.0.1:${server.port} refused the message (DATA): 554 Transaction failed: message rejected as spam`,
    );
    smtp.refuseNext('MAIL', 550, 'Sender address rejected: not owned by user');
    err = await failure(mail.send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.match(err.message, /refused the message \(MAIL\): 550 Sender address rejected: not owned by user$/);
    for (const to of TO) smtp.refuseRecipient(to, 550, 'No such user here');
    err = await failure(mail.send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, false);
    assert.match(err.message, /refused the message .*550 No such user here/);
    assert.equal(smtp.received.length, 0);
  });

  it('one refused recipient does not stop the others, and the result says who was refused', async () => {
    await start();
    smtp.refuseRecipient('bob@example.com', 550, 'No such user here');
    const failed = opsEvent('deploy.failed');
    const result = await send(channel(server), failed);
    assert.equal(
      result.detail,
      `email <${failed.id}@opsflow> sent through SMTP 127.0.0.1:${server.port} to alice@example.com; the server refused bob@example.com`,
    );
    assert.deepEqual(smtp.received[0]!.envelope.to, ['alice@example.com']);
  });

  it('a refused connection and a silent server are retryable', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    let err = await failure(channel({ host: '127.0.0.1', port }).send(opsEvent('deploy.failed')));
    assert.equal(err.retryable, true);
    assert.match(err.message, new RegExp(`^SMTP 127\\.0\\.0\\.1:${port} cannot be reached: .*ECONNREFUSED`));

    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    try {
      err = await failure(
        channel({ host: '127.0.0.1', port: silentPort }, { timeout: '300ms' }).send(opsEvent('deploy.failed')),
      );
      assert.equal(err.retryable, true);
      assert.match(err.message, new RegExp(`^SMTP 127\\.0\\.0\\.1:${silentPort} did not answer within 300 ms`));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
