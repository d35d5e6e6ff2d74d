/**
 * The payload codec's AES-256 keys: from a key file (OPSFLOW_CODEC_KEYS_FILE, one `id:base64key` a line, the last
 * line encrypts, every line decrypts) or from the environment (OPSFLOW_CODEC_KEY, with OPSFLOW_CODEC_KEY_ID).
 * Errors are one line and never contain key material.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** AES-256 takes 32 bytes. */
export const CODEC_KEY_BYTES = 32;

/** The environment variables the codec reads. */
export const CODEC_ENV = {
  keysFile: 'OPSFLOW_CODEC_KEYS_FILE',
  key: 'OPSFLOW_CODEC_KEY',
  keyId: 'OPSFLOW_CODEC_KEY_ID',
} as const;

/** One key: its id (written into every payload it encrypts, never secret) and its 32 bytes. */
export interface CodecKey {
  id: string;
  key: Buffer;
}

/** The keys a codec holds: `current` encrypts, any of `keys` decrypts what it encrypted. */
export interface CodecKeyring {
  current: CodecKey;
  keys: ReadonlyMap<string, Buffer>;
  /** Where the keys came from, for messages: a file path or the variable's name. */
  source: string;
}

/** A key setting a person fixes; the message is one line and names the setting, never the key. */
export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Standard or URL-safe base64, padded or not: the strict shape, so a typo is refused rather than decoded to other bytes.
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Refuses an id that could not travel as metadata or be told apart in a message. */
export function checkKeyId(id: string, where: string): string {
  if (!KEY_ID.test(id)) {
    throw new CodecKeyError(
      `${where}: a key id is 1 to 64 letters, digits, ".", "_" or "-", starting with one of the first two`,
    );
  }
  return id;
}

/** The 32 bytes of a base64 key, or a one-line error naming where it came from. */
export function parseKey(base64: string, where: string): Buffer {
  const text = base64.trim();
  const key = BASE64.test(text) ? Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64') : undefined;
  if (!key || key.length !== CODEC_KEY_BYTES) {
    const got = key ? `${key.length} bytes` : 'not base64';
    throw new CodecKeyError(
      `${where}: a codec key is ${CODEC_KEY_BYTES} random bytes in base64 (got ${got}); make one with "opsflow keys codec-init"`,
    );
  }
  return key;
}

/** A key's default id: a short fingerprint, so a changed key never reuses the id of the one before. */
export function fingerprint(key: Buffer): string {
  return `k-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/**
 * The keys of a key file's text: one `id:base64key` a line, `#` comments and blank lines ignored; the last key is the
 * one that encrypts, so rotating is appending a line.
 */
export function parseKeyFile(text: string, source: string): CodecKeyring {
  const keys = new Map<string, Buffer>();
  let current: CodecKey | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source} line ${index + 1}`;
    const colon = line.indexOf(':');
    if (colon < 0) throw new CodecKeyError(`${where}: expected "<key id>:<base64 key>"`);
    const id = checkKeyId(line.slice(0, colon).trim(), where);
    if (keys.has(id)) throw new CodecKeyError(`${where}: key id "${id}" appears twice; ids must be unique`);
    const key = parseKey(line.slice(colon + 1), where);
    keys.set(id, key);
    current = { id, key };
  });
  if (!current) throw new CodecKeyError(`${source} holds no key: add one with "opsflow keys codec-init"`);
  return { current, keys, source };
}

/** Refuses a key file that others may read or write, as ssh does for private keys. */
function checkFileMode(file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new CodecKeyError(
      `${file} is readable or writable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${file}`,
    );
  }
}

/** Reads a key file, refusing one that is missing, open to others or malformed. */
export function readKeyFile(file: string): CodecKeyring {
  let text: string;
  try {
    checkFileMode(file);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof CodecKeyError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CodecKeyError(`${CODEC_ENV.keysFile}=${file}: no such file; create it with "opsflow keys codec-init"`);
    }
    throw new CodecKeyError(`${CODEC_ENV.keysFile}=${file}: cannot read it (${code ?? (err as Error).message})`);
  }
  return parseKeyFile(text, file);
}

/**
 * The codec's keys as the environment configures them, or undefined when it configures none (the codec is off).
 * The key file and the single key are exclusive, so which key encrypts is never a guess.
 */
export function codecKeysFromEnv(env: NodeJS.ProcessEnv = process.env): CodecKeyring | undefined {
  const file = env[CODEC_ENV.keysFile]?.trim();
  const key = env[CODEC_ENV.key]?.trim();
  const keyId = env[CODEC_ENV.keyId]?.trim();
  if (file && key) {
    throw new CodecKeyError(`set ${CODEC_ENV.keysFile} or ${CODEC_ENV.key}, not both`);
  }
  if (file) {
    if (keyId) throw new CodecKeyError(`${CODEC_ENV.keyId} goes with ${CODEC_ENV.key}; a key file names its own ids`);
    return readKeyFile(path.resolve(file));
  }
  if (!key) {
    if (keyId) throw new CodecKeyError(`${CODEC_ENV.keyId} is set but ${CODEC_ENV.key} is not`);
    return undefined;
  }
  const bytes = parseKey(key, CODEC_ENV.key);
  const id = keyId ? checkKeyId(keyId, CODEC_ENV.keyId) : fingerprint(bytes);
  return { current: { id, key: bytes }, keys: new Map([[id, bytes]]), source: CODEC_ENV.key };
}

/** A fresh random key; its id defaults to the date and a few random characters (`20260102-3fa9`). */
export function generateCodecKey(id?: string): CodecKey {
  const key = randomBytes(CODEC_KEY_BYTES);
  const date = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  return { id: checkKeyId(id ?? `${date}-${randomBytes(2).toString('hex')}`, 'key id'), key };
}

/** A key as a key file line. */
export function keyLine(key: CodecKey): string {
  return `${key.id}:${key.key.toString('base64')}`;
}

/**
 * Writes a new key file (0600, its folder created 0700) holding one fresh key, or, with `rotate`, appends a fresh key
 * to an existing one, where it becomes the key that encrypts. Refuses to overwrite a file or to rotate a missing one.
 */
export function writeCodecKey(file: string, options: { id?: string; rotate?: boolean } = {}): CodecKey {
  const exists = existsSync(file);
  if (options.rotate && !exists)
    throw new CodecKeyError(`${file} does not exist: create it with "opsflow keys codec-init"`);
  if (!options.rotate && exists) {
    throw new CodecKeyError(
      `${file} exists: opsflow never overwrites a key file (rotate with "opsflow keys codec-rotate")`,
    );
  }
  if (options.rotate) {
    const ring = readKeyFile(file);
    const key = generateCodecKey(options.id);
    if (ring.keys.has(key.id)) throw new CodecKeyError(`${file} already has a key "${key.id}"`);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${keyLine(key)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return key;
  }
  const key = generateCodecKey(options.id);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const header = [
    '# opsflow payload codec keys (AES-256-GCM): one "<key id>:<base64 key>" a line.',
    '# The last line encrypts; every line decrypts. Rotate by appending (opsflow keys codec-rotate); remove a key only',
    '# when no history you keep was encrypted with it.',
  ].join('\n');
  writeFileSync(file, `${header}\n${keyLine(key)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}
