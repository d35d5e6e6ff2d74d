/**
 * The webhook channel's signature, as Stripe signs its webhooks: header `X-Opsflow-Signature: t=<unix seconds>,v1=<hex>`
 * where the hex is HMAC-SHA256, keyed with the shared secret, of `<t>.<raw body>`. Signing the timestamp with the body
 * lets a receiver refuse a replayed request (older than its tolerance, 5 minutes by default, as Stripe's libraries do);
 * several `v1=` entries may be given, so a receiver keeps working while a secret is rotated. GitHub's
 * `X-Hub-Signature-256` signs the body alone, without a timestamp, so it cannot refuse a replay.
 *
 * A receiver verifies the raw bytes it received, before parsing them: re-serialized JSON does not match.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header the webhook channel signs with (HTTP header names are case-insensitive; Node lower-cases them). */
export const SIGNATURE_HEADER = 'X-Opsflow-Signature';

/** How old a signature a receiver accepts by default, and how far in the future (clock skew): 5 minutes. */
export const DEFAULT_TOLERANCE_MS = 300_000;

/** A signature a receiver must refuse; the message is one line and holds neither the secret nor the expected value. */
export class WebhookSignatureError extends Error {
  override name = 'WebhookSignatureError';
}

function hmacHex(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/** The header value for `rawBody` signed at `nowMs`. */
export function signWebhookBody(rawBody: string | Buffer, secret: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${hmacHex(secret, t, rawBody)}`;
}

/**
 * Checks an `X-Opsflow-Signature` header against the raw body a receiver got, at `nowMs`. Throws
 * {@link WebhookSignatureError} when the header is missing or malformed, when its time is further than `toleranceMs`
 * from `nowMs` either way (a replay, or a sender's clock far off), or when no `v1` matches (another secret, or a body
 * changed on the way).
 */
export function verifyWebhookSignature(
  rawBody: string | Buffer,
  header: string | string[] | undefined,
  secret: string,
  nowMs: number,
  toleranceMs: number = DEFAULT_TOLERANCE_MS,
): void {
  if (header === undefined || header === '') throw new WebhookSignatureError(`${SIGNATURE_HEADER} is missing`);
  if (Array.isArray(header)) throw new WebhookSignatureError(`${SIGNATURE_HEADER} is given more than once`);
  let timestamp: number | undefined;
  const signatures: string[] = [];
  // A part that is not key=value, or a second t=, makes the whole header malformed (NaN); unknown keys are skipped.
  for (const part of header.split(',')) {
    const [key, value, ...rest] = part.trim().split('=');
    if (rest.length > 0 || value === undefined) timestamp = Number.NaN;
    else if (key === 't') timestamp = timestamp === undefined && /^\d{1,12}$/.test(value) ? Number(value) : Number.NaN;
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(value.toLowerCase());
  }
  if (timestamp === undefined || Number.isNaN(timestamp) || signatures.length === 0) {
    throw new WebhookSignatureError(`${SIGNATURE_HEADER} is malformed: expected t=<unix seconds>,v1=<64 hex digits>`);
  }
  const ageMs = nowMs - timestamp * 1000;
  if (ageMs > toleranceMs) {
    throw new WebhookSignatureError(
      `${SIGNATURE_HEADER} is too old: signed ${Math.round(ageMs / 1000)} s ago, at most ${Math.round(toleranceMs / 1000)} s are accepted`,
    );
  }
  if (-ageMs > toleranceMs) {
    throw new WebhookSignatureError(
      `${SIGNATURE_HEADER} is dated ${Math.round(-ageMs / 1000)} s in the future: check the sender's and receiver's clocks`,
    );
  }
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), 'hex');
  const matches = signatures.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  if (!matches) {
    throw new WebhookSignatureError(
      `${SIGNATURE_HEADER} does not match the body: signed with another secret, or the body was changed`,
    );
  }
}
