import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { refuseEffect, type Effect, type EffectContext } from '../../src/activities/authority';
import type { StartLedger, StartUse } from '../../src/activities/start-ledger';
import { checkFreezeRequest, type FreezeContext, type FreezeRequest } from '../../src/activities/incidents';
import { ALL_PROTECTED, freezeSubject, type IncidentFreeze } from '../../src/shared/agent/freeze';
import { ConfigError } from '../../src/config/errors';
import { loadConfig } from '../../src/config/load';
import { resolvePolicy } from '../../src/config/policy';
import { createKeyPair, loadSigner, signDecision, signStart } from '../../src/keys/keys';
import {
  effectivePolicy,
  type Authority,
  type DeployPolicy,
  type EnvironmentPlan,
  type EnvironmentPolicy,
} from '../../src/shared/deploy';
import { ErrorType } from '../../src/shared/errors';
import { hashOf, type SignedStatement } from '../../src/shared/signing';
import { testConfig, testInput } from '../helpers/config';
import { fakeDeps, FakeMetrics, FakeTarget } from '../helpers/fakes';
import { environmentRules } from '../helpers/policy';

const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-effect-'));
const people = ['alice', 'bob', 'carol', 'mallory'] as const;
type Person = (typeof people)[number];
const lines = {} as Record<Person, string>;
before(() => {
  for (const person of people) lines[person] = createKeyPair(dir, person).line;
});
after(() => rmSync(dir, { recursive: true, force: true }));

const NOW = Date.parse('2026-12-07T12:00:00Z');
const where: EffectContext = {
  namespace: 'default',
  workflowId: 'deploy-hello-1.1.0-production',
  runId: 'run-2',
  nowMs: NOW,
};
const plan: EnvironmentPlan = testInput(testConfig(), '/tmp', { version: '1.1.0' }).environments[1] as EnvironmentPlan;

const rules = (over: Partial<EnvironmentPolicy> = {}): EnvironmentPolicy =>
  environmentRules({ approvers: ['alice', 'bob', 'group:security'], ...over });

/** The worker's real policy: alice (sre) and bob approve production; carol is in security; mallory has a key. */
function policy(production: Partial<EnvironmentPolicy> = {}): DeployPolicy {
  return {
    trustTypedNames: false,
    people: {
      alice: { publicKey: lines.alice, groups: ['sre'] },
      bob: { publicKey: lines.bob, groups: [] },
      carol: { publicKey: lines.carol, groups: ['security'] },
      mallory: { publicKey: lines.mallory, groups: [] },
    },
    environments: { production: rules(production), staging: rules({ protected: false, approvers: [] }) },
    source: 'the worker',
  };
}

async function approval(
  signer: Person,
  forge: { person?: string; runId?: string; planHash?: string; environment?: string } = {},
): Promise<SignedStatement> {
  return signDecision(
    await loadSigner(path.join(dir, `${signer}.key`), undefined),
    {
      namespace: 'default',
      workflowId: where.workflowId,
      runId: forge.runId ?? where.runId,
      environment: forge.environment ?? 'production',
      planHash: forge.planHash ?? hashOf(plan),
    },
    { action: 'approve', person: forge.person ?? signer },
    { nowMs: NOW - 60_000 },
  );
}

async function startBy(person: Person) {
  return signStart(
    await loadSigner(path.join(dir, `${person}.key`), undefined),
    {
      namespace: 'default',
      workflowId: where.workflowId,
      service: 'hello',
      version: '1.1.0',
      environments: ['staging', 'production'],
      requestHash: 'a'.repeat(64),
    },
    person,
    { nowMs: NOW - 120_000 },
  );
}

const start: Effect = { kind: 'start', environment: 'production', service: 'hello', version: '1.1.0' };
const weight = (w: number): Effect => ({ ...start, kind: 'weight', weight: w });

describe("the activity that changes an environment checks its authority against its own worker's policy", () => {
  it('lets a change through with a genuine approval for this run and rollout', async () => {
    const authority: Authority = { plan, approvals: [await approval('alice')] };
    assert.equal(refuseEffect(policy(), where, start, authority), undefined);
    assert.equal(refuseEffect(policy(), where, weight(50), authority), undefined);
    assert.equal(refuseEffect(policy(), where, { ...start, kind: 'promote' }, authority), undefined);
  });

  it('needs nothing to take traffic away, nor in an environment the policy leaves unprotected', () => {
    assert.equal(refuseEffect(policy(), where, weight(0), undefined), undefined);
    assert.equal(refuseEffect(policy(), where, { ...start, environment: 'staging' }, undefined), undefined);
  });

  it('refuses a protected change without evidence, or with evidence a forged policy or history would accept', async () => {
    assert.match(refuseEffect(policy(), where, start, undefined) ?? '', /no approvals were presented for production/);
    // The policy the workflow was answered said "alice" with mallory's key: the worker's policy knows alice's own.
    const aliceByMallory = await approval('mallory', { person: 'alice' });
    assert.match(
      refuseEffect(policy(), where, start, { plan, approvals: [aliceByMallory] }) ?? '',
      /0 verify; refused: the signature is not alice's/,
    );
    const mallory = await approval('mallory');
    assert.match(
      refuseEffect(policy(), where, start, { plan, approvals: [mallory] }) ?? '',
      /mallory is not an approver of production/,
    );
    // A cron, retry or reset run shares the first run's id, not this one.
    const earlierRun = await approval('alice', { runId: 'run-1' });
    assert.match(
      refuseEffect(policy(), where, start, { plan, approvals: [earlierRun] }) ?? '',
      /another runId \(not run-2\)/,
    );
    const otherPlan = await approval('alice', { planHash: 'f'.repeat(64) });
    assert.match(refuseEffect(policy(), where, start, { plan, approvals: [otherPlan] }) ?? '', /another planHash/);
    // A rollout other than the approved one: its hash is not what alice signed.
    const looser = { ...plan, steps: [{ weight: 100, bake: 1_000 }] };
    assert.match(
      refuseEffect(policy(), where, start, { plan: looser, approvals: [await approval('alice')] }) ?? '',
      /another planHash/,
    );
    assert.match(
      refuseEffect(policy(), where, weight(75), { plan, approvals: [await approval('alice')] }) ?? '',
      /75 % is not a step of the rollout approved for production/,
    );
  });

  it('counts distinct keys of approvers, with the required groups, and never the requester', async () => {
    const two = policy({ required: 2, requireGroups: ['security'] });
    const alice = await approval('alice');
    const aliceAgain = await approval('alice');
    const bob = await approval('bob');
    const carol = await approval('carol');
    assert.match(refuseEffect(two, where, start, { plan, approvals: [alice, aliceAgain] }) ?? '', /1 verify/);
    assert.match(refuseEffect(two, where, start, { plan, approvals: [alice, bob] }) ?? '', /none from group security/);
    assert.equal(refuseEffect(two, where, start, { plan, approvals: [alice, carol] }), undefined);

    const signedStart = await startBy('alice');
    assert.match(
      refuseEffect(policy(), where, start, { plan, approvals: [alice], signedStart }) ?? '',
      /alice signs with the requester's key/,
    );
    assert.equal(refuseEffect(policy(), where, start, { plan, approvals: [bob], signedStart }), undefined);
    assert.match(
      refuseEffect(policy({ signedStart: true }), where, start, { plan, approvals: [bob] }) ?? '',
      /production needs the requester's signed start, and none was presented/,
    );
  });

  it('has nothing to check in demo mode; an environment the policy does not know is denied', async () => {
    const demo = { ...policy(), trustTypedNames: true };
    assert.equal(refuseEffect(demo, where, start, undefined), undefined);
    const denied: DeployPolicy = { ...policy(), defaults: rules({ approvers: [] }) };
    assert.match(
      refuseEffect(denied, where, { ...start, environment: 'production-eu' }, undefined) ?? '',
      /names nobody who may approve production-eu/,
    );
  });
});

describe("the worker's policy as it loads", () => {
  const write = (name: string, yaml: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, yaml);
    return file;
  };
  const base = (policyBlock: string, extra = '') => `
project: p
services:
  hello:
    target:
      kind: local
      command: [node, server.js]
      versions: ['1.0.0']
      initialVersion: '1.0.0'
environments:
  staging: {}
  production:
    approval: { required: true, approvers: [alice, alice-oncall] }
${extra}
policy:
${policyBlock}
`;

  it('refuses one key listed under two names: N of M counts keys', () => {
    const file = write(
      'shared-key.yaml',
      base(`  people:
    alice: { key: "${lines.alice}", groups: [sre] }
    alice-oncall: { key: "${lines.alice.replace(/ alice$/, ' oncall')}", groups: [security] }`),
    );
    const { config } = loadConfig(file);
    assert.throws(
      () => resolvePolicy(config, file),
      (err: unknown) =>
        err instanceof ConfigError &&
        /policy\.people\.alice-oncall: the same key as policy\.people\.alice \(SHA256:/.test(err.message) &&
        !err.message.includes('\n'),
    );
  });

  it('protects an environment it does not list: policy.defaults, or nobody may approve it', () => {
    const people = `  people:\n    alice: { key: "${lines.alice}" }`;
    const denyFile = write('deny.yaml', base(people));
    const deny = resolvePolicy(loadConfig(denyFile).config, denyFile);
    const asked = { required: false, approvers: [], allowSelfApproval: false, timeoutMs: 60_000 };
    const refused = effectivePolicy(asked, deny, 'production-eu');
    assert.equal(refused.ok, false);
    assert.match(
      refused.ok ? '' : refused.reason,
      /names nobody who may approve production-eu: define it under environments/,
    );
    const defaultsFile = write('defaults.yaml', base(`${people}\n  defaults: { approvers: [alice], required: 1 }`));
    const withDefaults = resolvePolicy(loadConfig(defaultsFile).config, defaultsFile);
    const eu = effectivePolicy(asked, withDefaults, 'production-eu');
    assert.ok(eu.ok);
    assert.equal(eu.policy.protected, true);
    assert.deepEqual(eu.policy.approvers, ['alice']);
  });

  it('refuses a target entry for an environment the config does not define', () => {
    const file = write(
      'target-env.yaml',
      base(`  people: {}`).replace(
        /kind: local[^]*?initialVersion: '1\.0\.0'/,
        `kind: kubernetes
      image: registry.example/hello:{{version}}
      environments:
        production: { namespace: prod, deployment: hello }
        production-eu: { namespace: prod-eu, deployment: hello }`,
      ),
    );
    assert.throws(
      () => loadConfig(file),
      /services\.hello\.target\.environments\.production-eu: environment "production-eu" is not defined under environments/,
    );
  });
});

describe('the activities refuse a protected change before the target sees it', () => {
  const info = {
    workflowNamespace: 'default',
    workflowExecution: { workflowId: where.workflowId, runId: where.runId },
    currentAttemptScheduledTimestampMs: NOW,
  };
  const activities = (target: FakeTarget, starts?: StartLedger) =>
    createActivities({ ...fakeDeps(target, new FakeMetrics({}), 'hello', policy()), ...(starts ? { starts } : {}) });
  const ref = { deployId: where.workflowId, environment: 'production', service: 'hello', version: '1.1.0' };

  it('starts and routes with genuine evidence; refuses without, and the target is never called', async () => {
    const target = new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' });
    const mock = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
    const a = activities(target);
    await assert.rejects(
      mock.run(a.startRelease, ref),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === ErrorType.PolicyRefused &&
        err.nonRetryable &&
        /^the worker refuses to start in production: no approvals were presented/.test(err.message),
    );
    assert.equal(target.calls.length, 0);
    const authority: Authority = { plan, approvals: [await approval('bob')] };
    await mock.run(a.startRelease, { ...ref, authority });
    await mock.run(a.setTrafficWeight, { ...ref, weight: 10, authority });
    await assert.rejects(mock.run(a.setTrafficWeight, { ...ref, weight: 100 }), /no approvals were presented/);
    await mock.run(a.setTrafficWeight, {
      deployId: ref.deployId,
      environment: 'production',
      service: 'hello',
      weight: 0,
    });
    assert.deepEqual(
      target.calls.map((c) => [c.op, c.weight]),
      [
        ['start', undefined],
        ['weight', 10],
        ['weight', 0],
      ],
    );
  });

  it("refuses a signed start the server's records say another run used, before the target sees it", async () => {
    const target = new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' });
    const asked: StartUse[] = [];
    const ledger: StartLedger = {
      async refuse(use) {
        asked.push(use);
        return 'the signed start was already used by run run-1 of deploy-hello-1.1.0-production';
      },
    };
    const mock = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
    const signedStart = await startBy('carol');
    await assert.rejects(
      mock.run(activities(target, ledger).startRelease, {
        ...ref,
        authority: { plan, approvals: [await approval('bob')], signedStart },
      }),
      /the requester's start does not hold: the signed start was already used by run run-1/,
    );
    assert.equal(target.calls.length, 0);
    assert.deepEqual(asked, [
      {
        workflowId: where.workflowId,
        runId: where.runId,
        issuedAtMs: Date.parse(signedStart.statement.issuedAt),
        expiresAtMs: Date.parse(signedStart.statement.expiresAt),
      },
    ]);
  });
});

describe('incident freezes, as the worker judges them', () => {
  const incident = (over: Partial<IncidentFreeze> = {}): IncidentFreeze => ({
    id: 'incident-1',
    reason: 'payments outage',
    raisedBy: 'alice',
    raisedAt: new Date(NOW).toISOString(),
    source: 'person',
    ...over,
  });
  const agent: FreezeContext = { namespace: 'default', workflowId: 'ops-agent-shop', runId: 'agent-run', nowMs: NOW };
  async function freezeStatement(
    signer: Person,
    forge: {
      person?: string;
      runId?: string;
      environment?: string;
      reason?: string;
      action?: 'freeze' | 'unfreeze';
    } = {},
  ): Promise<SignedStatement> {
    const environment = forge.environment ?? 'production';
    return signDecision(
      await loadSigner(path.join(dir, `${signer}.key`), undefined),
      {
        namespace: 'default',
        workflowId: agent.workflowId,
        runId: forge.runId ?? agent.runId,
        environment,
        planHash: hashOf(freezeSubject({ environment, reason: forge.reason ?? 'payments outage' })),
      },
      { action: forge.action ?? 'freeze', person: forge.person ?? signer },
      { nowMs: NOW - 60_000 },
    );
  }
  const request = (signed: SignedStatement | undefined, over: Partial<FreezeRequest> = {}): FreezeRequest => ({
    action: 'freeze',
    environment: 'production',
    by: 'alice',
    subject: { environment: 'production', reason: 'payments outage' },
    ...(signed ? { signed } : {}),
    ...over,
  });

  it('refuses to start a release in a frozen environment, protected or not, until the break-glass number sign', async () => {
    const evidence = { plan, approvals: [await approval('alice')] };
    assert.equal(refuseEffect(policy(), where, start, evidence, []), undefined);
    assert.equal(
      refuseEffect(policy(), where, start, evidence, [incident()]),
      'production is frozen ("incident-1: payments outage") until someone ends it; 0 of 2 break-glass overrides verify',
    );
    // A freeze of every protected environment holds production, not the unprotected staging; a named one holds it.
    const all = incident({ environment: undefined, source: 'event', key: 'INC-42' });
    assert.match(refuseEffect(policy(), where, start, evidence, [all]) ?? '', /frozen/);
    const staging: Effect = { ...start, environment: 'staging' };
    assert.equal(refuseEffect(policy(), where, staging, undefined, [all]), undefined);
    assert.match(
      refuseEffect(policy(), where, staging, undefined, [incident({ environment: 'staging' })]) ?? '',
      /staging is frozen/,
    );
    // A canary already ramping goes on: only a start is held.
    assert.equal(refuseEffect(policy(), where, weight(10), evidence, [incident()]), undefined);
    // Two approvers' signed overrides for this run and rollout let it through; the policy may ask for one.
    const override = async (person: Person) =>
      signDecision(
        await loadSigner(path.join(dir, `${person}.key`), undefined),
        {
          namespace: 'default',
          workflowId: where.workflowId,
          runId: where.runId,
          environment: 'production',
          planHash: hashOf(plan),
        },
        { action: 'override', person },
        { nowMs: NOW - 60_000 },
      );
    const one = { ...evidence, overrides: [await override('alice')] };
    assert.match(refuseEffect(policy(), where, start, one, [incident()]) ?? '', /1 of 2 break-glass overrides verify/);
    assert.equal(refuseEffect({ ...policy(), incidentBreakGlass: 1 }, where, start, one, [incident()]), undefined);
    const two = { ...evidence, overrides: [await override('alice'), await override('bob')] };
    assert.equal(refuseEffect(policy(), where, start, two, [incident()]), undefined);
  });

  it("takes a freeze signed by an approver for the agent's run, and refuses each forgery in one line", async () => {
    assert.deepEqual(checkFreezeRequest(policy(), agent, request(await freezeStatement('alice'))), { person: 'alice' });
    const refusal = async (r: FreezeRequest, p = policy()) => {
      const answer = checkFreezeRequest(p, agent, r);
      assert.ok('refusal' in answer, JSON.stringify(answer));
      assert.doesNotMatch(answer.refusal, /\n/);
      return answer.refusal;
    };
    assert.match(await refusal(request(undefined)), /needs a signed statement/);
    assert.match(
      await refusal(request(await freezeStatement('mallory'), { by: 'mallory' })),
      /mallory is not an approver of production/,
    );
    assert.match(await refusal(request(await freezeStatement('mallory', { person: 'alice' }))), /signature/);
    assert.match(
      await refusal(request(await freezeStatement('alice', { runId: 'an-earlier-agent' }))),
      /another runId/,
    );
    assert.match(
      await refusal(request(await freezeStatement('alice', { reason: 'something else' }))),
      /another planHash/,
    );
    assert.match(
      await refusal(request(await freezeStatement('alice', { environment: 'staging' }))),
      /another environment/,
    );
    assert.match(await refusal(request(await freezeStatement('alice', { action: 'unfreeze' }))), /another action/);
    const late = checkFreezeRequest(
      policy(),
      { ...agent, nowMs: NOW + 3_600_000 },
      request(await freezeStatement('alice')),
    );
    assert.ok('refusal' in late && /expired/.test(late.refusal), JSON.stringify(late));
    // Every protected environment: an approver of one of them may; typed names only where the worker trusts them.
    const all = await freezeStatement('bob', { environment: ALL_PROTECTED });
    const subject = { environment: ALL_PROTECTED, reason: 'payments outage' };
    assert.deepEqual(
      checkFreezeRequest(policy(), agent, request(all, { environment: undefined, by: 'bob', subject })),
      { person: 'bob' },
    );
    // Staging names no approver: anyone the policy knows may freeze it, with their own key.
    const staging = await freezeStatement('mallory', { environment: 'staging' });
    const stagingSubject = { environment: 'staging', reason: 'payments outage' };
    assert.deepEqual(
      checkFreezeRequest(
        policy(),
        agent,
        request(staging, { environment: 'staging', by: 'mallory', subject: stagingSubject }),
      ),
      { person: 'mallory' },
    );
    const demo = { ...policy(), trustTypedNames: true };
    assert.deepEqual(checkFreezeRequest(demo, agent, request(undefined)), { person: 'alice' });
    assert.match(await refusal(request(undefined, { by: 'mallory' }), demo), /mallory is not an approver/);
  });
});
