/**
 * Slack's request signature, as Slack documents it ("Verifying requests from Slack"): every request Slack sends carries
 * `X-Slack-Request-Timestamp` (unix seconds) and `X-Slack-Signature: v0=<hex>`, where the hex is HMAC-SHA256, keyed
 * with the app's signing secret, of `v0:<timestamp>:<raw body>`. A receiver recomputes it over the raw bytes it got
 * (before parsing: re-encoded form data does not match), compares in constant time, and refuses a timestamp more than
 * five minutes from its clock, so a captured request cannot be replayed later. What the window leaves open (the same
 * request again within it) the receiver closes by remembering the signatures it has answered (chat-bridge.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers Slack signs with (Node lower-cases header names). */
export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';

/** How far from the receiver's clock a request's timestamp may be: five minutes, as Slack documents. */
export const SLACK_TOLERANCE_MS = 300_000;

/** A request to refuse; the message is one line and holds neither the secret nor the expected signature. */
export class SlackSignatureError extends Error {
  override name = 'SlackSignatureError';
}

function hmacHex(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest('hex');
}

/** The headers Slack would send with `rawBody` at `nowMs`: what tests and local tools sign requests with. */
export function signSlackRequest(
  rawBody: string | Buffer,
  secret: string,
  nowMs: number,
): { [SLACK_TIMESTAMP_HEADER]: string; [SLACK_SIGNATURE_HEADER]: string } {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { [SLACK_TIMESTAMP_HEADER]: timestamp, [SLACK_SIGNATURE_HEADER]: `v0=${hmacHex(secret, timestamp, rawBody)}` };
}

/**
 * Checks a request's Slack signature against the raw body at `nowMs`; answers the signature (for the receiver's replay
 * memory). Throws {@link SlackSignatureError} when a header is missing, given twice or malformed, when the timestamp
 * is more than five minutes from `nowMs` either way, or when the signature does not match (another secret, or a body
 * changed on the way).
 */
export function verifySlackRequest(
  rawBody: string | Buffer,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
  nowMs: number,
): string {
  const timestamp = headers[SLACK_TIMESTAMP_HEADER];
  const signature = headers[SLACK_SIGNATURE_HEADER];
  if (signature === undefined || signature === '') throw new SlackSignatureError('X-Slack-Signature is missing');
  if (timestamp === undefined || timestamp === '') {
    throw new SlackSignatureError('X-Slack-Request-Timestamp is missing');
  }
  if (Array.isArray(signature) || Array.isArray(timestamp)) {
    throw new SlackSignatureError('X-Slack-Signature or X-Slack-Request-Timestamp is given more than once');
  }
  if (!/^\d{1,12}$/.test(timestamp)) throw new SlackSignatureError('X-Slack-Request-Timestamp is not unix seconds');
  const skewMs = nowMs - Number(timestamp) * 1000;
  if (Math.abs(skewMs) > SLACK_TOLERANCE_MS) {
    throw new SlackSignatureError(
      `X-Slack-Request-Timestamp is ${Math.round(Math.abs(skewMs) / 1000)} s ${skewMs > 0 ? 'old' : 'in the future'}; ` +
        `at most ${SLACK_TOLERANCE_MS / 1000} s are accepted (a replay, or a clock far off)`,
    );
  }
  const match = /^v0=([0-9a-f]{64})$/.exec(signature);
  if (!match?.[1]) throw new SlackSignatureError('X-Slack-Signature is malformed: expected v0=<64 hex digits>');
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), 'hex');
  if (!timingSafeEqual(Buffer.from(match[1], 'hex'), expected)) {
    throw new SlackSignatureError(
      'X-Slack-Signature does not match the body: signed with another signing secret, or the body was changed',
    );
  }
  return signature;
}
