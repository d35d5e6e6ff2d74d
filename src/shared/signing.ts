import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { base64, hex, utf8 } from '@scure/base';
import { z } from 'zod';
import { nameSchema, versionSchema } from './validation';

/**
 * Signed decisions: a person's approval (or control action) is a statement bound to one deploy, one environment, one
 * run and one plan, for a short time, signed with the person's ed25519 key. The workflow verifies it in the Update's
 * validator and again in the handler, deterministically (pure JS, no I/O), and history keeps it, so anyone can
 * re-verify a finished deploy later. Workflow-safe: no node: imports.
 */

/** The actions a statement can authorise. */
export const SIGNED_ACTIONS = [
  'approve',
  'reject',
  'pause',
  'resume',
  'promote',
  'abort',
  'override',
  'freeze',
  'unfreeze',
] as const;
export type SignedAction = (typeof SIGNED_ACTIONS)[number];

/** The chat platforms a bridge may sign decisions from. */
export const CHAT_PLATFORMS = ['slack'] as const;
export type ChatPlatform = (typeof CHAT_PLATFORMS)[number];

/** A Slack user id (U… or, on Enterprise Grid, W…): stable, unlike display names. */
export const slackUserIdSchema = z
  .string()
  .regex(
    /^[UW][A-Z0-9]{2,30}$/,
    'must be a Slack user id such as U012ABC3DEF (in Slack: the profile, "Copy member ID")',
  );

/**
 * A decision that came through a chat bridge: which bridge of the worker's policy signed it, and which platform user
 * pressed the button. The statement then names the person the policy maps that user to, and is signed by the bridge's
 * own key, never the person's.
 */
export const chatViaSchema = z
  .object({ bridge: nameSchema, platform: z.enum(CHAT_PLATFORMS), user: slackUserIdSchema })
  .strict();
export type ChatVia = z.infer<typeof chatViaSchema>;

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
    /**
     * Set when a chat bridge signed for `person` (with the bridge's key). Absent, it changes no signed byte: statements
     * signed before it existed verify as they did.
     */
    via: chatViaSchema.optional(),
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
/** Domain separation of start requests: a signed decision never verifies as a start, nor a start as a decision. */
const START_DOMAIN = 'opsflow-start-v1\n';

/**
 * What a requester signs to start a deploy: the deploy (namespace, workflow id, service, version, environments), a
 * hash of the whole request, the requester, a short lifetime and a nonce. The run id does not exist yet; the workflow
 * id and the request hash bind it instead. With it, "self" in self-approval is the requester's key, not a typed name.
 */
export const startStatementSchema = z
  .object({
    v: z.literal(1),
    action: z.literal('start'),
    namespace: z.string().min(1).max(200),
    workflowId: z.string().min(1).max(200),
    service: nameSchema,
    version: versionSchema,
    environments: z.array(nameSchema).min(1).max(50),
    /** sha256 of the deploy request (the workflow's input without this signature), hex. */
    requestHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex'),
    person: nameSchema,
    issuedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    nonce: z.string().regex(/^[0-9a-f]{16,64}$/, 'must be 16 to 64 hex digits'),
  })
  .strict();
export type StartStatement = z.infer<typeof startStatementSchema>;

/** A start statement with the requester's ed25519 signature over {@link startSignedBytes}. */
export const signedStartSchema = z
  .object({ statement: startStatementSchema, signature: z.string().min(1).max(200) })
  .strict();
export type SignedStart = z.infer<typeof signedStartSchema>;

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

/** The bytes a requester signs to start a deploy. */
export function startSignedBytes(statement: StartStatement): Uint8Array {
  return utf8.decode(START_DOMAIN + canonicalJson(statement));
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

/** The fingerprint OpenSSH prints for a public key line (`ssh-keygen -lf`): "SHA256:" and unpadded base64. */
export function fingerprintOf(line: string): string {
  const key = parseOpenSshPublicKey(line);
  const blob = base64.decode(formatOpenSshPublicKey(key).split(' ')[1] ?? '');
  return `SHA256:${base64.encode(sha256(blob)).replace(/=+$/, '')}`;
}

/** Whether two public key lines hold the same key, whatever their comments say. */
export function sameKey(a: string, b: string): boolean {
  try {
    return hex.encode(parseOpenSshPublicKey(a)) === hex.encode(parseOpenSshPublicKey(b));
  } catch {
    return false;
  }
}

/** True when `signature` (base64) is the ed25519 signature of `bytes` by the key of an OpenSSH public key line. */
function verifyBytes(signatureBase64: string, bytes: Uint8Array, publicKey: string): boolean {
  let signature: Uint8Array;
  try {
    signature = base64.decode(signatureBase64);
  } catch {
    return false;
  }
  if (signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, bytes, parseOpenSshPublicKey(publicKey));
  } catch {
    return false;
  }
}

/** True when `signature` is the signer's ed25519 signature over the statement. */
export function verifySignature(signed: SignedStatement, publicKey: string): boolean {
  return verifyBytes(signed.signature, signedBytes(signed.statement), publicKey);
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

/** Where a verifier finds the key a statement must be signed with: the person's, or a chat bridge's. */
export type KeyOf = (name: string) => string | undefined;

/**
 * Checks a signed statement against what this decision needs; returns the reason it does not count, or undefined when
 * it does. The signer's key comes from the worker's policy, never from the request: the person's, or, for a statement
 * that came through a chat bridge, the bridge's (`bridgeKeyOf`; without it, no such statement counts). Whether the
 * bridge may speak for that person there is the policy's to say (refuseChat in src/shared/deploy/chat.ts).
 */
export function refuseStatement(
  signed: SignedStatement,
  expected: Expected,
  publicKeyOf: KeyOf,
  bridgeKeyOf?: KeyOf,
): string | undefined {
  const s = signed.statement;
  return (
    refuseBinding(s, expected) ??
    refuseTimeOrSignature(s, expected.nowMs, () =>
      refuseSigner(s, publicKeyOf, bridgeKeyOf, (key) => verifyBytes(signed.signature, signedBytes(s), key)),
    )
  );
}

/** Why a decision's signature does not hold: the person's key, or the chat bridge's when it came through one. */
function refuseSigner(
  s: Statement,
  publicKeyOf: KeyOf,
  bridgeKeyOf: KeyOf | undefined,
  verify: (publicKey: string) => boolean,
): string | undefined {
  if (!s.via) return refuseSignature(s.person, publicKeyOf, verify);
  const key = bridgeKeyOf?.(s.via.bridge);
  if (!key) return `the chat bridge ${s.via.bridge} is not in the worker's policy`;
  if (!verify(key))
    return `the signature is not the chat bridge ${s.via.bridge}'s (it does not verify against its key)`;
  return undefined;
}

/**
 * Why a statement is not for this deploy, run, environment, action and plan. The statement's own value is not echoed:
 * it is unverified text from whoever sent it.
 */
function refuseBinding(s: Statement, expected: Expected): string | undefined {
  const mismatch = (['namespace', 'workflowId', 'runId', 'environment', 'action', 'planHash'] as const).find(
    (field) => s[field] !== expected[field],
  );
  return mismatch ? `the signed statement is for another ${mismatch} (not ${expected[mismatch]})` : undefined;
}

/**
 * Checks a statement presented as evidence to the activity that changes an environment: bound to this deploy, run,
 * environment, action and plan, and signed by the person's key in the worker's own policy. Its expiry is not judged
 * again here: the workflow judged it when the decision was made, hours before a long canary's last step, and the
 * statement is bound to this run alone. One that claims to be issued after now (more than a minute's clock skew) is
 * refused.
 */
export function refuseEvidence(
  signed: SignedStatement,
  expected: Expected,
  publicKeyOf: KeyOf,
  bridgeKeyOf?: KeyOf,
): string | undefined {
  const s = signed.statement;
  const binding = refuseBinding(s, expected);
  if (binding) return binding;
  if (Date.parse(s.issuedAt) > expected.nowMs + 60_000)
    return `the signed statement was issued in the future (${s.issuedAt})`;
  return refuseSigner(s, publicKeyOf, bridgeKeyOf, (key) => verifyBytes(signed.signature, signedBytes(s), key));
}

/** What a start statement must say to start this deploy here and now. */
export interface ExpectedStart {
  namespace: string;
  workflowId: string;
  service: string;
  version: string;
  environments: string[];
  requestHash: string;
  /** Workflow time, epoch ms. */
  nowMs: number;
}

/** Why a start statement is not for this deploy of this service and version (its own values are not echoed). */
function refuseStartBinding(
  s: StartStatement,
  expected: Pick<ExpectedStart, 'namespace' | 'workflowId' | 'service' | 'version'>,
): string | undefined {
  const mismatch = (['namespace', 'workflowId', 'service', 'version'] as const).find((f) => s[f] !== expected[f]);
  return mismatch ? `the signed start is for another ${mismatch} (not ${expected[mismatch]})` : undefined;
}

/**
 * Checks a signed start against the deploy it would start; returns the reason it does not count, or undefined when it
 * does. The requester's key comes from the worker's policy.
 */
export function refuseStart(
  signed: SignedStart,
  expected: ExpectedStart,
  publicKeyOf: (person: string) => string | undefined,
): string | undefined {
  const s = signed.statement;
  const mismatch = refuseStartBinding(s, expected);
  if (mismatch) return mismatch;
  if (s.environments.join(',') !== expected.environments.join(',')) {
    return `the signed start is for other environments (not ${expected.environments.join(', ')})`;
  }
  if (s.requestHash !== expected.requestHash) {
    return 'the signed start is for another request (its hash differs: the request was changed after it was signed)';
  }
  return refuseTimeOrSignature(s, expected.nowMs, () =>
    refuseSignature(s.person, publicKeyOf, (key) => verifyBytes(signed.signature, startSignedBytes(s), key)),
  );
}

/** The checks every signed statement shares: a short lifetime, issued and not expired now, then its signature. */
function refuseTimeOrSignature(
  s: { issuedAt: string; expiresAt: string },
  nowMs: number,
  refuseSigned: () => string | undefined,
): string | undefined {
  const issued = Date.parse(s.issuedAt);
  const expires = Date.parse(s.expiresAt);
  if (expires <= issued || expires - issued > MAX_STATEMENT_LIFETIME_MS) {
    return `the signed statement must expire within ${MAX_STATEMENT_LIFETIME_MS / 60_000} minutes of being issued`;
  }
  // Clocks differ a little: a statement issued up to a minute "in the future" still counts.
  if (issued > nowMs + 60_000) return `the signed statement was issued in the future (${s.issuedAt})`;
  if (expires < nowMs) return `the signed statement expired at ${s.expiresAt}: sign again`;
  return refuseSigned();
}

/** Why a person's signature does not hold: no key in the worker's policy, or not made with it. */
function refuseSignature(
  person: string,
  publicKeyOf: (person: string) => string | undefined,
  verify: (publicKey: string) => boolean,
): string | undefined {
  const key = publicKeyOf(person);
  if (!key) return `${person} has no public key in the worker's policy`;
  if (!verify(key)) return `the signature is not ${person}'s (it does not verify against their key)`;
  return undefined;
}

/** What a start statement presented to the activity that changes one environment must be for. */
export interface ExpectedStartEvidence {
  namespace: string;
  workflowId: string;
  service: string;
  version: string;
  environment: string;
  nowMs: number;
}

/**
 * Checks a signed start presented as evidence to the activity that changes an environment: for this deploy, service
 * and version, through this environment, signed by the requester's key in the worker's own policy. Its expiry and its
 * one use are judged by the deploy when it starts (and by the activity's start ledger); not again here.
 */
export function refuseStartEvidence(
  signed: SignedStart,
  expected: ExpectedStartEvidence,
  publicKeyOf: (person: string) => string | undefined,
): string | undefined {
  const s = signed.statement;
  const mismatch = refuseStartBinding(s, expected);
  if (mismatch) return mismatch;
  if (!s.environments.includes(expected.environment)) return `the signed start is not for ${expected.environment}`;
  if (Date.parse(s.issuedAt) > expected.nowMs + 60_000) return `the signed start was issued in the future`;
  return refuseSignature(s.person, publicKeyOf, (key) => verifyBytes(signed.signature, startSignedBytes(s), key));
}
