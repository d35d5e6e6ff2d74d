/**
 * An SMTP server on 127.0.0.1 built with the `smtp-server` package (the server half of nodemailer's project), keeping
 * every message it accepts with its envelope, its raw text and its headers parsed minimally (unfolded, names
 * lower-cased, the text part decoded from quoted-printable or base64).
 *
 * Checked against the documentation (smtp-server's guide at nodemailer.com/extras/smtp-server and its error handling
 * guide; RFC 5321 for reply codes; RFC 5322 section 3.6.4 for Message-ID, In-Reply-To and References):
 * - the handlers `onAuth`, `onMailFrom`, `onRcptTo`, `onData` answer through their callback, and an `Error` with a
 *   `responseCode` is sent as that SMTP reply: 4xx for a transient failure, 5xx for a permanent one;
 * - `authOptional` lets a client send without a login; `allowInsecureAuth` allows AUTH without TLS (this fake offers no
 *   STARTTLS: `disabledCommands: ['STARTTLS']`, so it needs no certificate);
 * - a msg-id is `<id-left@id-right>`, In-Reply-To and References hold one or more of them.
 *
 * Assumed: what a real mail server adds (Received lines, DKIM, queueing, bounces) is left out; a rejected recipient is
 * refused at RCPT TO with the knob's code, and the message goes to the others, as Postfix does.
 */
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

/** A message the server accepted. */
export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  /** Who logged in, when someone did. */
  user?: string;
  raw: string;
  /** Header fields by lower-cased name (the last one of a name wins), unfolded. */
  headers: Map<string, string>;
  /** The text part, decoded. */
  text: string;
}

/** Where a scripted refusal is given. */
export type Stage = 'MAIL' | 'RCPT' | 'DATA';

/** The answer a refusal carries. */
export interface Refusal {
  code: number;
  message: string;
}

export class FakeSmtp {
  readonly received: ReceivedMail[] = [];
  /** Connections the server accepted. */
  connections = 0;
  /** Failed logins. */
  refusedLogins = 0;
  private readonly refusals: { stage: Stage; refusal: Refusal }[] = [];
  private readonly refusedRecipients = new Map<string, Refusal>();
  private server: SMTPServer | undefined;
  private port = 0;

  /** With a login, only that user and password are accepted (and a login is required). */
  constructor(private readonly login?: { user: string; password: string }) {}

  /** The next command at `stage` is refused with `code`. */
  refuseNext(stage: Stage, code: number, message: string): void {
    this.refusals.push({ stage, refusal: { code, message } });
  }

  /** Every RCPT TO for `address` is refused with `code`. */
  refuseRecipient(address: string, code: number, message: string): void {
    this.refusedRecipients.set(address.toLowerCase(), { code, message });
  }

  /** The messages one Message-ID arrived in. */
  withMessageId(messageId: string): ReceivedMail[] {
    return this.received.filter((m) => m.headers.get('message-id') === messageId);
  }

  async start(): Promise<{ host: string; port: number }> {
    this.server = new SMTPServer({
      logger: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authOptional: !this.login,
      authMethods: ['PLAIN', 'LOGIN'],
      onConnect: (_session, callback) => {
        this.connections += 1;
        callback();
      },
      onAuth: (auth, _session, callback) => {
        if (this.login && auth.username === this.login.user && auth.password === this.login.password) {
          return callback(null, { user: auth.username });
        }
        this.refusedLogins += 1;
        callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
      },
      onMailFrom: (_address, _session, callback) => callback(this.scripted('MAIL')),
      onRcptTo: (address: SMTPServerAddress, _session, callback) => {
        const refused = this.refusedRecipients.get(address.address.toLowerCase());
        if (refused) return callback(Object.assign(new Error(refused.message), { responseCode: refused.code }));
        callback(this.scripted('RCPT'));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const refusal = this.scripted('DATA');
          if (refusal) return callback(refusal);
          const raw = Buffer.concat(chunks).toString('utf8');
          const from = session.envelope.mailFrom;
          this.received.push({
            envelope: {
              from: from ? from.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            },
            ...(typeof session.user === 'string' ? { user: session.user } : {}),
            raw,
            ...parseMessage(raw),
          });
          callback(null);
        });
      },
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return { host: '127.0.0.1', port: this.port };
  }

  /** Stops listening and closes what is open; a second stop does nothing. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  private scripted(stage: Stage): Error | null {
    const index = this.refusals.findIndex((r) => r.stage === stage);
    if (index < 0) return null;
    const { refusal } = this.refusals.splice(index, 1)[0]!;
    return Object.assign(new Error(refusal.message), { responseCode: refusal.code });
  }
}

/** Headers unfolded and the body decoded: enough to read what a test asserts, not a MIME parser. */
export function parseMessage(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split + 4);
  const headers = new Map<string, string>();
  for (const field of head.replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
    const colon = field.indexOf(':');
    if (colon > 0) headers.set(field.slice(0, colon).trim().toLowerCase(), field.slice(colon + 1).trim());
  }
  const encoding = headers.get('content-transfer-encoding')?.toLowerCase();
  let text = body;
  if (encoding === 'quoted-printable') {
    const bytes = Buffer.from(
      body
        .replace(/=\r\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      'latin1',
    );
    text = bytes.toString('utf8');
  } else if (encoding === 'base64') {
    text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return { headers, text: text.replace(/\r\n/g, '\n') };
}
