import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type SshPk from 'sshpk';
import { formatOpenSshPublicKey, parseOpenSshPublicKey } from '../shared/signing';

/**
 * The key files people sign with, read the way OpenSSH writes them: an OpenSSH private key ("-----BEGIN OPENSSH
 * PRIVATE KEY-----", what `ssh-keygen -t ed25519` and `opsflow keys init` make), a PKCS#8 PEM key (what `opsflow keys
 * init` made before), or an OpenSSH public key line, whose private half lives in ssh-agent. sshpk reads OpenSSH
 * private keys, loaded only then (it costs the CLI about 65 ms); Node's crypto signs.
 */
export type KeyFile =
  | { kind: 'private'; key: KeyObject; publicKey: string; comment: string }
  /** An OpenSSH private key behind a passphrase: opsflow never asks for one, ssh-agent holds it unlocked. */
  | { kind: 'encrypted'; publicKey: string; comment: string }
  | { kind: 'public'; publicKey: string; comment: string };

/** A key file opsflow cannot sign with; the message says what it is and what to do, in one line. */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

/** Reads a key file's text (named `file` in messages). */
export async function parseKeyFile(text: string, file: string): Promise<KeyFile> {
  const trimmed = text.trim();
  if (/^ssh-ed25519\s/.test(trimmed)) {
    try {
      parseOpenSshPublicKey(trimmed);
    } catch (err) {
      throw new KeyFileError(`${file}: ${(err as Error).message}`);
    }
    return { kind: 'public', publicKey: trimmed.split(/\s+/).slice(0, 2).join(' '), comment: commentOf(trimmed) };
  }
  if (trimmed.startsWith('ssh-')) throw new KeyFileError(`${file} is not an ed25519 key (opsflow signs with ed25519)`);
  if (trimmed.includes('BEGIN OPENSSH PRIVATE KEY')) return parseOpenSshPrivate(trimmed, file);
  if (trimmed.includes('BEGIN ENCRYPTED PRIVATE KEY')) {
    throw new KeyFileError(`${file} is encrypted: add it to ssh-agent, or use an unencrypted ed25519 key`);
  }
  if (trimmed.includes('BEGIN PRIVATE KEY')) return parsePkcs8(trimmed, file);
  throw new KeyFileError(`${file} is not an ed25519 key file (OpenSSH, PKCS#8 PEM or an "ssh-ed25519 AAAA..." line)`);
}

async function parseOpenSshPrivate(text: string, file: string): Promise<KeyFile> {
  const sshpk: typeof SshPk = (await import('sshpk')).default;
  let key: SshPk.PrivateKey;
  try {
    key = sshpk.parsePrivateKey(text, 'ssh-private', { filename: file });
  } catch (err) {
    if ((err as Error).name === 'KeyEncryptedError') {
      const publicKey = encryptedPublicKey(text, file);
      return { kind: 'encrypted', publicKey, comment: '' };
    }
    throw new KeyFileError(`cannot read ${file} as an OpenSSH private key: ${(err as Error).message}`);
  }
  if (key.type !== 'ed25519') throw new KeyFileError(`${file} is a ${key.type} key; opsflow signs with ed25519`);
  const part = (name: string) => key.parts.find((p) => String(p.name) === name)?.data;
  const seed = part('k');
  const pub = part('A');
  if (!seed || !pub || seed.length !== 32 || pub.length !== 32) {
    throw new KeyFileError(`${file} does not hold a well-formed ed25519 key`);
  }
  return {
    kind: 'private',
    key: fromSeed(seed, pub),
    publicKey: formatOpenSshPublicKey(new Uint8Array(pub)),
    comment: key.comment && key.comment !== '(unnamed)' ? key.comment : '',
  };
}

function parsePkcs8(text: string, file: string): KeyFile {
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new KeyFileError(`cannot read ${file} as a PKCS#8 private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyFileError(`${file} is not an ed25519 key`);
  const x = key.export({ format: 'jwk' }).x ?? '';
  return { kind: 'private', key, publicKey: formatOpenSshPublicKey(Buffer.from(x, 'base64url')), comment: '' };
}

/** Node's key object for a raw ed25519 seed and public key. */
function fromSeed(seed: Uint8Array, pub: Uint8Array): KeyObject {
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(seed).toString('base64url'),
      x: Buffer.from(pub).toString('base64url'),
    },
    format: 'jwk',
  });
}

/**
 * The public key of an encrypted OpenSSH private key: the container keeps it in clear ("openssh-key-v1", cipher, kdf,
 * kdf options, the number of keys, then each public key), so ssh-agent can be asked for the matching private half.
 */
function encryptedPublicKey(text: string, file: string): string {
  const body = text.replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  const bytes = Buffer.from(body, 'base64');
  const magic = 'openssh-key-v1\0';
  if (bytes.subarray(0, magic.length).toString('latin1') !== magic) {
    throw new KeyFileError(`${file} is not an OpenSSH private key`);
  }
  let at = magic.length;
  const field = (): Buffer => {
    if (at + 4 > bytes.length) throw new KeyFileError(`${file} is truncated`);
    const length = bytes.readUInt32BE(at);
    if (at + 4 + length > bytes.length) throw new KeyFileError(`${file} is truncated`);
    const value = bytes.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    return value;
  };
  field(); // cipher
  field(); // kdf
  field(); // kdf options
  at += 4; // number of keys
  const blob = field();
  const line = `ssh-ed25519 ${blob.toString('base64')}`;
  try {
    parseOpenSshPublicKey(line);
  } catch {
    throw new KeyFileError(`${file} is not an ed25519 key; opsflow signs with ed25519`);
  }
  return line;
}

function commentOf(line: string): string {
  return line.split(/\s+/).slice(2).join(' ');
}

/**
 * A fresh ed25519 key pair: the private key as an OpenSSH file's text (unencrypted, as `ssh-keygen -N ''` writes it:
 * PROTOCOL.key of OpenSSH), and its public key line.
 */
export function generateOpenSshKeyPair(comment: string): { privateKey: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d ?? '', 'base64url');
  const pub = Buffer.from(jwk.x ?? '', 'base64url');
  const publicKey = formatOpenSshPublicKey(pub, comment);
  const blob = Buffer.from(publicKey.split(' ')[1] ?? '', 'base64');
  const check = randomBytes(4);
  const secret = Buffer.concat([
    check,
    check,
    sshString(Buffer.from('ssh-ed25519')),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(Buffer.from(comment, 'utf8')),
  ]);
  // Padded with 1, 2, 3, ... to the cipher's block size (8 for "none").
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString(Buffer.from('none')),
    sshString(Buffer.from('none')),
    sshString(Buffer.alloc(0)),
    uint32(1),
    sshString(blob),
    sshString(Buffer.concat([secret, padding])),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    privateKey: ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n'),
    publicKey,
  };
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function sshString(data: Buffer): Buffer {
  return Buffer.concat([uint32(data.length), data]);
}
