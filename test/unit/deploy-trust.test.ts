import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import {
  createKeyPair,
  loadSigner,
  signDecision,
  signStart,
  signStartStatement,
  signStatement,
  type Signer,
} from '../../src/keys/keys';
import { failedDecisions, verifyHistory } from '../../src/keys/verify';
import {
  activeFreeze,
  freezeSchema,
  requestHashOf,
  type Freeze,
  type DeployInput,
  type DeployPolicy,
  type DeployStatus,
  type EnvironmentPolicy,
} from '../../src/shared/deploy';
import {
  approveSignal,
  approveUpdate,
  overrideUpdate,
  promoteUpdate,
  statusQuery,
} from '../../src/shared/deploy/messages';
import { applicationFailure, ErrorType } from '../../src/shared/errors';
import type { SignedAction, SignedStatement } from '../../src/shared/signing';
import { DeployTestEnv, type DeployHandle } from '../helpers/workflow-env';
import { environmentRules } from '../helpers/policy';
import { testWorkflowBundle, WORKFLOW_DATA_CONVERTER } from '../helpers/workflow-bundle';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
const HISTORIES = path.join(__dirname, '..', 'histories');
/** The deploy whose history the replay tests keep: a signed start and a signed approval, bound to its run. */
const RUN_BOUND_DEPLOY = 'deploy-hello-1.1.0-production-run-bound';
const keysDir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-keys-'));
const people = ['alice', 'bob', 'carol', 'mallory'] as const;
type Person = (typeof people)[number];
const lines = {} as Record<Person, string>;
before(async () => {
  await t.setup();
  for (const person of people) lines[person] = createKeyPair(keysDir, person).line;
});
after(async () => {
  await t.teardown();
  rmSync(keysDir, { recursive: true, force: true });
});

const rules = environmentRules;

/** The worker's policy: alice (sre) and bob approve production; mallory has a key but approves nothing. */
function policy(production: Partial<EnvironmentPolicy> = {}, staging?: Partial<EnvironmentPolicy>): DeployPolicy {
  return {
    trustTypedNames: false,
    people: {
      alice: { publicKey: lines.alice, groups: ['sre'] },
      bob: { publicKey: lines.bob, groups: [] },
      carol: { publicKey: lines.carol, groups: [] },
      mallory: { publicKey: lines.mallory, groups: [] },
    },
    environments: {
      production: rules(production),
      staging: staging ? rules(staging) : rules({ protected: false, approvers: [] }),
    },
    source: 'test policy',
  };
}

/** The signer of a person's key file (no ssh-agent). */
function signerOf(person: Person): Promise<Signer> {
  return loadSigner(path.join(keysDir, `${person}.key`), undefined);
}

/**
 * The input with `signer`'s signed start, as `opsflow deploy start` makes it, with what a forgery changes: the deploy
 * it names, the person it claims, its times.
 */
async function signedStart(
  input: DeployInput,
  signer: Person,
  forge: { person?: string; workflowId?: string; issuedAgoMs?: number; ttlMs?: number } = {},
): Promise<DeployInput> {
  const nowMs = (await t.env.currentTimeMs()) - (forge.issuedAgoMs ?? 0);
  const signed = await signStart(
    await signerOf(signer),
    {
      namespace: 'default',
      workflowId: forge.workflowId ?? input.deployId,
      service: input.service,
      version: input.version,
      environments: input.environments.map((env) => env.name),
      requestHash: requestHashOf(input),
    },
    forge.person ?? signer,
    { nowMs, ...(forge.ttlMs ? { ttlMs: forge.ttlMs } : {}) },
  );
  return { ...input, signedStart: signed };
}

/** A statement `signer` signs for the waiting environment, with what a forgery changes. */
async function statement(
  handle: DeployHandle,
  signer: Person,
  action: SignedAction = 'approve',
  forge: { person?: string; workflowId?: string; runId?: string; environment?: string; planHash?: string } = {},
  times: { issuedAgoMs?: number; ttlMs?: number } = {},
): Promise<SignedStatement> {
  const status = await handle.query(statusQuery);
  const signing = status.signing;
  assert.ok(signing, 'the status says what to sign');
  const environment = forge.environment ?? status.environment ?? 'production';
  const nowMs = (await t.env.currentTimeMs()) - (times.issuedAgoMs ?? 0);
  return signDecision(
    await signerOf(signer),
    {
      namespace: signing.namespace,
      workflowId: forge.workflowId ?? handle.workflowId,
      runId: forge.runId ?? signing.runId,
      environment,
      planHash: forge.planHash ?? signing.planHashes[environment] ?? '',
    },
    { action, person: forge.person ?? signer },
    { nowMs, ...(times.ttlMs ? { ttlMs: times.ttlMs } : {}) },
  );
}

/** Sends an approval that must be refused by the validator, with the given one-line reason. */
async function refused(
  handle: DeployHandle,
  args: object,
  reason: RegExp,
  update: typeof approveUpdate | typeof promoteUpdate | typeof overrideUpdate = approveUpdate,
) {
  await assert.rejects(
    handle.executeUpdate(update as typeof approveUpdate, { args: [args as never] }),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
      const message = String((err.cause as Error | undefined)?.message);
      assert.match(message, reason);
      assert.ok(!message.includes('\n'), 'one line');
      return true;
    },
  );
}

/** Events of the deploy's history that record an accepted Update. */
async function acceptedUpdates(handle: DeployHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

describe('approvals nobody can forge', () => {
  it('refuses every forgery with one line and nothing in history; N of M distinct keys with a required group approve', async () => {
    const run = await t.runDeploy({ policy: policy({ required: 2, requireGroups: ['sre'] }) }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      const before = await acceptedUpdates(handle);
      await refused(handle, { by: 'alice' }, /approve in production needs a signed statement/);
      const aliceByMallory = await statement(handle, 'mallory', 'approve', { person: 'alice' });
      await refused(handle, { by: 'alice', signed: aliceByMallory }, /the signature is not alice's/);
      const mallory = await statement(handle, 'mallory');
      await refused(handle, { by: 'mallory', signed: mallory }, /mallory is not an approver for production/);
      const otherDeploy = await statement(handle, 'alice', 'approve', { workflowId: 'deploy-hello-9.9.9-production' });
      await refused(handle, { by: 'alice', signed: otherDeploy }, /another workflowId/);
      const otherEnv = await statement(handle, 'alice', 'approve', { environment: 'staging' });
      await refused(handle, { by: 'alice', signed: otherEnv }, /another environment/);
      const otherRun = await statement(handle, 'alice', 'approve', { runId: 'an-earlier-run' });
      await refused(handle, { by: 'alice', signed: otherRun }, /another runId/);
      const tampered = await statement(handle, 'alice', 'approve', { planHash: 'f'.repeat(64) });
      await refused(handle, { by: 'alice', signed: tampered }, /another planHash/);
      const expired = await statement(handle, 'alice', 'approve', {}, { issuedAgoMs: 1_800_000, ttlMs: 600_000 });
      await refused(handle, { by: 'alice', signed: expired }, /expired at .*: sign again/);
      const forPromote = await statement(handle, 'alice', 'promote');
      await refused(handle, { by: 'alice', signed: forPromote }, /another action/);
      const valid = await statement(handle, 'alice');
      await refused(handle, { by: 'bob', signed: valid }, /--by bob does not match the signer alice/);
      const edited = { ...valid, statement: { ...valid.statement, comment: 'added later' } };
      await refused(handle, { by: 'alice', signed: edited }, /the signature is not alice's/);
      assert.equal(await acceptedUpdates(handle), before, 'no refused update reached history');

      // An unsigned Signal cannot be refused before history: it is ignored, and the timeline says why.
      await handle.signal(approveSignal, { by: 'alice' });
      // One signed approval from the required group: 1 of 2.
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: valid }] });
      await refused(handle, { by: 'alice', signed: valid }, /already used/);
      const again = await statement(handle, 'alice');
      await refused(
        handle,
        { by: 'alice', signed: again },
        /alice already approved production: 2 approvals must come from different people/,
      );
      const waiting = await handle.query(statusQuery);
      assert.equal(waiting.phase, 'AWAITING_APPROVAL', 'one approval of two does not approve');
      assert.deepEqual(waiting.approval?.approvedBy, ['alice']);
      const bob = await statement(handle, 'bob');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: bob }] });
    });
    assert.equal(run.result?.outcome, 'promoted');
    const production = run.status.approvals.filter((a) => a.environment === 'production');
    assert.deepEqual(
      production.map((a) => [a.by, Boolean(a.signedNonce)]),
      [
        ['alice', true],
        ['bob', true],
      ],
    );
    assert.ok(
      run.status.timeline.some((e) => /ignored approve signal: approve in production needs a signed/.test(e.message)),
    );
    assert.deepEqual(run.status.trust, { mode: 'signed', source: 'test policy' });
  });

  it('a required group is needed: two approvals without an sre do not approve', async () => {
    const run = await t.runDeploy({ policy: policy({ required: 1, requireGroups: ['sre'] }) }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await statement(handle, 'bob') }] });
      const status = await handle.query(statusQuery);
      assert.equal(status.phase, 'AWAITING_APPROVAL', 'bob is not in sre');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: await statement(handle, 'alice') }] });
    });
    assert.equal(run.result?.outcome, 'promoted');
  });

  it('self-approval is refused by key: the requester cannot approve their own deploy', async () => {
    await t.runDeploy({ policy: policy(), requestedBy: 'alice' }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      const own = await statement(handle, 'alice');
      await refused(handle, { by: 'alice', signed: own }, /alice requested this deploy and cannot approve it too/);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await statement(handle, 'bob') }] });
    });
  });

  it("protection is the environment's, not its name's: a staging the policy protects waits for approval", async () => {
    let seen: DeployStatus | undefined;
    await t.runDeploy({ policy: policy({}, { approvers: ['bob'] }) }, async (handle) => {
      seen = await t.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await statement(handle, 'bob') }] });
      await t.waitFor(handle, 'AWAITING_APPROVAL', (s) => s.environment === 'production');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: await statement(handle, 'alice') }] });
    });
    assert.equal(seen?.environment, 'staging');
  });

  it('self-approval is refused by key: a signed start makes the signer the requester, whatever --requested-by says', async () => {
    // alias is alice under another name: the same key is the same person.
    const withAlias = policy({ approvers: ['alice', 'bob', 'alias'], signedStart: true });
    withAlias.people['alias'] = { publicKey: lines.alice.replace(/ alice$/, ' alice-laptop'), groups: [] };
    const run = await t.runDeploy(
      {
        policy: withAlias,
        config: { production: { approval: { required: true, approvers: ['alice', 'bob', 'alias'] } } },
        requestedBy: 'bob',
        request: (input) => signedStart(input, 'alice'),
      },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        const before = await acceptedUpdates(handle);
        await refused(
          handle,
          { by: 'alice', signed: await statement(handle, 'alice') },
          /alice requested this deploy and cannot approve it too/,
        );
        const aliasSigned = await statement(handle, 'alice', 'approve', { person: 'alias' });
        await refused(
          handle,
          { by: 'alias', signed: aliasSigned },
          /alias signs with the requester's key \(alice, SHA256:[A-Za-z0-9+/]{43}\) and cannot approve this deploy/,
        );
        assert.equal(await acceptedUpdates(handle), before, 'no refused update reached history');
        // The typed requester counts for nothing: bob may approve.
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await statement(handle, 'bob') }] });
      },
    );
    assert.equal(run.result?.outcome, 'promoted');
    assert.equal(run.status.requestedBy, 'alice');
    assert.deepEqual(
      { ...run.status.requester, fingerprint: undefined },
      {
        person: 'alice',
        signed: true,
        fingerprint: undefined,
        typed: 'bob',
      },
    );
    assert.ok(
      run.status.timeline.some((e) =>
        /requested by alice, signed with SHA256:.*; the typed requester bob counts for nothing/.test(e.message),
      ),
    );
  });

  it('a forged start is refused in one line before anything runs: unsigned, another deploy, tampered, expired, wrong key', async () => {
    const required = () => policy({ signedStart: true });
    const cases: { name: string; request: (input: DeployInput) => Promise<DeployInput>; reason: RegExp }[] = [
      {
        name: 'unsigned',
        request: async (input) => input,
        reason:
          /^the worker's policy needs a signed start for production, and this one is not signed: start it with "opsflow deploy start" and carol's key$/,
      },
      {
        name: 'a start statement for another deploy',
        request: (input) => signedStart(input, 'carol', { workflowId: 'deploy-hello-1.1.0-production-other' }),
        reason:
          /^the start is refused: the signed start is for another workflowId \(not deploy-hello-1\.1\.0-production-\d+\)$/,
      },
      {
        name: 'a request changed after it was signed',
        request: async (input) => ({ ...(await signedStart(input, 'carol')), reason: 'changed after signing' }),
        reason: /^the start is refused: the signed start is for another request/,
      },
      {
        name: 'a tampered statement',
        request: async (input) => {
          const signed = await signedStart(input, 'carol');
          const start = signed.signedStart!;
          return { ...signed, signedStart: { ...start, statement: { ...start.statement, person: 'alice' } } };
        },
        reason: /^the start is refused: the signature is not alice's/,
      },
      {
        name: 'expired',
        request: (input) => signedStart(input, 'carol', { issuedAgoMs: 1_800_000, ttlMs: 600_000 }),
        reason: /^the start is refused: the signed statement expired at .*: sign again$/,
      },
      {
        name: "signed with mallory's key as carol",
        request: async (input) => {
          const own = await signedStart(input, 'carol');
          const start = own.signedStart!;
          return { ...own, signedStart: await signStartStatement(await signerOf('mallory'), start.statement) };
        },
        reason: /^the start is refused: the signature is not carol's/,
      },
    ];
    for (const c of cases) {
      const run = await t.runDeploy({ policy: required(), request: c.request }, async () => {});
      assert.equal(applicationFailure(run.error)?.type, ErrorType.DeployFailed, c.name);
      assert.match(run.status.reason ?? '', c.reason, c.name);
      assert.ok(!(run.status.reason ?? '').includes('\n'), `${c.name}: one line`);
      assert.equal(run.status.cause?.kind === 'error' && run.status.cause.errorType, ErrorType.PolicyRefused, c.name);
      // The refusal is a fact the ops agent counts (a refused forgery), not only a sentence.
      const refusal = c.name === 'unsigned' ? 'unsigned-start' : 'start-signature';
      assert.equal(run.status.cause?.kind === 'error' && run.status.cause.refusal, refusal, c.name);
      assert.equal(run.target.calls.length, 0, `${c.name}: nothing was deployed`);
      assert.equal(run.status.plan, undefined, `${c.name}: nothing was planned`);
    }
  });

  it('a request that would loosen the policy is refused before anything runs', async () => {
    const run = await t.runDeploy(
      {
        policy: policy(),
        config: { production: { approval: { required: true, approvers: ['alice', 'bob'], allowSelfApproval: true } } },
      },
      async () => {},
    );
    const failure = applicationFailure(run.error);
    assert.equal(failure?.type, ErrorType.DeployFailed);
    assert.match(
      run.status.reason ?? '',
      /would loosen the worker's policy for production: approval.allowSelfApproval/,
    );
    assert.equal(run.target.calls.length, 0, 'nothing was deployed');
  });

  it("promote needs an approver's signature too", async () => {
    await t.runDeploy({ policy: policy() }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: await statement(handle, 'alice') }] });
      await t.waitFor(handle, 'CANARY');
      await refused(handle, { by: 'alice' }, /promote in production needs a signed statement/, promoteUpdate);
      const byMallory = await statement(handle, 'mallory', 'promote');
      await refused(
        handle,
        { by: 'mallory', signed: byMallory },
        /mallory may not promote production; approvers: alice, bob/,
        promoteUpdate,
      );
      const signed = await statement(handle, 'alice', 'promote');
      await handle.executeUpdate(promoteUpdate, { args: [{ by: 'alice', signed }] });
    });
  });

  it('deploy verify re-checks the start and every decision from the history alone; a tampered approval fails', async () => {
    const run = await t.runDeploy(
      // A deploy id of its own: its recorded history is replayed under it (replay.test.ts).
      { policy: policy(), request: (input) => signedStart({ ...input, deployId: RUN_BOUND_DEPLOY }, 'carol') },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await statement(handle, 'bob') }] });
      },
    );
    assert.equal(run.result?.outcome, 'promoted');
    const history = await run.handle.fetchHistory();
    // OPSFLOW_RECORD_HISTORIES=1 refreshes the replay tests' history of a run-bound deploy (markers worker-policy,
    // deploy-id-pattern, run-bound-statements, signed-start, plan-checked), named by its workflow id, which its start
    // is bound to.
    if (process.env['OPSFLOW_RECORD_HISTORIES'] === '1') {
      writeFileSync(path.join(HISTORIES, `${run.handle.workflowId}.json`), historyToJSON(history));
    }
    const events = history.events ?? [];
    const checked = verifyHistory(run.handle.workflowId, 'default', events);
    assert.equal(checked.policySource, 'test policy');
    assert.deepEqual(
      checked.decisions.map((d) => [d.action, d.environment, d.person, d.signed, d.problem]),
      [
        ['start', 'staging,production', 'carol', true, undefined],
        ['approve', 'production', 'bob', true, undefined],
      ],
    );
    // Someone with write access to the history swaps the signature for another's: verification says so.
    const accepted = events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    const input = accepted?.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    const payload = input?.args?.payloads?.[0];
    assert.ok(payload && input?.args?.payloads);
    const args = defaultPayloadConverter.fromPayload(payload as never) as { signed: SignedStatement };
    const mallorys = await signDecisionLike(args.signed);
    input.args.payloads[0] = defaultPayloadConverter.toPayload({ ...args, signed: mallorys }) as never;
    const tampered = verifyHistory(run.handle.workflowId, 'default', events);
    assert.match(tampered.decisions[1]?.problem ?? '', /the signature is not bob's/);
    // ...and a start whose request was edited afterwards (another version's rollout) no longer verifies either.
    const started = events.find(
      (e) => e.workflowExecutionStartedEventAttributes,
    )?.workflowExecutionStartedEventAttributes;
    const startPayloads = started?.input?.payloads;
    assert.ok(startPayloads?.[0]);
    const recorded = defaultPayloadConverter.fromPayload(startPayloads[0] as never) as DeployInput;
    startPayloads[0] = defaultPayloadConverter.toPayload({ ...recorded, reason: 'edited later' }) as never;
    const edited = verifyHistory(run.handle.workflowId, 'default', events);
    assert.match(edited.decisions[0]?.problem ?? '', /the signed start is for another request/);
  });

  it("deploy verify flags an approval by the requester's key in a history", async () => {
    const run = await t.runDeploy(
      { policy: policy(), requestedBy: 'alice', request: (input) => signedStart(input, 'alice') },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signed: await statement(handle, 'bob') }] });
      },
    );
    const events = (await run.handle.fetchHistory()).events ?? [];
    // Someone with write access to the history makes it say alice approved her own deploy, with her valid signature.
    const accepted = events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    const args = accepted?.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args;
    assert.ok(args?.payloads?.[0]);
    const bobs = defaultPayloadConverter.fromPayload(args.payloads[0] as never) as { signed: SignedStatement };
    const alices = await signStatement(await signerOf('alice'), { ...bobs.signed.statement, person: 'alice' });
    args.payloads[0] = defaultPayloadConverter.toPayload({ by: 'alice', signed: alices }) as never;
    const checked = verifyHistory(run.handle.workflowId, 'default', events);
    assert.match(
      checked.decisions[1]?.problem ?? '',
      /approved by the requester \(alice, SHA256:.*\) where self-approval is off/,
    );
  });
});

describe('trust one level down: forged answers, other runs (issue 17)', () => {
  it('a forged policy answer gets no further than the first protected change: production is never touched', async () => {
    // Someone completes the workerPolicy activity (or runs a worker of their own): "alice" holds mallory's key.
    const forged = policy();
    forged.people['alice'] = { publicKey: lines.mallory, groups: ['sre'] };
    const run = await t.runDeploy(
      { policy: policy(), forge: () => ({ workerPolicy: async () => forged }) },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        const aliceByMallory = await statement(handle, 'mallory', 'approve', { person: 'alice' });
        // The workflow, answered the forged policy, takes it...
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: aliceByMallory }] });
      },
    );
    // ...the activity that would start the release in production checks it against its own worker's policy.
    assert.equal(run.status.outcome, 'failed');
    assert.equal(run.status.cause?.kind === 'error' ? run.status.cause.errorType : undefined, ErrorType.PolicyRefused);
    assert.equal(run.status.cause?.kind === 'error' ? run.status.cause.refusal : undefined, 'evidence');
    assert.match(run.status.reason ?? '', /the worker refuses to start in production: .*the signature is not alice's/);
    assert.equal(run.target.count('start', 'production'), 0, 'nothing started in production');
    assert.deepEqual(
      run.target.calls.filter((c) => c.op === 'weight' && c.environment === 'production').map((c) => c.weight),
      [0],
      "only the rollback's traffic to 0 %, which needs no authority",
    );
    assert.equal(run.target.count('promote', 'production'), 0);
    assert.equal((await run.target.status({ environment: 'production', service: 'hello' })).stable?.version, '1.0.0');

    // deploy verify checks the history against the policy the verifier holds, and says the recorded one differs.
    const events = (await run.handle.fetchHistory()).events ?? [];
    const runId = (await run.handle.describe()).runId;
    const verified = verifyHistory(run.handle.workflowId, 'default', events, { policy: policy(), runId });
    assert.equal(verified.policyFrom, 'verifier');
    assert.deepEqual(verified.recordedPolicyDiffers, ['alice']);
    const approval = verified.decisions.find((d) => d.action === 'approve');
    assert.equal(approval?.effect, 'took-effect');
    assert.match(approval?.problem ?? '', /the signature is not alice's/);
    assert.equal(failedDecisions(verified).length, 1);
    // Against the history's own (forged) policy it would have verified: why the verifier brings its own.
    const trusting = verifyHistory(run.handle.workflowId, 'default', events, { runId });
    assert.equal(trusting.policyFrom, 'history');
    assert.equal(failedDecisions(trusting).length, 0);
  });

  it('deploy verify lists an ignored Signal as a refused attempt and fails only on a decision the deploy acted on', async () => {
    const run = await t.runDeploy({ policy: policy() }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      // An unsigned and a forged Signal: the deploy ignores both, but they are in history.
      await handle.signal(approveSignal, { by: 'alice' });
      await handle.signal(approveSignal, {
        by: 'alice',
        signed: await statement(handle, 'mallory', 'approve', { person: 'alice' }),
      });
      await handle.signal(approveSignal, { by: 'bob', signed: await statement(handle, 'bob') });
    });
    assert.equal(run.result?.outcome, 'promoted');
    const events = (await run.handle.fetchHistory()).events ?? [];
    const runId = (await run.handle.describe()).runId;
    const verified = verifyHistory(run.handle.workflowId, 'default', events, { policy: policy(), runId });
    assert.deepEqual(
      verified.decisions.filter((d) => d.via === 'signal').map((d) => [d.person, d.effect, Boolean(d.problem)]),
      [
        ['alice', 'ignored', true],
        ['alice', 'ignored', true],
        ['bob', 'took-effect', false],
      ],
    );
    assert.equal(failedDecisions(verified).length, 0, 'every decision the deploy acted on verifies');
  });

  it("a signed start the server's records say another run used is refused before anything runs", async () => {
    const asked: unknown[] = [];
    const run = await t.runDeploy(
      {
        policy: policy({ signedStart: true }),
        request: (input) => signedStart(input, 'carol'),
        // The worker's ledger, as the Temporal server would answer it for a replayed start (start-ledger.test.ts).
        forge: () => ({
          checkSignedStart: async (start) => {
            asked.push(start);
            return { checked: true, refusal: 'the signed start was already used by run r-1 of this deploy' };
          },
        }),
      },
      async () => undefined,
    );
    assert.equal(asked.length, 1);
    assert.equal(run.status.outcome, 'failed');
    assert.equal(
      run.status.reason,
      'the start is refused: the signed start was already used by run r-1 of this deploy',
    );
    assert.equal(run.target.calls.length, 0, 'nothing changed anywhere');
  });

  it('a forged plan answer is checked and clamped again in the workflow', async () => {
    const looser = await t.runDeploy(
      {
        forge: (real) => ({
          plan: async (request) => {
            const plan = await real.plan(request);
            const environments = (plan.environments ?? request.input.environments).map((env) =>
              env.name === 'production' ? { ...env, steps: [{ weight: 100, bake: 1_000 }] } : env,
            );
            return { ...plan, environments };
          },
        }),
      },
      t.approve(),
    );
    assert.equal(looser.result?.outcome, 'promoted');
    assert.ok(
      looser.status.timeline.some((e) => /^the plan's answer was clamped again: production: /.test(e.message)),
      'the timeline says the answer was clamped',
    );
    assert.deepEqual(
      looser.target.calls.filter((c) => c.op === 'weight' && c.environment === 'production').map((c) => c.weight),
      [10, 50, 100],
      "production ran the configured steps, not the answer's single 100 % step",
    );
    const malformed = await t.runDeploy(
      { forge: () => ({ plan: async () => ({ risk: 'none' }) as never }) },
      async () => undefined,
    );
    assert.equal(malformed.status.outcome, 'failed');
    assert.match(malformed.status.reason ?? '', /^the plan answer is malformed \(/);
    assert.equal(malformed.target.calls.length, 0, 'nothing changed anywhere');
  });

  it('a decision or a signed start from an earlier run of a cron chain does not count in the next run', async () => {
    let nextRun: DeployStatus | undefined;
    const run = await t.runDeploy(
      { policy: policy(), cronSchedule: '0 * * * *', request: (input) => signedStart(input, 'carol') },
      async (handle) => {
        // A cron chain's first run waits for the schedule: until then there is nothing to query.
        for (let i = 0; i < 120 && !(await handle.query(statusQuery).catch(() => undefined)); i++) {
          await t.env.sleep('1 minute');
        }
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        const firstRun = (await handle.describe()).runId;
        const alice = await statement(handle, 'alice');
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: alice }] });
        for (let i = 0; i < 240 && !nextRun; i++) {
          await t.env.sleep('1 minute');
          const described = await handle.describe();
          if (described.runId === firstRun) continue;
          const status = await handle.query(statusQuery).catch(() => undefined);
          if (status?.phase === 'AWAITING_APPROVAL') nextRun = status;
        }
        assert.ok(nextRun, 'the cron chain started its next run');
        // alice's approval of the first run, sent again: the runs share their first run's id, not their own.
        await refused(handle, { by: 'alice', signed: alice }, /another runId/);
        await handle.terminate('the test is done');
      },
    );
    assert.ok(run.error, 'terminated');
    assert.equal(nextRun?.requester?.signed, false, "the next run's requester is not proven by the first run's start");
    assert.ok(
      nextRun?.timeline.some((e) => /the signed start was used by an earlier run of this chain/.test(e.message)),
    );
  });
});

describe('replay of a run-bound deploy', () => {
  const file = path.join(HISTORIES, `${RUN_BOUND_DEPLOY}.json`);
  const options = async () => ({
    workflowBundle: await testWorkflowBundle(),
    dataConverter: WORKFLOW_DATA_CONVERTER,
    replayName: 'run-bound-replay',
  });

  it('its committed history replays; without its run-bound-statements marker the commands part (negative control)', async () => {
    const history = JSON.parse(readFileSync(file, 'utf8'));
    await Worker.runReplayHistory(await options(), history, RUN_BOUND_DEPLOY);
    // Renamed away, the marker no longer guards the run-bound code (the start ledger's activity among it): replay
    // takes the path of deploys recorded before it, and its commands part from the history's.
    const patch = history.events.find((e: { markerRecordedEventAttributes?: { details: Record<string, never> } }) =>
      JSON.stringify(e.markerRecordedEventAttributes?.details ?? {}).includes(
        Buffer.from('{"id":"run-bound-statements"').toString('base64').slice(0, 30),
      ),
    );
    assert.ok(patch, 'the history carries the run-bound-statements marker');
    const payload = patch.markerRecordedEventAttributes.details['patch-data'].payloads[0];
    payload.data = Buffer.from('{"id":"some-other-patch","deprecated":false}').toString('base64');
    await assert.rejects(Worker.runReplayHistory(await options(), history, RUN_BOUND_DEPLOY), (err: unknown) => {
      assert.ok(err instanceof DeterminismViolationError, String(err));
      return true;
    });
  });

  it("deploy verify checks its decisions against the run's own id", async () => {
    const events = historyFromJSON(JSON.parse(readFileSync(file, 'utf8'))).events ?? [];
    const firstRun = events[0]?.workflowExecutionStartedEventAttributes?.firstExecutionRunId ?? '';
    // The keys of the recording are the history's own policy's (this run's keys are new).
    const own = verifyHistory(RUN_BOUND_DEPLOY, 'default', events, { runId: firstRun });
    assert.deepEqual(failedDecisions(own), []);
    const other = verifyHistory(RUN_BOUND_DEPLOY, 'default', events, { runId: 'a-reset-run' });
    assert.match(failedDecisions(other)[0]?.problem ?? '', /another runId \(not a-reset-run\)/);
  });
});

/** The same statement, signed by mallory's key instead of its signer's. */
async function signDecisionLike(signed: SignedStatement): Promise<SignedStatement> {
  return signStatement(await signerOf('mallory'), signed.statement);
}

describe('stop the line: freeze windows (issue 18)', () => {
  /** A freeze of production from an hour ago for `hours` hours of the test server's clock. */
  async function freezeFor(hours: number, breakGlass = 2): Promise<Freeze[]> {
    const nowMs = await t.env.currentTimeMs();
    return [
      freezeSchema.parse({
        name: 'holiday',
        environments: ['production'],
        from: new Date(nowMs - 3_600_000).toISOString(),
        to: new Date(nowMs + hours * 3_600_000).toISOString(),
        breakGlass,
      }),
    ];
  }

  it('holds a deploy at a frozen environment and lets it go when the freeze lifts', async () => {
    const withFreeze = { ...policy(), freezes: await freezeFor(3) };
    let held: DeployStatus | undefined;
    const run = await t.runDeploy({ policy: withFreeze }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: await statement(handle, 'alice') }] });
      held = await t.waitFor(handle, 'FROZEN');
      await t.env.sleep('1 hour');
      assert.equal((await handle.query(statusQuery)).phase, 'FROZEN', 'still frozen an hour later');
    });
    assert.equal(run.result?.outcome, 'promoted');
    assert.deepEqual([held?.frozen?.freeze, held?.frozen?.breakGlass, held?.frozen?.overriddenBy], ['holiday', 2, []]);
    const startedAt = run.status.timeline.find((e) => /^starting hello 1\.1\.0 in production/.test(e.message))?.at;
    assert.ok(startedAt && held?.frozen?.until && Date.parse(startedAt) >= Date.parse(held.frozen.until));
    assert.ok(run.status.timeline.some((e) => e.message === 'the freeze of production has lifted'));
  });

  it('a break-glass override needs its number of distinct approvers, signed; too few is refused where it acts', async () => {
    const withFreeze = { ...policy(), freezes: await freezeFor(24 * 30) };
    const run = await t.runDeploy({ policy: withFreeze }, async (handle) => {
      await t.waitFor(handle, 'AWAITING_APPROVAL');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signed: await statement(handle, 'alice') }] });
      await t.waitFor(handle, 'FROZEN');
      await refused(
        handle,
        { by: 'alice', reason: 'hotfix' },
        /override in production needs a signed statement/,
        overrideUpdate,
      );
      const byMallory = await statement(handle, 'mallory', 'override');
      await refused(
        handle,
        { by: 'mallory', signed: byMallory },
        /mallory is not an approver for production/,
        overrideUpdate,
      );
      await handle.executeUpdate(overrideUpdate, {
        args: [{ by: 'alice', reason: 'hotfix', signed: await statement(handle, 'alice', 'override') }],
      });
      await refused(
        handle,
        { by: 'alice', signed: await statement(handle, 'alice', 'override') },
        /alice already signed an override/,
        overrideUpdate,
      );
      assert.equal((await handle.query(statusQuery)).phase, 'FROZEN', 'one override of two does not let it go');
      await handle.executeUpdate(overrideUpdate, {
        args: [{ by: 'bob', reason: 'hotfix', signed: await statement(handle, 'bob', 'override') }],
      });
    });
    assert.equal(run.result?.outcome, 'promoted');
    assert.deepEqual(
      run.status.controls.filter((c) => c.action === 'override').map((c) => [c.by, Boolean(c.signedNonce)]),
      [
        ['alice', true],
        ['bob', true],
      ],
    );

    // A forged policy answer that asks for one override: the worker's own freeze asks for two, where it acts.
    const forged = { ...policy(), freezes: await freezeFor(24 * 30, 1) };
    const tooFew = await t.runDeploy(
      {
        policy: { ...policy(), freezes: await freezeFor(24 * 30, 2) },
        forge: () => ({ workerPolicy: async () => forged }),
      },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        await handle.executeUpdate(approveUpdate, {
          args: [{ by: 'alice', signed: await statement(handle, 'alice') }],
        });
        await t.waitFor(handle, 'FROZEN');
        await handle.executeUpdate(overrideUpdate, {
          args: [{ by: 'bob', reason: 'hotfix', signed: await statement(handle, 'bob', 'override') }],
        });
      },
    );
    assert.equal(tooFew.status.outcome, 'failed');
    assert.match(
      tooFew.status.reason ?? '',
      /production is frozen \("holiday"\) until .*; 1 of 2 break-glass overrides verify/,
    );
    assert.equal(tooFew.target.count('start', 'production'), 0);
  });
});

describe('freeze windows, judged at an instant', () => {
  const weekly = (from: string, to: string, days: string[], timeZone = 'Europe/Berlin') =>
    freezeSchema.parse({ name: 'nights', weekly: { days, from, to, timeZone } });

  it('holds inside a date range and a weekly window (also across midnight, in its time zone), and says until when', () => {
    const range = freezeSchema.parse({ name: 'holiday', from: '2026-12-20T00:00:00Z', to: '2027-01-04T00:00:00Z' });
    assert.equal(activeFreeze([range], 'production', true, Date.parse('2026-12-19T23:59:00Z')), undefined);
    assert.deepEqual(activeFreeze([range], 'production', true, Date.parse('2026-12-24T12:00:00Z')), {
      name: 'holiday',
      untilMs: Date.parse('2027-01-04T00:00:00Z'),
      breakGlass: 2,
    });
    assert.equal(activeFreeze([range], 'staging', false, Date.parse('2026-12-24T12:00:00Z')), undefined, 'unprotected');
    // Friday 18:00 to Saturday 08:00 Berlin time (UTC+1 in December).
    const nights = weekly('18:00', '08:00', ['fri']);
    assert.equal(activeFreeze([nights], 'production', true, Date.parse('2026-12-11T16:59:00Z')), undefined);
    assert.equal(
      activeFreeze([nights], 'production', true, Date.parse('2026-12-11T17:00:00Z'))?.untilMs,
      Date.parse('2026-12-12T07:00:00Z'),
    );
    assert.equal(
      activeFreeze([nights], 'production', true, Date.parse('2026-12-12T06:30:00Z'))?.untilMs,
      Date.parse('2026-12-12T07:00:00Z'),
    );
    assert.equal(activeFreeze([nights], 'production', true, Date.parse('2026-12-12T07:00:00Z')), undefined);
    const weekend = weekly('00:00', '24:00', ['sat', 'sun'], 'UTC');
    assert.equal(
      activeFreeze([weekend], 'production', true, Date.parse('2026-12-12T10:00:00Z'))?.untilMs,
      Date.parse('2026-12-13T00:00:00Z'),
      'the deploy judges again at midnight: Sunday holds too',
    );
  });

  it('refuses a freeze that is neither a range nor a weekly window, or names an unknown time zone, in one line', () => {
    assert.throws(() => freezeSchema.parse({ name: 'x', from: '2026-12-20T00:00:00Z' }), /give either from and to/);
    assert.throws(
      () =>
        freezeSchema.parse({
          name: 'x',
          weekly: { days: ['mon'], from: '09:00', to: '17:00', timeZone: 'Mars/Olympus' },
        }),
      /an IANA time zone/,
    );
  });
});
