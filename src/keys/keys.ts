import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  formatOpenSshPublicKey,
  signedBytes,
  type SignedAction,
  type SignedStatement,
  type Statement,
} from '../shared/signing';

/** Where a person's keys live unless OPSFLOW_KEYS_DIR says otherwise: ~/.config/opsflow/keys. */
export function defaultKeysDir(): string {
  return process.env['OPSFLOW_KEYS_DIR'] ?? path.join(os.homedir(), '.config', 'opsflow', 'keys');
}

/** The files of one person's key pair in a keys folder. */
export function keyFiles(dir: string, person: string): { privateKey: string; publicKey: string } {
  return { privateKey: path.join(dir, `${person}.key`), publicKey: path.join(dir, `${person}.pub`) };
}

/**
 * Creates an ed25519 key pair for a person: the private key (PKCS#8 PEM) in a 0600 file in a 0700 folder, the public
 * key as an OpenSSH line ("ssh-ed25519 AAAA... <person>") for the worker's policy. Refuses to overwrite a key.
 */
export function createKeyPair(dir: string, person: string): { privateKey: string; publicKey: string; line: string } {
  const files = keyFiles(dir, person);
  if (existsSync(files.privateKey)) throw new Error(`${files.privateKey} exists: opsflow never overwrites a key`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const line = formatOpenSshPublicKey(rawPublicKey(publicKey), person);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  writeFileSync(files.privateKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(files.publicKey, `${line}\n`, { mode: 0o644 });
  return { ...files, line };
}

/** The raw 32 bytes of an ed25519 public key. */
function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
}

/** Reads a private key file; one line saying what to do when it is missing or not an ed25519 key. */
export function loadPrivateKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch {
    throw new Error(`cannot read an ed25519 private key from ${file}: create one with "opsflow keys init"`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is not an ed25519 key`);
  return key;
}

/** What a decision binds to, as the deploy's status tells it. */
export interface DecisionTarget {
  namespace: string;
  workflowId: string;
  runId: string;
  environment: string;
  planHash: string;
}

/** Signs a decision: a statement valid for `ttlMs` (at most an hour) with a fresh nonce. */
export function signDecision(
  key: KeyObject,
  target: DecisionTarget,
  decision: { action: SignedAction; person: string; comment?: string },
  options: { nowMs?: number; ttlMs?: number } = {},
): SignedStatement {
  const nowMs = options.nowMs ?? Date.now();
  const statement: Statement = {
    v: 1,
    ...target,
    action: decision.action,
    person: decision.person,
    issuedAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + (options.ttlMs ?? 600_000)).toISOString(),
    nonce: randomBytes(16).toString('hex'),
    ...(decision.comment ? { comment: decision.comment } : {}),
  };
  return signStatement(key, statement);
}

/** The ed25519 signature of a statement, base64. */
export function signStatement(key: KeyObject, statement: Statement): SignedStatement {
  return { statement, signature: sign(null, Buffer.from(signedBytes(statement)), key).toString('base64') };
}
