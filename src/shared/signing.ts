import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { base64, hex, utf8 } from '@scure/base';
import { z } from 'zod';
import { nameSchema } from './validation';

/**
 * Signed decisions: a person's approval (or control action) is a statement bound to one deploy, one environment, one
 * run and one plan, for a short time, signed with the person's ed25519 key. The workflow verifies it in the Update's
 * validator and again in the handler, deterministically (pure JS, no I/O), and history keeps it, so anyone can
 * re-verify a finished deploy later. Workflow-safe: no node: imports.
 */

/** The actions a statement can authorise. */
export const SIGNED_ACTIONS = ['approve', 'reject', 'pause', 'resume', 'promote', 'abort'] as const;
export type SignedAction = (typeof SIGNED_ACTIONS)[number];

/** What a person signs. Every field binds the decision to one place and time, so it cannot be replayed elsewhere. */
export const statementSchema = z
  .object({
    /** Format version; a verifier refuses versions it does not know. */
    v: z.literal(1),
    namespace: z.string().min(1).max(200),
    workflowId: z.string().min(1).max(200),
    /** The first run id of the deploy: a statement for an earlier deploy of the same id is refused. */
    runId: z.string().min(1).max(100),
    environment: nameSchema,
    action: z.enum(SIGNED_ACTIONS),
    person: nameSchema,
    /** sha256 of the plan being approved (the rollout the deploy runs), hex. */
    planHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex'),
    issuedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    /** Random, unique per statement: a statement is accepted once. */
    nonce: z.string().regex(/^[0-9a-f]{16,64}$/, 'must be 16 to 64 hex digits'),
    comment: z.string().max(1000).optional(),
  })
  .strict();
export type Statement = z.infer<typeof statementSchema>;

/** A statement with its ed25519 signature over {@link signedBytes}. */
export const signedStatementSchema = z
  .object({
    statement: statementSchema,
    /** base64 of the 64-byte signature. */
    signature: z.string().min(1).max(200),
  })
  .strict();
export type SignedStatement = z.infer<typeof signedStatementSchema>;

/** Domain separation: a signature made for anything else never verifies as an opsflow decision. */
const DOMAIN = 'opsflow-decision-v1\n';

/** Canonical JSON: keys sorted at every level, no spaces; the same statement always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The bytes a person signs for a statement. */
export function signedBytes(statement: Statement): Uint8Array {
  return utf8.decode(DOMAIN + canonicalJson(statement));
}

/** sha256 of a value's canonical JSON, in hex: what a statement's planHash binds to. */
export function hashOf(value: unknown): string {
  return hex.encode(sha256(utf8.decode(canonicalJson(value))));
}

/** The 32-byte ed25519 key of an OpenSSH public key line ("ssh-ed25519 AAAAC3Nza... comment"). */
export function parseOpenSshPublicKey(line: string): Uint8Array {
  const [type, blob] = line.trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !blob) throw new Error('not an OpenSSH ed25519 public key ("ssh-ed25519 AAAA...")');
  let bytes: Uint8Array;
  try {
    bytes = base64.decode(blob);
  } catch {
    throw new Error('the ed25519 public key is not valid base64');
  }
  // The blob is string "ssh-ed25519" then string key, each with a 4-byte big-endian length.
  const read = (at: number): [Uint8Array, number] => {
    const length =
      ((bytes[at] ?? 0) << 24) | ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0);
    if (at + 4 + length > bytes.length) throw new Error('the ed25519 public key is truncated');
    return [bytes.subarray(at + 4, at + 4 + length), at + 4 + length];
  };
  const [name, next] = read(0);
  const [key, end] = read(next);
  if (utf8.encode(name) !== 'ssh-ed25519' || key.length !== 32 || end !== bytes.length) {
    throw new Error('not an OpenSSH ed25519 public key');
  }
  return key;
}

/** The OpenSSH public key line of a raw 32-byte ed25519 key. */
export function formatOpenSshPublicKey(key: Uint8Array, comment = ''): string {
  const field = (data: Uint8Array) => {
    const out = new Uint8Array(4 + data.length);
    new DataView(out.buffer).setUint32(0, data.length);
    out.set(data, 4);
    return out;
  };
  const name = field(utf8.decode('ssh-ed25519'));
  const value = field(key);
  const blob = new Uint8Array(name.length + value.length);
  blob.set(name);
  blob.set(value, name.length);
  return `ssh-ed25519 ${base64.encode(blob)}${comment ? ` ${comment}` : ''}`;
}

/** True when `signature` is the signer's ed25519 signature over the statement. */
export function verifySignature(signed: SignedStatement, publicKey: string): boolean {
  let signature: Uint8Array;
  try {
    signature = base64.decode(signed.signature);
  } catch {
    return false;
  }
  if (signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, signedBytes(signed.statement), parseOpenSshPublicKey(publicKey));
  } catch {
    return false;
  }
}

/** What a statement must say to count for one decision here and now. */
export interface Expected {
  namespace: string;
  workflowId: string;
  runId: string;
  environment: string;
  action: SignedAction;
  planHash: string;
  /** Workflow time, epoch ms. */
  nowMs: number;
}

/** The longest a statement may live: a signature is an answer to one question, not a standing permission. */
export const MAX_STATEMENT_LIFETIME_MS = 3_600_000;

/**
 * Checks a signed statement against what this decision needs; returns the reason it does not count, or undefined when
 * it does. The signer's key comes from the worker's policy, never from the request.
 */
export function refuseStatement(
  signed: SignedStatement,
  expected: Expected,
  publicKeyOf: (person: string) => string | undefined,
): string | undefined {
  const s = signed.statement;
  const mismatch = (['namespace', 'workflowId', 'runId', 'environment', 'action', 'planHash'] as const).find(
    (field) => s[field] !== expected[field],
  );
  if (mismatch) return `the signed statement is for another ${mismatch} (${s[mismatch]}, not ${expected[mismatch]})`;
  const issued = Date.parse(s.issuedAt);
  const expires = Date.parse(s.expiresAt);
  if (expires <= issued || expires - issued > MAX_STATEMENT_LIFETIME_MS) {
    return `the signed statement must expire within ${MAX_STATEMENT_LIFETIME_MS / 60_000} minutes of being issued`;
  }
  // Clocks differ a little: a statement issued up to a minute "in the future" still counts.
  if (issued > expected.nowMs + 60_000) return `the signed statement was issued in the future (${s.issuedAt})`;
  if (expires < expected.nowMs) return `the signed statement expired at ${s.expiresAt}: sign again`;
  const key = publicKeyOf(s.person);
  if (!key) return `${s.person} has no public key in the worker's policy`;
  if (!verifySignature(signed, key)) return `the signature is not ${s.person}'s (it does not verify against their key)`;
  return undefined;
}
