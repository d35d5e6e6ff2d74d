/**
 * What a handler receives in place of an argument whose payload cannot be decoded. Anyone with access to the namespace
 * can send a Signal or an Update with any bytes; the worker's payload converter (src/temporal/payload-converter.ts)
 * hands this value to the handler instead of failing the workflow task, so the deploy records the attempt, ignores it
 * and goes on. Every message schema refuses it (each requires fields it does not have); handlers check for it first
 * to say why in one line.
 */

/** Why a payload could not be decoded: a closed set, so no text from the payload is ever shown but its encoding. */
export const UNDECODABLE_REASONS = [
  /** Its metadata names no encoding. */
  'missing-encoding',
  /** Its encoding is not one the worker's converter reads (`binary/bogus`). */
  'unknown-encoding',
  /** Its bytes are not what its encoding says (malformed JSON under `json/plain`). */
  'malformed',
  /** Encrypted with a codec key id the worker does not have, or naming none. */
  'unknown-key',
  /** Encrypted, but its bytes were altered or the key with its id is not the one that encrypted it. */
  'altered',
] as const;
export type UndecodableReason = (typeof UNDECODABLE_REASONS)[number];

/** The value a payload that cannot be decoded becomes: its (sanitised) encoding and why. */
export interface Undecodable {
  undecodable: { encoding: string; reason: UndecodableReason };
}

/** The longest encoding name shown; longer ones are cut. */
const MAX_ENCODING = 40;

/**
 * An encoding name safe to show in a timeline or a log line: letters, digits and `/._+-` only, at most 40 characters.
 * Anything else in the bytes (newlines, control characters, markup) becomes `?`.
 */
export function sanitiseEncoding(raw: string | Uint8Array | null | undefined): string {
  if (raw === null || raw === undefined) return '';
  const chars =
    typeof raw === 'string'
      ? [...raw].slice(0, MAX_ENCODING + 1)
      : [...raw.subarray(0, MAX_ENCODING + 1)].map((b) => String.fromCharCode(b));
  const safe = chars.map((c) => (/^[A-Za-z0-9/._+-]$/.test(c) ? c : '?')).join('');
  return safe.length > MAX_ENCODING ? `${safe.slice(0, MAX_ENCODING)}…` : safe;
}

/** The sentinel for a payload with this encoding that could not be decoded for this reason. */
export function undecodable(encoding: string | Uint8Array | null | undefined, reason: UndecodableReason): Undecodable {
  return { undecodable: { encoding: sanitiseEncoding(encoding), reason } };
}

/** True for the sentinel (or anything shaped like it: a sender can also send that as JSON, and it is refused alike). */
export function isUndecodable(value: unknown): value is Undecodable {
  if (typeof value !== 'object' || value === null || !('undecodable' in value)) return false;
  const inner = (value as { undecodable: unknown }).undecodable;
  return typeof inner === 'object' && inner !== null;
}

/**
 * Why a handler ignores or refuses a message, in one line: "its payload cannot be decoded (unknown encoding
 * binary/bogus)". Rendered from the fields, re-sanitised: the value may have come as JSON from anyone.
 */
export function describeUndecodable(value: Undecodable): string {
  const { encoding, reason } = value.undecodable as { encoding?: unknown; reason?: unknown };
  const shown = sanitiseEncoding(typeof encoding === 'string' ? encoding : '') || '(none)';
  const known = (UNDECODABLE_REASONS as readonly unknown[]).includes(reason)
    ? (reason as UndecodableReason)
    : undefined;
  const why: Record<UndecodableReason, string> = {
    'missing-encoding': 'no encoding',
    'unknown-encoding': `unknown encoding ${shown}`,
    malformed: `malformed ${shown}`,
    'unknown-key': 'encrypted with a key the worker does not have',
    altered: 'encrypted, but altered or with another key under the same id',
  };
  return `its payload cannot be decoded (${known ? why[known] : `encoding ${shown}`})`;
}
