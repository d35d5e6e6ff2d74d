import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { DEFAULT_SIGNED_ACTIONS } from '../shared/deploy/policy';
import { requestHashOf, type DeployInput } from '../shared/deploy';
import { SshAgent } from '../keys/agent';
import {
  agentSigner,
  defaultKeysDir,
  keyFiles,
  loadSigner,
  signDecision,
  signStart,
  SignerError,
  type Signer,
} from '../keys/keys';
import type { SignedAction, SignedStart, SignedStatement } from '../shared/signing';
import { readStatus } from './client';
import { CliError } from './output';

/** Where the CLI looks for `<person>.key`: OPSFLOW_KEYS_DIR (or ~/.config/opsflow/keys), then the project's .opsflow/keys. */
export function keySearchPath(): string[] {
  return [...new Set([defaultKeysDir(), path.resolve('.opsflow', 'keys')])];
}

/** The key a person signs with could not be found; the message says where opsflow looked and what to do. */
export class NoKeyError extends CliError {
  override name = 'NoKeyError';
}

/**
 * The signer of a person, in this order: `--key <file>` (an OpenSSH or PKCS#8 private key, or a public key or encrypted
 * key whose private half ssh-agent holds); `<person>.key` in the keys folders; ssh-agent ($SSH_AUTH_SOCK), with the key
 * named by `<person>.pub` in the keys folders, by `publicKey` (the person's key in the local opsflow.yaml's policy), or
 * by an agent key whose comment is the person's name. A one-line error when none is found or one cannot sign.
 */
export async function findSigner(person: string, options: { key?: string; publicKey?: string } = {}): Promise<Signer> {
  const agent = SshAgent.fromEnv();
  try {
    if (options.key) return await loadSigner(options.key, agent);
    const dirs = keySearchPath();
    for (const dir of dirs) {
      const file = keyFiles(dir, person).privateKey;
      if (existsSync(file)) return await loadSigner(file, agent);
    }
    if (agent) {
      const wanted = [...dirs.map((dir) => readPublicKey(keyFiles(dir, person).publicKey)), options.publicKey];
      for (const line of wanted) {
        const signer = line ? await agentSigner(agent, line) : undefined;
        if (signer) return signer;
      }
      const named = (await agent.ed25519Keys()).find((k) => k.comment === person);
      const signer = named ? await agentSigner(agent, named.publicKey) : undefined;
      if (signer) return signer;
    }
    const where = `${dirs.join(' or ')}${agent ? ', nor in ssh-agent' : ''}`;
    throw new NoKeyError(
      `no key for ${person} in ${where}: run "opsflow keys init --name ${person}" and add the public key to the ` +
        "worker's policy, or pass --key <file> (an OpenSSH key such as ~/.ssh/id_ed25519, or its .pub with ssh-agent)",
    );
  } catch (err) {
    if (err instanceof SignerError) throw new CliError(err.message);
    throw err;
  }
}

function readPublicKey(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
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
  let signer: Signer;
  try {
    signer = await findSigner(person, options.key ? { key: options.key } : {});
  } catch (err) {
    // Pause and abort need no signature by default: sent unsigned; the rest would be refused, so say how now.
    if (err instanceof NoKeyError && !DEFAULT_SIGNED_ACTIONS.includes(action)) return undefined;
    throw err;
  }
  return signDecision(
    signer,
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

/**
 * The requester's signed start of a deploy: bound to the namespace, the deploy id, service, version, environments and
 * the hash of the whole request, valid ten minutes. Undefined when no key is found and `required` lists no
 * environment; a one-line error when it does.
 */
export async function signStartFor(
  input: DeployInput,
  namespace: string,
  options: { key?: string; publicKey?: string; required: string[] },
): Promise<{ signed: SignedStart; signer: Signer } | undefined> {
  let signer: Signer;
  try {
    signer = await findSigner(input.requestedBy, {
      ...(options.key ? { key: options.key } : {}),
      ...(options.publicKey ? { publicKey: options.publicKey } : {}),
    });
  } catch (err) {
    if (!(err instanceof NoKeyError)) throw err;
    if (options.required.length === 0) return undefined;
    const needs = options.required.length > 1 ? 'need' : 'needs';
    throw new CliError(`${options.required.join(', ')} ${needs} a signed start, and there is ${err.message}`);
  }
  const signed = await signStart(
    signer,
    {
      namespace,
      workflowId: input.deployId,
      service: input.service,
      version: input.version,
      environments: input.environments.map((env) => env.name),
      requestHash: requestHashOf(input),
    },
    input.requestedBy,
  );
  return { signed, signer };
}
