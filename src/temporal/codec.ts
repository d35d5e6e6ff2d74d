/**
 * Optional encryption of everything opsflow puts into Temporal's history: a PayloadCodec (AES-256-GCM, the key id in
 * each payload's metadata so keys rotate) that the worker and every client share through {@link dataConverterFromEnv}.
 * Codecs run outside the workflow sandbox, so Node's crypto is used; the workflow bundle does not change.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { UndecodableReason } from '../shared/undecodable';
import { CODEC_ENV, codecKeysFromEnv, type CodecKeyring } from './codec-keys';
import { undecodablePayload } from './payload-converter';

/** The encoding an encrypted payload carries, as in Temporal's encryption samples. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata naming the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ProtoPayload = temporal.api.common.v1.Payload;

/** A payload that cannot be decrypted: its key is not configured, or its bytes were altered. One line, no key. */
export class PayloadDecryptError extends Error {
  override name = 'PayloadDecryptError';

  constructor(
    message: string,
    /** Why, as the worker's payload converter names it (the message is for people). */
    readonly reason: UndecodableReason = 'unknown-key',
  ) {
    super(message);
  }
}

/** How an {@link EncryptionCodec} treats a payload it cannot decrypt. */
export interface EncryptionCodecOptions {
  /**
   * Decode returns a `binary/undecodable` payload with the reason (never the key id or the bytes) instead of throwing,
   * which the worker's payload converter turns into the Undecodable sentinel: anyone can send a Signal with an
   * encrypted-looking payload, and a throw here would fail every workflow task of the deploy. The worker's codec only;
   * the CLI and the codec server throw, so a person is told which key is missing.
   */
  lenient?: boolean;
}

const utf8 = (bytes: Uint8Array | null | undefined): string | undefined =>
  bytes ? Buffer.from(bytes).toString('utf8') : undefined;

/** Whether a payload is one this codec encrypted (by its encoding metadata). */
export function isEncrypted(payload: Payload): boolean {
  return utf8(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING;
}

/**
 * Encrypts each whole payload (its metadata too, so not even its encoding shows) with the keyring's current key:
 * `iv (12 bytes) | ciphertext | GCM tag (16 bytes)`, the layout WebCrypto's AES-GCM uses. Decrypts with whichever
 * configured key the payload names; a payload that is not encrypted passes through, so turning the codec on keeps
 * every older history readable.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(
    private readonly keyring: CodecKeyring,
    private readonly options: EncryptionCodecOptions = {},
  ) {}

  /** The id of the key that encrypts. */
  get currentKeyId(): string {
    return this.keyring.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (this.options.lenient ? this.decryptOrMark(payload) : this.decrypt(payload)));
  }

  private decryptOrMark(payload: Payload): Payload {
    try {
      return this.decrypt(payload);
    } catch (err) {
      if (!(err instanceof PayloadDecryptError)) throw err;
      return undecodablePayload(ENCRYPTED_ENCODING, err.reason);
    }
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.keyring.current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    const plain = ProtoPayload.encode(payload).finish();
    const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(id),
      },
      data,
    };
  }

  private decrypt(payload: Payload): Payload {
    if (!isEncrypted(payload)) return payload;
    const id = utf8(payload.metadata?.[KEY_ID_METADATA]);
    if (!id) throw new PayloadDecryptError(`an encrypted payload names no key (no ${KEY_ID_METADATA} metadata)`);
    const key = this.keyring.keys.get(id);
    if (!key) {
      const known = [...this.keyring.keys.keys()].join(', ');
      throw new PayloadDecryptError(
        `cannot decrypt a payload encrypted with key "${id}": ${this.keyring.source} has no such key (it has ${known})`,
      );
    }
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptError(`cannot decrypt a payload with key "${id}": it is too short to be one`, 'altered');
    }
    const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptError(
        `cannot decrypt a payload with key "${id}": it was altered, or the key with that id is not the one that encrypted it`,
        'altered',
      );
    }
    try {
      return ProtoPayload.decode(plain);
    } catch {
      // Only a holder of the key can get here: what it encrypted is not a payload.
      throw new PayloadDecryptError(`a payload decrypted with key "${id}" is not a payload`, 'malformed');
    }
  }
}

/**
 * What a client without keys decodes with: payloads pass through, and an encrypted one fails in one line that says
 * which key it needs and how to configure it, instead of Temporal's "Unknown encoding: binary/encrypted".
 */
export class KeylessCodec implements PayloadCodec {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    const encrypted = payloads.find(isEncrypted);
    if (encrypted) {
      const id = utf8(encrypted.metadata?.[KEY_ID_METADATA]) ?? '?';
      throw new PayloadDecryptError(
        `the history is encrypted (key "${id}") and no codec key is configured: set ${CODEC_ENV.keysFile} ` +
          `(or ${CODEC_ENV.key}) as the worker has it`,
      );
    }
    return payloads;
  }
}

/** The codec the environment configures, or undefined when the codec is off (the default). */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): EncryptionCodec | undefined {
  const keyring = codecKeysFromEnv(env);
  return keyring ? new EncryptionCodec(keyring) : undefined;
}

/**
 * The data converter every client uses (the worker's is {@link workerDataConverter}): undefined (Temporal's default)
 * when no codec key is configured, or with `explainEncrypted` (the CLI) the {@link KeylessCodec}; otherwise the
 * encryption codec, and a failure converter that moves activity failure messages and stack traces into an (encrypted)
 * payload. Throws a one-line CodecKeyError when the key settings are wrong.
 */
export function dataConverterFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: { explainEncrypted?: boolean } = {},
): DataConverter | undefined {
  const codec = codecFromEnv(env);
  if (!codec) return options.explainEncrypted ? { payloadCodecs: [new KeylessCodec()] } : undefined;
  // A path, as the SDK wants it: the worker and clients require() it. The prebuilt workflow bundle keeps the default
  // failure converter, so failures raised by workflow code keep their messages in clear (docs/encryption.md).
  return { payloadCodecs: [codec], failureConverterPath: require.resolve('./failure-converter') };
}

/** The worker's payload converter (payload-converter.ts), by path as the SDK wants it: the bundle and the worker load it. */
export const PAYLOAD_CONVERTER_PATH = require.resolve('./payload-converter');

/**
 * The data converter of the worker: always the lenient payload converter, so no payload anyone sends can fail a
 * workflow task; with a codec key, the codec in lenient mode (a payload it cannot decrypt reaches the handler as the
 * Undecodable sentinel) and the failure converter of {@link dataConverterFromEnv}.
 */
export function workerDataConverter(keyring: CodecKeyring | undefined): DataConverter {
  if (!keyring) return { payloadConverterPath: PAYLOAD_CONVERTER_PATH };
  return {
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    payloadCodecs: [new EncryptionCodec(keyring, { lenient: true })],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}

/** {@link workerDataConverter} with the codec keys the environment configures; a one-line CodecKeyError if wrong. */
export function workerDataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter {
  return workerDataConverter(codecKeysFromEnv(env));
}

/** Whether a value has the shape of a Payload whose metadata says it is encrypted. */
function looksEncrypted(value: unknown): value is Payload {
  if (typeof value !== 'object' || value === null || !('metadata' in value)) return false;
  const { metadata } = value as { metadata: unknown };
  if (typeof metadata !== 'object' || metadata === null) return false;
  return isEncrypted(value as Payload);
}

/**
 * Decodes, in place, every encrypted payload anywhere in a fetched history (inputs, results, update and signal
 * arguments, memo, failures' encoded attributes), so code that reads raw history events (`deploy verify`) sees what
 * the workflow saw. Payloads that are not encrypted are left as they are.
 */
export async function decodeHistoryPayloads<T extends object>(history: T, codecs: readonly PayloadCodec[]): Promise<T> {
  const found: { holder: Record<string | number, unknown>; key: string | number; payload: Payload }[] = [];
  const seen = new Set<object>();
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || value instanceof Uint8Array || seen.has(value)) return;
    seen.add(value);
    const holder = value as Record<string | number, unknown>;
    for (const key of Object.keys(holder)) {
      const child = holder[key];
      if (looksEncrypted(child)) found.push({ holder, key, payload: child });
      else visit(child);
    }
  };
  visit(history);
  if (found.length === 0 || codecs.length === 0) return history;
  let payloads = found.map((f) => f.payload);
  for (const codec of [...codecs].reverse()) payloads = await codec.decode(payloads);
  found.forEach((f, i) => (f.holder[f.key] = payloads[i]));
  return history;
}
