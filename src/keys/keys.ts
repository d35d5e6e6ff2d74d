import { randomBytes, sign } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  signedBytes,
  startSignedBytes,
  type ChatVia,
  type SignedAction,
  type SignedStart,
  type SignedStatement,
  type StartStatement,
  type Statement,
} from '../shared/signing';
import { AgentError, SshAgent } from './agent';
import { generateOpenSshKeyPair, KeyFileError, parseKeyFile } from './openssh';

/** Where a person's keys live unless OPSFLOW_KEYS_DIR says otherwise: ~/.config/opsflow/keys. */
export function defaultKeysDir(): string {
  return process.env['OPSFLOW_KEYS_DIR'] ?? path.join(os.homedir(), '.config', 'opsflow', 'keys');
}

/** The files of one person's key pair in a keys folder. */
export function keyFiles(dir: string, person: string): { privateKey: string; publicKey: string } {
  return { privateKey: path.join(dir, `${person}.key`), publicKey: path.join(dir, `${person}.pub`) };
}

/**
 * Creates an ed25519 key pair for a person, as `ssh-keygen -t ed25519` would: the private key in OpenSSH format in a
 * 0600 file in a 0700 folder (ssh-add and ssh-keygen read it), the public key as an OpenSSH line ("ssh-ed25519 AAAA...
 * <person>") for the worker's policy. Refuses to overwrite a key.
 */
export function createKeyPair(dir: string, person: string): { privateKey: string; publicKey: string; line: string } {
  const files = keyFiles(dir, person);
  if (existsSync(files.privateKey)) throw new Error(`${files.privateKey} exists: opsflow never overwrites a key`);
  const pair = generateOpenSshKeyPair(person);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  writeFileSync(files.privateKey, pair.privateKey, { mode: 0o600, flag: 'wx' });
  writeFileSync(files.publicKey, `${pair.publicKey}\n`, { mode: 0o644 });
  return { ...files, line: pair.publicKey };
}

/** What signs for a person: a private key file, or ssh-agent holding the key. */
export interface Signer {
  /** The OpenSSH public key line of the key that signs (without comment). */
  publicKey: string;
  /** Where the key is, for messages: a file, or "ssh-agent". */
  source: string;
  /** The raw 64-byte ed25519 signature of `data`. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A key file or agent opsflow cannot sign with; the message is one line saying what to do. */
export class SignerError extends Error {
  override name = 'SignerError';
}

/**
 * The signer of a key file: an unencrypted OpenSSH or PKCS#8 private key signs itself; an encrypted OpenSSH key, or a
 * public key line, signs through ssh-agent when the agent holds that key.
 */
export async function loadSigner(file: string, agent: SshAgent | undefined = SshAgent.fromEnv()): Promise<Signer> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new SignerError(`cannot read ${file}: create a key with "opsflow keys init" or pass another --key`);
  }
  let parsed;
  try {
    parsed = await parseKeyFile(text, file);
  } catch (err) {
    if (err instanceof KeyFileError) throw new SignerError(err.message);
    throw err;
  }
  if (parsed.kind === 'private') {
    const key = parsed.key;
    return {
      publicKey: parsed.publicKey,
      source: file,
      sign: async (data) => new Uint8Array(sign(null, Buffer.from(data), key)),
    };
  }
  const why =
    parsed.kind === 'encrypted'
      ? `${file} is encrypted (opsflow never asks for passphrases): add it to ssh-agent with "ssh-add ${file}"`
      : `${file} is a public key: its private half must be in ssh-agent ("ssh-add" it)`;
  if (!agent) throw new SignerError(`${why} and run opsflow where SSH_AUTH_SOCK is set`);
  const signer = await agentSigner(agent, parsed.publicKey);
  if (!signer) throw new SignerError(`${why}; ssh-agent at ${agent.socketPath} does not hold it`);
  return signer;
}

/** The signer of a key ssh-agent holds; undefined when it holds no such key. */
export async function agentSigner(agent: SshAgent, publicKey: string): Promise<Signer | undefined> {
  const wanted = publicKey.split(/\s+/).slice(0, 2).join(' ');
  let keys;
  try {
    keys = await agent.ed25519Keys();
  } catch (err) {
    if (err instanceof AgentError) throw new SignerError(err.message);
    throw err;
  }
  if (!keys.some((k) => k.publicKey === wanted)) return undefined;
  return {
    publicKey: wanted,
    source: `ssh-agent (${agent.socketPath})`,
    sign: async (data) => {
      try {
        return await agent.sign(wanted, data);
      } catch (err) {
        if (err instanceof AgentError) throw new SignerError(err.message);
        throw err;
      }
    },
  };
}

/** What a decision binds to, as the deploy's status tells it. */
export interface DecisionTarget {
  namespace: string;
  workflowId: string;
  runId: string;
  environment: string;
  planHash: string;
}

/**
 * Signs a decision: a statement valid for `ttlMs` (at most an hour) with a fresh nonce. A chat bridge signs for the
 * person its policy maps the platform user to, with its own key, and says so in `via`.
 */
export async function signDecision(
  signer: Signer,
  target: DecisionTarget,
  decision: { action: SignedAction; person: string; comment?: string; via?: ChatVia },
  options: { nowMs?: number; ttlMs?: number } = {},
): Promise<SignedStatement> {
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
    ...(decision.via ? { via: decision.via } : {}),
  };
  return signStatement(signer, statement);
}

/** The ed25519 signature of a statement, base64. */
export async function signStatement(signer: Signer, statement: Statement): Promise<SignedStatement> {
  const signature = await signer.sign(signedBytes(statement));
  return { statement, signature: Buffer.from(signature).toString('base64') };
}

/** What a start binds to: the deploy and the hash of its request. */
export type StartTarget = Pick<
  StartStatement,
  'namespace' | 'workflowId' | 'service' | 'version' | 'environments' | 'requestHash'
>;

/** Signs a start request as `person`: valid for `ttlMs` (ten minutes by default, at most an hour), with a nonce. */
export async function signStart(
  signer: Signer,
  target: StartTarget,
  person: string,
  options: { nowMs?: number; ttlMs?: number } = {},
): Promise<SignedStart> {
  const nowMs = options.nowMs ?? Date.now();
  const statement: StartStatement = {
    v: 1,
    action: 'start',
    ...target,
    person,
    issuedAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + (options.ttlMs ?? 600_000)).toISOString(),
    nonce: randomBytes(16).toString('hex'),
  };
  return signStartStatement(signer, statement);
}

/** The ed25519 signature of a start statement, base64. */
export async function signStartStatement(signer: Signer, statement: StartStatement): Promise<SignedStart> {
  const signature = await signer.sign(startSignedBytes(statement));
  return { statement, signature: Buffer.from(signature).toString('base64') };
}
