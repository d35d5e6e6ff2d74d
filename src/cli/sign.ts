import { existsSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { DEFAULT_SIGNED_ACTIONS } from '../shared/deploy/policy';
import { defaultKeysDir, keyFiles, loadPrivateKey, signDecision } from '../keys/keys';
import type { SignedStatement, SignedAction } from '../shared/signing';
import { readStatus } from './client';
import { CliError } from './output';

/** Where the CLI looks for `<person>.key`: OPSFLOW_KEYS_DIR (or ~/.config/opsflow/keys), then the project's .opsflow/keys. */
export function keySearchPath(): string[] {
  return [...new Set([defaultKeysDir(), path.resolve('.opsflow', 'keys')])];
}

/** The private key file of a person, or a one-line error saying how to make one. */
export function findKeyFile(person: string, explicit?: string): string {
  if (explicit) return explicit;
  const dirs = keySearchPath();
  for (const dir of dirs) {
    const file = keyFiles(dir, person).privateKey;
    if (existsSync(file)) return file;
  }
  throw new CliError(
    `no key for ${person} in ${dirs.join(' or ')}: run "opsflow keys init --name ${person}" and add the public key ` +
      "to the worker's policy, or pass --key <file>",
  );
}

/**
 * A signed statement for a decision on a deploy, when its worker asks for signatures: bound to the deploy, its first
 * run, the environment it is in and the plan being decided on, valid ten minutes. Undefined for a deploy whose worker
 * trusts typed names (or predates signatures), and for pause or abort without a key.
 */
export async function signFor(
  handle: WorkflowHandle,
  action: SignedAction,
  person: string,
  options: { key?: string; comment?: string } = {},
): Promise<SignedStatement | undefined> {
  const status = await readStatus(handle);
  if (status.trust?.mode !== 'signed' || !status.signing || !status.environment) return undefined;
  const planHash = status.signing.planHashes[status.environment];
  if (!planHash) return undefined;
  let file: string;
  try {
    file = findKeyFile(person, options.key);
  } catch (err) {
    // Pause and abort need no signature by default: sent unsigned; the rest would be refused, so say how now.
    if (!options.key && !DEFAULT_SIGNED_ACTIONS.includes(action)) return undefined;
    throw err;
  }
  let key;
  try {
    key = loadPrivateKey(file);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  return signDecision(
    key,
    {
      namespace: status.signing.namespace,
      workflowId: handle.workflowId,
      runId: status.signing.runId,
      environment: status.environment,
      planHash,
    },
    { action, person, ...(options.comment ? { comment: options.comment } : {}) },
  );
}
