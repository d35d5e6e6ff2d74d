import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { findSigner } from '../../src/cli/sign';
import { CliError } from '../../src/cli/output';
import { configSchema } from '../../src/config/schema';
import { resolvePolicy } from '../../src/config/policy';
import { SshAgent } from '../../src/keys/agent';
import { createKeyPair, loadSigner, signDecision, signStart, type Signer } from '../../src/keys/keys';
import { requestHashOf, type DeployPolicy, type EnvironmentPolicy } from '../../src/shared/deploy';
import { approveUpdate, statusQuery } from '../../src/shared/deploy/messages';
import { fingerprintOf, verifySignature } from '../../src/shared/signing';
import { describeIssue } from '../../src/shared/validation';
import { testConfig } from '../helpers/config';
import { DeployTestEnv } from '../helpers/workflow-env';
import { environmentRules } from '../helpers/policy';

Runtime.install({ logger: new DefaultLogger('WARN') });

const run = promisify(execFile);
const t = new DeployTestEnv();
const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-ssh-'));
const socket = path.join(dir, 'agent.sock');
let agentProcess: ChildProcess | undefined;
/** SSH_AUTH_SOCK of this process before the tests, put back after. */
const savedAgent = process.env['SSH_AUTH_SOCK'];

/** Runs ssh-keygen or ssh-add; the agent is the test's own. */
async function ssh(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(command, args, { env: { ...process.env, SSH_AUTH_SOCK: socket, ...env } });
  return stdout;
}

before(async () => {
  await t.setup();
  // A real ssh-agent in the foreground (-D) on a socket of the test's own, so it ends with the test.
  agentProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(socket), 'ssh-agent listens');
  // What people have: a key made by ssh-keygen, unencrypted, and one behind a passphrase.
  await ssh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', path.join(dir, 'id_ed25519')]);
  await ssh('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    'secret',
    '-C',
    'bob@laptop',
    '-f',
    path.join(dir, 'bob_ed25519'),
  ]);
});

after(async () => {
  agentProcess?.kill('SIGTERM');
  await t.teardown();
  if (savedAgent === undefined) delete process.env['SSH_AUTH_SOCK'];
  else process.env['SSH_AUTH_SOCK'] = savedAgent;
  rmSync(dir, { recursive: true, force: true });
});

const pub = (file: string) => readFileSync(`${file}.pub`, 'utf8').trim();

describe('OpenSSH keys', () => {
  it('keys init writes an OpenSSH key pair ssh-keygen reads: 0600 private key in a 0700 folder, an ssh-ed25519 line', async () => {
    const keys = path.join(dir, 'made');
    const made = createKeyPair(keys, 'carol');
    assert.match(readFileSync(made.privateKey, 'utf8'), /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    assert.equal(statSync(made.privateKey).mode & 0o777, 0o600);
    assert.equal(statSync(keys).mode & 0o777, 0o700);
    assert.match(made.line, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} carol$/);
    assert.equal(readFileSync(made.publicKey, 'utf8'), `${made.line}\n`);
    // ssh-keygen derives the same public key from the private file, and prints the fingerprint opsflow records.
    assert.equal((await ssh('ssh-keygen', ['-y', '-f', made.privateKey])).trim(), made.line);
    const listed = await ssh('ssh-keygen', ['-l', '-f', made.publicKey]);
    assert.equal(listed.split(' ')[1], fingerprintOf(made.line));
    assert.throws(() => createKeyPair(keys, 'carol'), /exists: opsflow never overwrites a key/);
  });

  it('signs with a key file ssh-keygen made, and with a PKCS#8 PEM key as keys init made before', async () => {
    const file = path.join(dir, 'id_ed25519');
    const signer = await loadSigner(file, undefined);
    assert.equal(signer.publicKey, pub(file).split(' ').slice(0, 2).join(' '));
    assert.ok(verifySignature(await decision(signer), pub(file)), 'verifies against the .pub line a policy lists');

    const pem = path.join(dir, 'old.key');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(pem, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const old = await loadSigner(pem, undefined);
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
    assert.equal(
      Buffer.from(old.publicKey.split(' ')[1] ?? '', 'base64')
        .subarray(-32)
        .toString('hex'),
      raw.toString('hex'),
    );
    assert.ok(verifySignature(await decision(old), old.publicKey));
  });

  it('an encrypted key is refused in one line saying to use ssh-agent; through the agent it signs', async () => {
    const file = path.join(dir, 'bob_ed25519');
    await assert.rejects(loadSigner(file, undefined), (err: Error) => {
      assert.equal(
        err.message,
        `${file} is encrypted (opsflow never asks for passphrases): add it to ssh-agent with "ssh-add ${file}" ` +
          'and run opsflow where SSH_AUTH_SOCK is set',
      );
      return true;
    });
    const agent = new SshAgent(socket);
    await assert.rejects(loadSigner(file, agent), /ssh-agent at .* does not hold it/);
    // ssh-add asks for the passphrase through SSH_ASKPASS, as a desktop would.
    const askpass = path.join(dir, 'askpass.sh');
    writeFileSync(askpass, '#!/bin/sh\necho secret\n');
    chmodSync(askpass, 0o700);
    await ssh('ssh-add', [file], { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });
    const signer = await loadSigner(file, agent);
    assert.match(signer.source, /^ssh-agent/);
    assert.ok(verifySignature(await decision(signer), pub(file)));
  });

  it('the policy lists keys as the ssh-ed25519 lines people paste from ~/.ssh/id_ed25519.pub', () => {
    const config = {
      ...testConfig(),
      policy: {
        trustTypedNames: false,
        people: { alice: { key: pub(path.join(dir, 'id_ed25519')), groups: [] } },
        environments: {},
      },
    };
    const policy = resolvePolicy(configSchema.parse(config), path.join(dir, 'opsflow.yaml'));
    assert.equal(policy.people['alice']?.publicKey, pub(path.join(dir, 'id_ed25519')));
    const rsa = configSchema.safeParse({
      ...config,
      policy: { people: { alice: { key: 'ssh-rsa AAAAB3NzaC1yc2E a' } } },
    });
    assert.equal(rsa.success, false);
    assert.equal(rsa.error && describeIssue(rsa.error), 'policy.people.alice: key must be "ssh-ed25519 AAAA..."');
  });
});

describe('ssh-agent', () => {
  it("the CLI finds the agent key by --key <.pub>, the person's .pub, the policy's key or its comment; else one line", async () => {
    const file = path.join(dir, 'id_ed25519');
    await ssh('ssh-add', [file]);
    const keys = path.join(dir, 'agent-keys');
    // erin: a name no keys folder of this checkout has a key file for.
    mkdirSync(keys, { recursive: true });
    writeFileSync(path.join(keys, 'erin.pub'), pub(file));
    writeFileSync(path.join(dir, 'alice.pub'), pub(file));
    const saved = process.env['OPSFLOW_KEYS_DIR'];
    process.env['OPSFLOW_KEYS_DIR'] = keys;
    process.env['SSH_AUTH_SOCK'] = socket;
    try {
      const byPolicy = await findSigner('frank', { publicKey: pub(file) });
      assert.match(byPolicy.source, /^ssh-agent/);
      assert.equal(byPolicy.publicKey, pub(file).split(' ').slice(0, 2).join(' '));
      const byPub = await findSigner('frank', { key: path.join(dir, 'alice.pub') });
      assert.match(byPub.source, /^ssh-agent/);
      const byKeysFolder = await findSigner('erin');
      assert.equal(byKeysFolder.publicKey, byPolicy.publicKey);
      const byComment = await findSigner('alice@laptop');
      assert.equal(byComment.publicKey, byPolicy.publicKey);
      await assert.rejects(findSigner('dave'), (err: unknown) => {
        assert.ok(err instanceof CliError);
        assert.match(err.message, /^no key for dave in .*, nor in ssh-agent: run "opsflow keys init --name dave"/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env['OPSFLOW_KEYS_DIR'];
      else process.env['OPSFLOW_KEYS_DIR'] = saved;
    }
  });

  it('an approval and a start signed through ssh-agent verify in the workflow', async () => {
    const alice = pub(path.join(dir, 'id_ed25519'));
    const carol = createKeyPair(path.join(dir, 'workflow-keys'), 'carol');
    const agent = new SshAgent(socket);
    const aliceSigner = await loadSigner(path.join(dir, 'alice.pub'), agent);
    assert.match(aliceSigner.source, /^ssh-agent/);
    const rules: EnvironmentPolicy = environmentRules({ signedStart: true });
    const policy: DeployPolicy = {
      trustTypedNames: false,
      people: { alice: { publicKey: alice, groups: [] }, carol: { publicKey: carol.line, groups: [] } },
      environments: { production: rules, staging: { ...rules, protected: false, approvers: [], signedStart: false } },
      source: 'test policy with an ssh-keygen key',
    };
    const result = await t.runDeploy(
      {
        policy,
        request: async (input) => {
          const signed = await signStart(
            await loadSigner(carol.privateKey, agent),
            {
              namespace: 'default',
              workflowId: input.deployId,
              service: input.service,
              version: input.version,
              environments: input.environments.map((e) => e.name),
              requestHash: requestHashOf(input),
            },
            'carol',
            { nowMs: await t.env.currentTimeMs() },
          );
          return { ...input, signedStart: signed };
        },
      },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        const signing = (await handle.query(statusQuery)).signing;
        assert.ok(signing);
        const signed = await signDecision(
          aliceSigner,
          {
            namespace: signing.namespace,
            workflowId: handle.workflowId,
            runId: signing.runId,
            environment: 'production',
            planHash: signing.planHashes['production'] ?? '',
          },
          { action: 'approve', person: 'alice' },
          { nowMs: await t.env.currentTimeMs() },
        );
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed }] });
      },
    );
    assert.equal(result.result?.outcome, 'promoted');
    assert.deepEqual(
      result.status.approvals.map((a) => [a.environment, a.by, Boolean(a.signedNonce)]),
      [['production', 'alice', true]],
    );
    assert.equal(result.status.requester?.person, 'carol');
  });
});

/** A decision statement signed by `signer`, for a made-up deploy: what the signature covers is all that matters here. */
async function decision(signer: Signer) {
  return signDecision(
    signer,
    {
      namespace: 'default',
      workflowId: 'deploy-hello-1.1.0-production',
      runId: 'run',
      environment: 'production',
      planHash: 'a'.repeat(64),
    },
    { action: 'approve', person: 'alice' },
  );
}
