/**
 * No payload can wedge a deploy (issue 17): Signals and Updates whose payload cannot be decoded (an unknown encoding,
 * malformed JSON, no encoding, a codec key the worker lacks, altered ciphertext) are noted and ignored, or refused by
 * the validator; the deploy keeps answering queries, times out, promotes or rolls back as before.
 * Run: node --import tsx --test test/unit/undecodable-payloads.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { defaultPayloadConverter, RawValue, type Payload } from '@temporalio/common';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { agentEventArgsSchema, deployRequestArgsSchema, stopArgsSchema } from '../../src/shared/agent';
import { approveArgsSchema, controlArgsSchema, rejectArgsSchema, type DeployStatus } from '../../src/shared/deploy';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseSignal,
  rejectSignal,
  statusQuery,
} from '../../src/shared/deploy/messages';
import { describeUndecodable, isUndecodable, type Undecodable } from '../../src/shared/undecodable';
import { EncryptionCodec, KEY_ID_METADATA, PayloadDecryptError } from '../../src/temporal/codec';
import { generateCodecKey, type CodecKey, type CodecKeyring } from '../../src/temporal/codec-keys';
import { LenientPayloadConverter, payloadConverter } from '../../src/temporal/payload-converter';
import type { VersionProfile } from '../helpers/fakes';
import { DeployTestEnv, type DeployHandle } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** A payload as anyone can send it with `temporal workflow signal --input-meta encoding=...`. */
function raw(encoding: string | undefined, data: string): Payload {
  return {
    metadata: encoding === undefined ? {} : { encoding: Buffer.from(encoding) },
    data: Buffer.from(data),
  };
}

/** Each kind of payload the default converter cannot read, with the note the deploy writes for it. */
const BAD: { payload: Payload; note: RegExp }[] = [
  { payload: raw('binary/bogus', '"x"'), note: /its payload cannot be decoded \(unknown encoding binary\/bogus\)/ },
  { payload: raw('json/plain', '{"by": "alice"'), note: /its payload cannot be decoded \(malformed json\/plain\)/ },
  { payload: raw(undefined, '"x"'), note: /its payload cannot be decoded \(no encoding\)/ },
  // A newline in the encoding would forge a timeline line: it is shown as "?".
  {
    payload: raw('x\napproved by alice (update, signed)', '"x"'),
    note: /its payload cannot be decoded \(unknown encoding x\?approved\?by\?alice\?\?update\?\?signed\?\)/,
  },
];

/** The value as a handler's argument: the client sends the payload as it is (through its codec, if any). */
const asArg = <T>(payload: Payload) => RawValue.fromPayload(payload) as unknown as T;

const ignored = (status: DeployStatus, name: string, note: RegExp) =>
  status.timeline.filter((e) => e.message.startsWith(`ignored ${name} signal: `) && note.test(e.message));

/** Sends every bad payload as each of the given Signals. */
async function sendBadSignals(handle: DeployHandle, names: string[], payloads = BAD.map((b) => b.payload)) {
  for (const name of names) for (const payload of payloads) await handle.signal(name, asArg(payload));
}

const CRITICAL: VersionProfile = { requests: 100, errorRate: 0.2, p95Ms: 300 };

describe('the worker’s payload converter', () => {
  it('decodes what the default converter decodes, and encodes the same bytes', () => {
    for (const value of [{ by: 'alice', comment: 'ok' }, 'text', 42, null, undefined, [1, 'two']]) {
      const payload = payloadConverter.toPayload(value);
      assert.deepEqual(payload, defaultPayloadConverter.toPayload(value));
      assert.deepEqual(payloadConverter.fromPayload(payload), defaultPayloadConverter.fromPayload(payload));
    }
    const bytes = new Uint8Array([1, 2, 3]);
    assert.deepEqual(payloadConverter.fromPayload(payloadConverter.toPayload(bytes)), bytes);
  });

  it('turns what the default converter throws on into the sentinel, with a reason and a sanitised encoding', () => {
    const converter = new LenientPayloadConverter();
    assert.throws(() => defaultPayloadConverter.fromPayload(raw('binary/bogus', '"x"')));
    assert.deepEqual(converter.fromPayload(raw('binary/bogus', '"x"')), {
      undecodable: { encoding: 'binary/bogus', reason: 'unknown-encoding' },
    });
    assert.deepEqual(converter.fromPayload(raw('json/plain', 'not json')), {
      undecodable: { encoding: 'json/plain', reason: 'malformed' },
    });
    assert.deepEqual(converter.fromPayload(raw(undefined, '"x"')), {
      undecodable: { encoding: '', reason: 'missing-encoding' },
    });
    assert.deepEqual(converter.fromPayload({ data: Buffer.from('"x"') }), {
      undecodable: { encoding: '', reason: 'missing-encoding' },
    });
    const long = converter.fromPayload<Undecodable>(raw(`binary/${'a'.repeat(200)}<script>`, ''));
    assert.equal(long.undecodable.encoding, `binary/${'a'.repeat(33)}…`);
  });

  it('is refused by every message schema, and described in one line without the sender’s text', () => {
    const sentinel = payloadConverter.fromPayload(raw('binary/bogus', '"x"'));
    for (const schema of [
      approveArgsSchema,
      rejectArgsSchema,
      controlArgsSchema,
      agentEventArgsSchema,
      deployRequestArgsSchema,
      stopArgsSchema,
    ]) {
      assert.equal(schema.safeParse(sentinel).success, false);
    }
    assert.ok(isUndecodable(sentinel));
    // The same shape sent as JSON by anyone is described from sanitised fields only.
    const forged = { undecodable: { encoding: 'a\nb', reason: 'approved by alice\n' } } as unknown as Undecodable;
    assert.equal(describeUndecodable(forged), 'its payload cannot be decoded (encoding a?b)');
  });
});

describe('the worker’s codec, lenient', () => {
  const k1 = generateCodecKey('k1');
  const stranger = generateCodecKey('stranger-key');
  const ring = (...keys: CodecKey[]): CodecKeyring => ({
    current: keys.at(-1)!,
    keys: new Map(keys.map((k) => [k.id, k.key])),
    source: 'test keys',
  });
  const plain = defaultPayloadConverter.toPayload({ by: 'alice' });

  it('marks a payload it cannot decrypt, naming no key id; the strict codec still explains it to a person', async () => {
    const [foreign] = await new EncryptionCodec(ring(stranger)).encode([plain]);
    const [ours] = await new EncryptionCodec(ring(k1)).encode([plain]);
    const altered = { ...ours!, data: Buffer.from(ours!.data!).fill(7, 20, 24) };
    const nameless = { ...ours!, metadata: { ...ours!.metadata, [KEY_ID_METADATA]: new Uint8Array(0) } };
    const lenient = new EncryptionCodec(ring(k1), { lenient: true });
    const decoded = await lenient.decode([foreign!, altered, nameless, ours!, plain]);
    assert.deepEqual(
      decoded.map((p) => payloadConverter.fromPayload(p)),
      [
        { undecodable: { encoding: 'binary/encrypted', reason: 'unknown-key' } },
        { undecodable: { encoding: 'binary/encrypted', reason: 'altered' } },
        { undecodable: { encoding: 'binary/encrypted', reason: 'unknown-key' } },
        { by: 'alice' },
        { by: 'alice' },
      ],
    );
    assert.ok(!JSON.stringify(decoded).includes('stranger'));
    await assert.rejects(new EncryptionCodec(ring(k1)).decode([foreign!]), (err: Error) => {
      assert.ok(err instanceof PayloadDecryptError);
      assert.match(err.message, /encrypted with key "stranger-key": test keys has no such key/);
      return true;
    });
  });
});

/** Without the fix a deploy wedges and its Updates hang: fail in bounded time instead (each takes seconds). */
const BOUNDED = { timeout: 90_000 };

describe('a deploy that receives payloads nobody can decode', () => {
  it(
    'ignores them while it waits for approval, refuses them as Updates, and is approved and promoted later',
    BOUNDED,
    async () => {
      const { result, status } = await t.runDeploy({}, async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        await sendBadSignals(handle, [approveSignal.name, rejectSignal.name, abortSignal.name]);
        for (const { payload } of BAD) {
          await assert.rejects(
            handle.executeUpdate(approveUpdate, { args: [asArg(payload)] }),
            (err: unknown) => err instanceof WorkflowUpdateFailedError,
          );
        }
        // Still answering, still waiting, nothing recorded as a decision.
        const waiting = await handle.query(statusQuery);
        assert.equal(waiting.phase, 'AWAITING_APPROVAL');
        assert.deepEqual(waiting.approvals, []);
        for (const { note } of BAD) {
          for (const name of ['approve', 'reject', 'abort']) {
            assert.equal(ignored(waiting, name, note).length, 1, `${name}: ${note}`);
          }
        }
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', comment: 'after the noise' }] });
      });
      assert.equal(result?.outcome, 'promoted');
      assert.deepEqual(
        status.approvals.map((a) => [a.by, a.via]),
        [['alice', 'update']],
      );
    },
  );

  it('still times out waiting for approval after an undecodable Signal', BOUNDED, async () => {
    const { result, target } = await t.runDeploy({}, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await sendBadSignals(handle, [approveSignal.name]);
      await t.env.sleep('61 minutes');
    });
    assert.equal(result?.outcome, 'approval-timed-out');
    assert.equal(result?.phase, 'CANCELLED');
    assert.equal(target.count('start', 'production'), 0);
  });

  it('mid-canary: ignores them, and a critical sample after them still rolls back at once', BOUNDED, async () => {
    const profiles: Record<string, VersionProfile> = {};
    const { result, target, status } = await t.runDeploy({ profiles }, async (handle) => {
      await t.approve()(handle);
      await t.waitFor(handle, 'CANARY');
      await sendBadSignals(handle, [abortSignal.name, pauseSignal.name, 'promote']);
      await assert.rejects(
        handle.executeUpdate(abortUpdate, { args: [asArg(BAD[0]!.payload)] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError,
      );
      const running = await handle.query(statusQuery);
      assert.equal(running.phase, 'CANARY');
      assert.equal(running.controls.length, 0);
      // The release turns bad after the noise: the analysis must still see it and roll back.
      profiles['production/1.1.0'] = CRITICAL;
    });
    assert.equal(result?.outcome, 'rolled-back');
    assert.match(result?.reason ?? '', /critical: error rate 20\.0 %/);
    assert.equal(target.count('rollback', 'production'), 1);
    assert.equal(target.count('promote', 'production'), 0);
    assert.equal(target.state.get('production')?.stable, '1.0.0');
    for (const { note } of BAD) assert.equal(ignored(status, 'abort', note).length, 1, String(note));
  });

  it(
    'with the codec on: a payload under an unknown key id, or altered, is ignored, and the deploy goes on',
    BOUNDED,
    async () => {
      const k1 = generateCodecKey('e2e-1');
      const stranger = generateCodecKey('stranger-key');
      const keyring: CodecKeyring = { current: k1, keys: new Map([[k1.id, k1.key]]), source: 'test keys' };
      const strangers: CodecKeyring = { current: stranger, keys: new Map([[stranger.id, stranger.key]]), source: 'x' };
      const args = defaultPayloadConverter.toPayload({ by: 'alice', comment: 'forged' });
      const [foreign] = await new EncryptionCodec(strangers).encode([args]);
      const [ours] = await new EncryptionCodec(keyring).encode([args]);
      const altered = { ...ours!, data: Buffer.from(ours!.data!).fill(0, 16, 32) };
      const { result, status } = await t.runDeploy({ codecKeys: keyring }, async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        // Sent past the client's codec, as the Temporal CLI sends them: the worker's codec meets them as they are.
        const bare = t.env.client.workflow.getHandle(handle.workflowId);
        for (const payload of [foreign!, altered]) {
          await bare.signal(approveSignal.name, asArg(payload));
          await assert.rejects(
            bare.executeUpdate(approveUpdate.name, { args: [asArg(payload)] }),
            (err: unknown) => err instanceof WorkflowUpdateFailedError,
          );
        }
        // And an unknown encoding through the client's codec: decrypted, then undecodable.
        await sendBadSignals(handle, [approveSignal.name], [BAD[0]!.payload]);
        const waiting = await handle.query(statusQuery);
        assert.equal(waiting.phase, 'AWAITING_APPROVAL');
        assert.deepEqual(waiting.approvals, []);
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'genuine' }] });
      });
      assert.equal(result?.outcome, 'promoted');
      assert.deepEqual(
        status.approvals.map((a) => [a.by, a.comment]),
        [['bob', 'genuine']],
      );
      assert.equal(ignored(status, 'approve', /encrypted with a key the worker does not have/).length, 1);
      assert.equal(ignored(status, 'approve', /encrypted, but altered/).length, 1);
      assert.equal(ignored(status, 'approve', BAD[0]!.note).length, 1);
      assert.ok(!JSON.stringify(status.timeline).includes('stranger'), 'the sender’s key id is not echoed');
    },
  );
});
