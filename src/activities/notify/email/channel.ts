/**
 * The `email` channel: each event it wants as one plain-text email through the worker's SMTP server, sent with
 * `nodemailer`, for approvers who are not on chat. By default it wants what asks a person to act or says something went
 * wrong ({@link DEFAULT_EMAIL_EVENTS}); `events` in its block says otherwise.
 *
 * The message: `Subject` = the event's title (eventTitle, on one line, control characters removed); a text body with
 * the title, the event's fields one per line and the Temporal UI link; `Date` = the event's time, and
 * `Auto-Submitted: auto-generated` (RFC 3834) so that vacation responders stay quiet.
 *
 * Threading and deduplication: `Message-ID: <event id@opsflow>` (the id kept to characters a Message-ID may hold) is
 * the same for every send of an event, and `In-Reply-To` / `References: <deploy id@opsflow>` (RFC 5322 section 3.6.4)
 * let mail clients that thread by them show a deploy's emails as one thread; a client that also groups by subject may
 * not, as each event has a subject of its own.
 *
 * At most one message per event is as far as SMTP can go: the protocol cannot say whether an earlier attempt was
 * delivered (a worker killed after the server's 250, an answer lost), so a retry sends again, and the Message-ID is the
 * dedup key: a receiving system that files by Message-ID (an archive, a ticket system, many mail stores) keeps one.
 * `duplicate` is always false; the result's `ref` is the Message-ID.
 *
 * An SMTP 4xx (greylisting, a full mailbox for now, a busy server) is retryable, a 5xx (an unknown recipient, a refused
 * login or sender) is not; refused connections, timeouts and dropped connections are retryable. A recipient the server
 * refuses while it takes the others is named in the result and not retried: a retry would send the others a second
 * copy. A login is only sent
 * over TLS (`secure`, or STARTTLS required), except to a server on loopback. The user and password are in no message.
 */
import { createHash } from 'node:crypto';
import type nodemailer from 'nodemailer';
import { eventTitle, type OpsEvent } from '../../../shared/notify/events';
import { redact } from '../../llm/errors';
import { parseChannelConfig } from '../channel-config';
import { ChannelError, type Channel, type SendResult } from '../contract';
import { credentialSource, readCredential, type Env } from '../credentials';
import { oneLine, truncate } from '../text';
import { DEFAULT_EMAIL_EVENTS, emailChannelConfigSchema, type EmailChannelConfig } from './config';

let nodemailerModule: Promise<{ createTransport: typeof nodemailer.createTransport }> | undefined;

/** nodemailer, loaded once, when the first email is sent: a worker without an email channel never loads it. */
function loadNodemailer(): Promise<{ createTransport: typeof nodemailer.createTransport }> {
  nodemailerModule ??= import('nodemailer').then(({ default: mailer }) => mailer);
  return nodemailerModule;
}

/** The domain of every Message-ID opsflow writes. */
export const MESSAGE_ID_DOMAIN = 'opsflow';
/** A subject longer than this is cut (mail clients show far less). */
export const MAX_SUBJECT_LENGTH = 250;

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i;

/** The fields a body lists first, in this order; the others follow as the event has them. */
const FIRST_FIELDS = ['type', 'severity', 'project', 'service', 'version', 'environment', 'deployId', 'requestedBy'];
/** The fields a body lists last. */
const LAST_FIELDS = ['time', 'id'];

/**
 * `<id@opsflow>` for an event or deploy id: kept to letters, digits and `. _ - + = /` (all allowed in a Message-ID),
 * with no leading, trailing or doubled dot; an id that had to change, or was too long, gets a hash of itself so that
 * two ids never share one.
 */
export function messageIdOf(id: string): string {
  let left = id
    .replace(/[^A-Za-z0-9._+=/-]/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^\.+|\.+$/g, '');
  if (left !== id || left.length > 200) {
    left = `${left.slice(0, 180)}.${createHash('sha256').update(id).digest('hex').slice(0, 16)}`.replace(/^\./, '');
  }
  return `<${left}@${MESSAGE_ID_DOMAIN}>`;
}

/** A field's value on one line. */
function valueOf(value: unknown): string {
  if (Array.isArray(value)) return value.map(valueOf).join(', ');
  return oneLine(String(value));
}

/** What is sent for an event: the subject, the text, and the headers that identify and thread it. */
export interface EmailMessage {
  subject: string;
  text: string;
  messageId: string;
  /** The deploy's thread, for a deploy's events. */
  thread?: string;
}

/** The email of an event (pure: the same event gives the same message). */
export function emailMessage(event: OpsEvent): EmailMessage {
  const title = oneLine(eventTitle(event));
  const subject = truncate(title, MAX_SUBJECT_LENGTH);
  const fields = event as unknown as Record<string, unknown>;
  const keys = Object.keys(fields).filter((k) => k !== 'uiUrl' && fields[k] !== undefined);
  const ordered = [
    ...FIRST_FIELDS.filter((k) => keys.includes(k)),
    ...keys.filter((k) => !FIRST_FIELDS.includes(k) && !LAST_FIELDS.includes(k)),
    ...LAST_FIELDS.filter((k) => keys.includes(k)),
  ];
  const messageId = messageIdOf(event.id);
  const lines = [
    title,
    '',
    ...ordered.map((k) => `${k}: ${valueOf(fields[k])}`),
    '',
    ...(event.uiUrl ? [`Temporal UI: ${event.uiUrl}`, ''] : []),
    '-- ',
    `Sent by opsflow. Every copy of this event carries the Message-ID ${messageId}.`,
  ];
  return {
    subject,
    text: `${lines.join('\n')}\n`,
    messageId,
    ...('deployId' in event ? { thread: messageIdOf(event.deployId) } : {}),
  };
}

/** What an email channel needs besides its config; tests pass their own. */
export interface EmailDeps {
  env?: Env;
}

/** Sends the events it wants as emails through one SMTP server. */
export class EmailChannel implements Channel {
  readonly kind = 'email';
  private readonly env: Env;
  private readonly events: ReadonlySet<string>;

  constructor(
    private readonly config: EmailChannelConfig,
    deps: EmailDeps = {},
  ) {
    this.env = deps.env ?? process.env;
    this.events = new Set(config.events ?? DEFAULT_EMAIL_EVENTS);
  }

  wants(event: OpsEvent): boolean {
    return this.events.has(event.type);
  }

  async send(event: OpsEvent): Promise<SendResult> {
    if (!this.wants(event)) return { ref: '', duplicate: false, detail: `${event.type} is not sent by email` };
    const { smtp } = this.config;
    const where = `SMTP ${smtp.host}:${smtp.port}`;
    const login = this.login();
    const secure = smtp.secure ?? smtp.port === 465;
    const { createTransport } = await loadNodemailer();
    const transport = createTransport({
      host: smtp.host,
      port: smtp.port,
      secure,
      // A password crosses the network only encrypted; a relay on this machine may take it in the clear.
      requireTLS: Boolean(login) && !secure && !LOOPBACK.test(smtp.host),
      ...(login ? { auth: { user: login.user, pass: login.password } } : {}),
      connectionTimeout: this.config.timeout,
      greetingTimeout: this.config.timeout,
      socketTimeout: this.config.timeout,
      dnsTimeout: this.config.timeout,
      logger: false,
      debug: false,
    });
    const message = emailMessage(event);
    try {
      const info = await transport.sendMail({
        from: this.config.from,
        to: this.config.to,
        subject: message.subject,
        text: message.text,
        messageId: message.messageId,
        date: new Date(event.time),
        ...(message.thread ? { inReplyTo: message.thread, references: [message.thread] } : {}),
        headers: { 'Auto-Submitted': 'auto-generated', 'X-Opsflow-Event': event.type },
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      const rejected = info.rejected.map(String);
      const accepted = info.accepted.map(String);
      return {
        ref: message.messageId,
        duplicate: false,
        detail:
          `email ${message.messageId} sent through ${where} to ${accepted.join(', ')}` +
          (rejected.length ? `; the server refused ${rejected.join(', ')}` : ''),
      };
    } catch (err) {
      throw this.failure(where, err, login);
    } finally {
      transport.close();
    }
  }

  /** The login from the worker's variables or file, when the config names one. */
  private login(): { user: string; password: string } | undefined {
    const { userEnv, passwordEnv, passwordFile } = this.config.smtp;
    if (!userEnv) return undefined;
    const user = readCredential('the SMTP user', { env: userEnv }, this.env);
    const password = readCredential(
      'the SMTP password',
      credentialSource(passwordFile, passwordEnv, 'SMTP_PASSWORD'),
      this.env,
    );
    return { user, password };
  }

  /** What a failed send means, in one line without the user or the password. */
  private failure(where: string, err: unknown, login: { user: string; password: string } | undefined): ChannelError {
    const e = err as { code?: string; responseCode?: number; response?: string; command?: string; message?: string };
    const clean = (text: string) => {
      let out = redact(oneLine(text), login?.password);
      if (login && login.user.length >= 3) out = out.split(login.user).join('[user]');
      return out;
    };
    const said = clean(e.response ?? e.message ?? String(err));
    const during = e.command ? ` (${oneLine(e.command).split(' ')[0]})` : '';
    const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
    if (code !== undefined && code >= 400 && code < 500) {
      return new ChannelError(`${where} deferred the message${during}: ${said}`, true);
    }
    if (code !== undefined && code >= 500) {
      const { userEnv, passwordEnv, passwordFile } = this.config.smtp;
      const password = passwordFile ? `the file ${passwordFile}` : passwordEnv;
      const fix = e.code === 'EAUTH' ? `: check the login in ${userEnv} and ${password}` : '';
      return new ChannelError(`${where} refused the message${during}: ${said}${fix}`, false);
    }
    switch (e.code) {
      case 'ETIMEDOUT':
        return new ChannelError(`${where} did not answer within ${this.config.timeout} ms${during}`, true);
      case 'ECONNECTION':
      case 'ESOCKET':
      case 'EDNS':
      case 'ETLS':
      case 'EPROTOCOL': {
        const errno = (err as { errno?: unknown; cause?: { code?: string } }).cause?.code;
        return new ChannelError(`${where} cannot be reached: ${errno ? `${errno}: ` : ''}${said}`, true);
      }
      case 'EAUTH':
      case 'ENOAUTH':
      case 'EENVELOPE':
      case 'EMESSAGE':
      case 'ECONFIG':
      case 'EREQUIRETLS':
        return new ChannelError(`${where} refused the message${during}: ${said}`, false);
      default:
        return new ChannelError(`${where} failed${during}: ${said}`, true);
    }
  }
}

/** The registry's factory: the channel of a `notifications.channels.<name>` block, or a ConfigError in one line. */
export function createEmailChannel(block: unknown, context: { name: string; env: Env }): EmailChannel {
  return new EmailChannel(parseChannelConfig(emailChannelConfigSchema, block, context.name), { env: context.env });
}
