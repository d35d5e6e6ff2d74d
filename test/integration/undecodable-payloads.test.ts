/**
 * No payload can wedge a deploy, on the real stack with the payload codec on (issue 17): while a deploy waits for its
 * approval, and again mid-canary, it receives every kind of payload nobody can decode, as Signals and as Updates, the
 * way anyone with access to the namespace can send them (the Temporal CLI, or a client without the codec): an unknown
 * encoding, malformed JSON, no encoding, a codec key id the worker does not have, altered ciphertext. The Updates are
 * refused at once, the Signals noted and ignored; `deploy status` answers throughout, and the deploy is promoted.
 * Run: npm run build && node --import tsx --test test/integration/undecodable-payloads.test.ts
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { defaultPayloadConverter, RawValue, type Payload } from '@temporalio/common';
import type { DeployStatus } from '../../src/shared/deploy';
import { statusQuery } from '../../src/shared/deploy/messages';
import { dataConverterFromEnv, EncryptionCodec } from '../../src/temporal/codec';
import { generateCodecKey, readKeyFile, writeCodecKey } from '../../src/temporal/codec-keys';
import { resolveTemporalCli } from '../../src/tooling/temporal-bin';
import { Stack, STACK_REQUESTER, waitFor } from '../helpers/stack';

let stack: Stack;
let keysDir: string;
let connection: Connection;
/** Reads statuses as the CLI does, with the codec. */
let client: Client;
/** Sends payloads as they are, past any codec, as someone without the key (or with bad intent) does. */
let bare: Client;

before(async () => {
  keysDir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-undecodable-'));
  const keysFile = path.join(keysDir, 'codec-keys');
  writeCodecKey(keysFile, { id: 'e2e-1' });
  // Production only: staging adds nothing to what is tested here, only time.
  stack = await Stack.start({ pipeline: ['production'], env: { OPSFLOW_CODEC_KEYS_FILE: keysFile } });
  connection = await Connection.connect({ address: stack.server.address });
  client = new Client({ connection, dataConverter: dataConverterFromEnv({ OPSFLOW_CODEC_KEYS_FILE: keysFile }) });
  bare = new Client({ connection });
});

after(async () => {
  await connection?.close();
  await stack?.stop();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
});

const raw = (encoding: string | undefined, data: string): Payload => ({
  metadata: encoding === undefined ? {} : { encoding: Buffer.from(encoding) },
  data: Buffer.from(data),
});

/** Every kind of payload nobody can decode, with the note it leaves in the timeline. */
async function badPayloads(): Promise<{ kind: string; payload: Payload; note: string }[]> {
  const args = defaultPayloadConverter.toPayload({ by: 'alice', comment: 'forged' });
  const stranger = generateCodecKey('stranger-key');
  const [foreign] = await new EncryptionCodec({
    current: stranger,
    keys: new Map([[stranger.id, stranger.key]]),
    source: 'elsewhere',
  }).encode([args]);
  const [ours] = await new EncryptionCodec(readKeyFile(path.join(keysDir, 'codec-keys'))).encode([args]);
  return [
    { kind: 'bad JSON', payload: raw('json/plain', '{"by": "alice"'), note: 'malformed json/plain' },
    { kind: 'no encoding', payload: raw(undefined, '"x"'), note: 'no encoding' },
    {
      kind: 'unknown key',
      payload: foreign!,
      note: 'encrypted with a key the worker does not have',
    },
    {
      kind: 'altered',
      payload: { ...ours!, data: Buffer.from(ours!.data!).fill(0, 16, 32) },
      note: 'encrypted, but altered or with another key under the same id',
    },
  ];
}

/** The reproduction, verbatim: the Temporal CLI with a made-up encoding. */
async function temporalCliSignal(workflowId: string, name: string): Promise<void> {
  await promisify(execFile)(resolveTemporalCli(), [
    'workflow',
    'signal',
    '--workflow-id',
    workflowId,
    '--name',
    name,
    '--input',
    '"x"',
    '--input-meta',
    'encoding=binary/bogus',
    '--address',
    stack.server.address,
  ]);
}

/** Sends each bad payload as each Signal, and as the Update; each Update must be refused within seconds. */
async function sendAll(workflowId: string, signals: string[], update: string): Promise<void> {
  const handle = bare.workflow.getHandle(workflowId);
  const bad = await badPayloads();
  await Promise.all([
    ...signals.map((name) => temporalCliSignal(workflowId, name)),
    ...signals.flatMap((name) => bad.map(({ payload }) => handle.signal(name, RawValue.fromPayload(payload)))),
  ]);
  for (const { kind, payload } of bad) {
    const started = Date.now();
    await assert.rejects(
      handle.executeUpdate(update, { args: [RawValue.fromPayload(payload)] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError,
      kind,
    );
    assert.ok(Date.now() - started < 10_000, `${kind}: the ${update} Update took ${Date.now() - started} ms`);
  }
}

const status = (workflowId: string): Promise<DeployStatus> => client.workflow.getHandle(workflowId).query(statusQuery);

/** The timeline's notes of ignored Signals in a phase, as "<signal>: <why>". */
async function ignoredIn(workflowId: string, phase: string): Promise<string[]> {
  const { stdout, code, stderr } = await stack.cli('deploy', 'status', workflowId, '--json');
  assert.equal(code, 0, stderr);
  return (JSON.parse(stdout) as DeployStatus).timeline
    .filter((e) => e.phase === phase)
    .map((e) => /^ignored (\w+) signal: its payload cannot be decoded \((.*)\)$/.exec(e.message))
    .filter((m) => m !== null)
    .map((m) => `${m[1]}: ${m[2]}`)
    .sort();
}

describe('payloads nobody can decode, on the real stack with the codec on', () => {
  it('are ignored or refused mid-approval and mid-canary, and the deploy is promoted', async () => {
    const started = await stack.cli(
      'deploy',
      'start',
      '--service',
      'hello',
      '--version',
      '1.1.0',
      '--requested-by',
      STACK_REQUESTER,
      '--json',
    );
    assert.equal(started.code, 0, started.stderr);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
    await waitFor(async () => (await status(workflowId)).phase === 'AWAITING_APPROVAL', 60_000);

    await sendAll(workflowId, ['approve', 'reject'], 'approve');
    const kinds = [...(await badPayloads()).map((b) => b.note), 'unknown encoding binary/bogus'];
    const expected = (signals: string[]) => signals.flatMap((s) => kinds.map((k) => `${s}: ${k}`)).sort();
    assert.deepEqual(await ignoredIn(workflowId, 'AWAITING_APPROVAL'), expected(['approve', 'reject']));
    const waiting = await status(workflowId);
    assert.equal(waiting.phase, 'AWAITING_APPROVAL');
    assert.deepEqual(waiting.approvals, []);

    const approved = await stack.cli('deploy', 'approve', workflowId, '--by', 'alice', '--comment', 'genuine');
    assert.equal(approved.code, 0, approved.stderr);
    // Mid-canary: polled in-process, as the ramp takes seconds.
    await waitFor(async () => (await status(workflowId)).phase === 'CANARY', 30_000);
    await sendAll(workflowId, ['abort', 'pause'], 'abort');

    const watched = await stack.cli('deploy', 'watch', workflowId);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.match(watched.stdout, /PROMOTED/);
    assert.deepEqual(await ignoredIn(workflowId, 'CANARY'), expected(['abort', 'pause']));
    const final = await status(workflowId);
    assert.deepEqual(
      final.approvals.map((a) => [a.by, a.comment]),
      [['alice', 'genuine']],
    );
    assert.deepEqual(final.controls, []);
    const production = (await stack.platformClient.state()).environments.find((e) => e.environment === 'production');
    assert.equal(production?.stable.version, '1.1.0');
    // The worker never failed a workflow task over them (core logs it at WARN, forwarded to the worker's log).
    const log = readFileSync(path.join(stack.workdir, '.opsflow/logs/worker.log'), 'utf8');
    assert.match(log, /ignored approve signal/);
    assert.doesNotMatch(log, /Failing workflow task/);
  });
});
