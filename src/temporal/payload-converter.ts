/**
 * The worker's payload converter, loaded through `DataConverter.payloadConverterPath` and bundled into the workflow
 * sandbox (so: @temporalio/common and src/shared only, nothing from node:). Temporal decodes a Signal's or an Update's
 * arguments before any handler runs, and the default converter throws on a payload it cannot read: the workflow task
 * fails, and keeps failing, so one `temporal workflow signal --input-meta encoding=binary/bogus` would stop a deploy's
 * timers, queries and rollbacks for good. This one returns the {@link Undecodable} sentinel instead, which every
 * handler refuses in one line. Everything it can decode it decodes exactly as the default converter does, and encoding
 * is the default's: no command of a recorded history changes.
 */
import {
  CompositePayloadConverter,
  defaultPayloadConverter,
  METADATA_ENCODING_KEY,
  type ConverterHint,
  type Payload,
  type PayloadConverter,
  type SerializationContext,
} from '@temporalio/common';
import {
  sanitiseEncoding,
  UNDECODABLE_REASONS,
  undecodable,
  type Undecodable,
  type UndecodableReason,
} from '../shared/undecodable';

/** The encoding of the payload the worker's codec puts in place of one it cannot decrypt (see codec.ts). */
export const UNDECODABLE_ENCODING = 'binary/undecodable';
/** Its metadata: why (one of {@link UNDECODABLE_REASONS}), and the encoding the original payload had. */
export const UNDECODABLE_REASON_METADATA = 'undecodable-reason';
export const UNDECODABLE_ORIGINAL_METADATA = 'undecodable-encoding';

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

/**
 * The payload a codec returns for one it cannot decode, so that decoding a workflow activation never throws: only the
 * reason and the original encoding (`binary/encrypted`), never the key id or the bytes, which the sender chose.
 */
export function undecodablePayload(originalEncoding: string, reason: UndecodableReason): Payload {
  return {
    metadata: {
      [METADATA_ENCODING_KEY]: bytes(UNDECODABLE_ENCODING),
      [UNDECODABLE_REASON_METADATA]: bytes(reason),
      [UNDECODABLE_ORIGINAL_METADATA]: bytes(sanitiseEncoding(originalEncoding)),
    },
    data: new Uint8Array(0),
  };
}

/** Wraps a payload converter: what it cannot decode becomes the {@link Undecodable} sentinel instead of an error. */
export class LenientPayloadConverter implements PayloadConverter {
  constructor(private readonly inner: PayloadConverter = defaultPayloadConverter) {}

  toPayload<T>(value: T, context?: SerializationContext, hint?: ConverterHint<T>): Payload {
    return this.inner.toPayload(value, context, hint);
  }

  fromPayload<T>(payload: Payload, context?: SerializationContext, hint?: ConverterHint<T>): T {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (encoding && sanitiseEncoding(encoding) === UNDECODABLE_ENCODING) return marked(payload) as T;
    try {
      return this.inner.fromPayload(payload, context, hint);
    } catch {
      return undecodable(encoding, this.reasonFor(encoding)) as T;
    }
  }

  /** Why the inner converter could not read a payload, from its encoding alone (never from an error's text). */
  private reasonFor(encoding: Uint8Array | null | undefined): UndecodableReason {
    const name = sanitiseEncoding(encoding);
    if (!name) return 'missing-encoding';
    if (this.inner instanceof CompositePayloadConverter && !this.inner.converterByEncoding.has(name)) {
      return 'unknown-encoding';
    }
    return 'malformed';
  }
}

/** The sentinel for a codec's {@link undecodablePayload}; a payload someone sent with that encoding is read alike. */
function marked(payload: Payload): Undecodable {
  const reason = sanitiseEncoding(payload.metadata?.[UNDECODABLE_REASON_METADATA]);
  const original = payload.metadata?.[UNDECODABLE_ORIGINAL_METADATA];
  if (!(UNDECODABLE_REASONS as readonly string[]).includes(reason)) {
    return undecodable(UNDECODABLE_ENCODING, 'unknown-encoding');
  }
  return undecodable(original ?? UNDECODABLE_ENCODING, reason as UndecodableReason);
}

/** Read by the SDK through `DataConverter.payloadConverterPath`: the worker's converter, inside and outside the sandbox. */
export const payloadConverter = new LenientPayloadConverter();
