import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { createAgentActivities } from '../../src/activities/agent';
import { closedDeployOutcome } from '../../src/activities/agent/client-deps';
import { agentStartOperation, requestDeployThroughAgent, type AgentTarget } from '../../src/cli/agent-front-door';
import { CliError } from '../../src/cli/output';
import { signStartFor } from '../../src/cli/sign';
import { agentConfigSchema } from '../../src/config/agent';
import { policyConfigSchema, signedStartEnvironments } from '../../src/config/policy';
import { createKeyPair, loadSigner, signDecision, signStart } from '../../src/keys/keys';
import { agentWorkflowId } from '../../src/shared/agent/config';
import {
  requestHashOf,
  type DeployInput,
  type DeployPolicy,
  type DeployStatus,
  type EnvironmentPolicy,
} from '../../src/shared/deploy';
import { startDevServer } from '../../src/tooling/dev-server';
import { approveUpdate, statusQuery } from '../../src/shared/deploy/messages';
import { fingerprintOf, refuseStart } from '../../src/shared/signing';
import type { opsAgent } from '../../src/workflows/agent';
import type { deploy } from '../../src/workflows/deploy';
import { testConfig, testInput } from '../helpers/config';
import { fakeDeps, FakeMetrics, FakeTarget, TYPED_NAMES_POLICY } from '../helpers/fakes';
import { DeployTestEnv, type DeployHandle } from '../helpers/workflow-env';
import { environmentRules } from '../helpers/policy';
import { testWorkflowBundle, WORKFLOW_DATA_CONVERTER } from '../helpers/workflow-bundle';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
const keysDir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-start-keys-'));
const lines: Record<string, string> = {};
before(async () => {
  await t.setup();
  for (const person of ['alice', 'bob', 'carol']) lines[person] = createKeyPair(keysDir, person).line;
});
after(async () => {
  await t.teardown();
  rmSync(keysDir, { recursive: true, force: true });
});

const production = (over: Partial<EnvironmentPolicy> = {}): EnvironmentPolicy =>
  environmentRules({ signedStart: true, ...over });

/** The worker's policy: alice and bob approve production, carol requests; production needs a signed start. */
function policy(over: Partial<EnvironmentPolicy> = {}): DeployPolicy {
  return {
    trustTypedNames: false,
    people: Object.fromEntries(Object.entries(lines).map(([p, publicKey]) => [p, { publicKey, groups: [] }])),
    environments: {
      production: production(over),
      staging: production({ protected: false, approvers: [], signedStart: false }),
    },
    source: 'test policy',
  };
}

/** The input signed as `person` with their key file, as `opsflow deploy start` signs it. */
async function signedAs(input: DeployInput, person: string): Promise<DeployInput> {
  const signer = await loadSigner(path.join(keysDir, `${person}.key`), undefined);
  const signed = await signStart(
    signer,
    {
      namespace: 'default',
      workflowId: input.deployId,
      service: input.service,
      version: input.version,
      environments: input.environments.map((e) => e.name),
      requestHash: requestHashOf(input),
    },
    person,
    { nowMs: await t.env.currentTimeMs() },
  );
  return { ...input, signedStart: signed };
}

/** A drive that approves production with alice's signed statement as soon as it waits. */
async function approveSigned(handle: DeployHandle, person = 'alice'): Promise<void> {
  await t.waitFor(handle, 'AWAITING_APPROVAL');
  const signing = (await handle.query(statusQuery)).signing;
  assert.ok(signing);
  const signed = await signDecision(
    await loadSigner(path.join(keysDir, `${person}.key`), undefined),
    {
      namespace: signing.namespace,
      workflowId: handle.workflowId,
      runId: signing.runId,
      environment: 'production',
      planHash: signing.planHashes['production'] ?? '',
    },
    { action: 'approve', person },
    { nowMs: await t.env.currentTimeMs() },
  );
  await handle.executeUpdate(approveUpdate, { args: [{ by: person, signed }] });
}

describe('signed starts', () => {
  it('a signed start names the requester by key: status, timeline and report say so', async () => {
    const run = await t.runDeploy(
      { policy: policy(), request: (input) => signedAs(input, 'carol') },
      async (handle) => {
        await t.waitFor(handle, 'AWAITING_APPROVAL');
        const status = await handle.query(statusQuery);
        assert.deepEqual(status.requester, { person: 'carol', signed: true, fingerprint: fingerprintOf(lines.carol!) });
        await approveSigned(handle);
      },
    );
    assert.equal(run.result?.outcome, 'promoted');
    const summary = readFileSync(path.join(t.workdir, run.status.report?.dir ?? '', 'summary.md'), 'utf8');
    assert.match(summary, /requested by carol, signed with SHA256:/);
    // OPSFLOW_RECORD_HISTORIES=1 refreshes the replay test's history of a signed start (its patches: deploy-id-pattern,
    // signed-start), named by its workflow id: the replay runs it under the file's name, and the start is bound to it.
    if (process.env['OPSFLOW_RECORD_HISTORIES'] === '1') {
      const file = path.join(__dirname, '..', 'histories', `${run.handle.workflowId}.json`);
      writeFileSync(file, historyToJSON(await run.handle.fetchHistory()));
    }
  });

  it('in the typed-names demo mode an unsigned start goes through, and status and report say it was a typed name', async () => {
    const run = await t.runDeploy({ policy: TYPED_NAMES_POLICY }, t.approve('alice'));
    assert.equal(run.result?.outcome, 'promoted');
    assert.deepEqual(run.status.requester, { person: 'carol', signed: false });
    const summary = readFileSync(path.join(t.workdir, run.status.report?.dir ?? '', 'summary.md'), 'utf8');
    assert.match(summary, /requested by carol, unsigned: a typed name \(demo mode\)/);
  });

  it('where the policy does not need a signed start, an unsigned one goes through as a typed name', async () => {
    const run = await t.runDeploy({ policy: policy({ signedStart: false }) }, (handle) => approveSigned(handle));
    assert.equal(run.result?.outcome, 'promoted');
    assert.deepEqual(run.status.requester, { person: 'carol', signed: false });
    assert.ok(
      run.status.timeline.some((e) => /requested by carol, unsigned: a typed name \(the policy/.test(e.message)),
    );
  });

  // On a dev server (the real clock, nothing skipped): the statement expires 4 s after the start, the worker comes 7 s
  // after it. A few seconds of wall time, where the time-skipping server took three minutes for its first poll.
  it("a signed start queued while no worker polls does not expire in the queue: its time is the server's start", async () => {
    const server = await startDevServer();
    const connection = await Connection.connect({ address: server.address });
    const native = await NativeConnection.connect({ address: server.address });
    try {
      const client = new Client({ connection });
      const n = t.next();
      const taskQueue = `queued-start-${n}`;
      const input = testInput(testConfig(), t.workdir, { feature: `queued-${n}` });
      input.deployId = `${input.deployId}-queued-${n}`;
      const signer = await loadSigner(path.join(keysDir, 'carol.key'), undefined);
      const signedStart = await signStart(
        signer,
        {
          namespace: 'default',
          workflowId: input.deployId,
          service: input.service,
          version: input.version,
          environments: input.environments.map((e) => e.name),
          requestHash: requestHashOf(input),
        },
        'carol',
        { nowMs: Date.now() - 596_000, ttlMs: 600_000 },
      );
      const handle = await client.workflow.start<typeof deploy>('deploy', {
        taskQueue,
        workflowId: input.deployId,
        args: [{ ...input, signedStart }],
      });
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      assert.ok(Date.now() > Date.parse(signedStart.statement.expiresAt), 'the statement has expired by now');
      const worker = await Worker.create({
        connection: native,
        taskQueue,
        workflowBundle: t.bundle,
        activities: createActivities(
          fakeDeps(
            new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' }),
            new FakeMetrics({}),
            'hello',
            policy(),
          ),
        ),
      });
      await worker.runUntil(async () => {
        try {
          let status: DeployStatus | undefined;
          for (let i = 0; i < 100 && status?.phase !== 'AWAITING_APPROVAL' && status?.phase !== 'FAILED'; i++) {
            await new Promise((resolve) => setTimeout(resolve, 200));
            status = await handle.query(statusQuery).catch(() => undefined);
          }
          assert.equal(status?.phase, 'AWAITING_APPROVAL', status?.reason);
          assert.equal(status?.requester?.signed, true);
        } finally {
          await handle.terminate('test over').catch(() => undefined);
        }
      });
    } finally {
      await connection.close();
      await native.close();
      await server.stop();
    }
  });

  it('through the ops agent, the signed start reaches the deploy it starts as a child', async () => {
    const n = t.next();
    const project = `signed-agent-${n}`;
    const taskQueue = `signed-agent-${n}`;
    const workdir = path.join(t.workdir, project);
    const target: AgentTarget = {
      project,
      taskQueue,
      workdir,
      config: agentConfigSchema.parse({ reviewAt: '09:00' }),
    };
    const worker = await Worker.create({
      connection: t.env.nativeConnection,
      taskQueue,
      workflowBundle: t.bundle,
      activities: {
        ...createActivities(
          fakeDeps(
            new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' }),
            new FakeMetrics({}),
            'hello',
            policy(),
          ),
        ),
        ...createAgentActivities({
          deployStatus: (id) => t.env.client.workflow.getHandle(id).query(statusQuery),
          deployOutcome: (deploy) => closedDeployOutcome(new Client({ connection: t.env.connection }), deploy),
        }),
      },
    });
    const agent = t.env.client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(project));
    await worker.runUntil(async () => {
      await t.env.client.workflow.start<typeof opsAgent>('opsAgent', { ...agentStartOperation(target).options });
      const input = testInput({ ...testConfig(), project }, workdir, { feature: `f-${project}` });
      const accepted = await requestDeployThroughAgent(t.env.client, target, await signedAs(input, 'carol'), false);
      const deploy = t.env.client.workflow.getHandle(accepted.deployId);
      try {
        await t.waitFor(deploy, 'AWAITING_APPROVAL');
        const status = await deploy.query(statusQuery);
        assert.equal(status.requester?.signed, true);
        assert.equal(status.requester?.person, 'carol');
      } finally {
        // Running workflows left behind would hold the test server's clock.
        await deploy.terminate('test over').catch(() => undefined);
        await agent.terminate('test over').catch(() => undefined);
      }
    });
  });
});

describe('replay', () => {
  const file = path.join(__dirname, '..', 'histories', 'deploy-hello-1.1.0-production-1.json');

  it('the committed history of a signed start replays, and fails to once its request is edited (the check runs on replay)', async () => {
    const options = {
      workflowBundle: await testWorkflowBundle(),
      dataConverter: WORKFLOW_DATA_CONVERTER,
      replayName: 'signed-start-replay',
    };
    const workflowId = path.basename(file, '.json');
    const history = JSON.parse(readFileSync(file, 'utf8'));
    await Worker.runReplayHistory(options, history, workflowId);
    const started = history.events[0].workflowExecutionStartedEventAttributes;
    const payload = started.input.payloads[0];
    const input = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as DeployInput;
    payload.data = Buffer.from(JSON.stringify({ ...input, reason: 'edited after signing' })).toString('base64');
    await assert.rejects(Worker.runReplayHistory(options, history, workflowId), (err: unknown) => {
      assert.ok(err instanceof DeterminismViolationError, String(err));
      return true;
    });
  });
});

describe('the CLI signs starts', () => {
  const base = testConfig();
  const withPolicy = (block: Record<string, unknown>) => ({ ...base, policy: policyConfigSchema.parse(block) });

  it('knows from opsflow.yaml which environments need a signed start', () => {
    assert.deepEqual(signedStartEnvironments(withPolicy({})), ['production'], 'protected, approvals signed: needed');
    assert.deepEqual(
      signedStartEnvironments(
        withPolicy({ environments: { production: { approvers: ['alice'], signedStart: false } } }),
      ),
      [],
    );
    assert.deepEqual(
      signedStartEnvironments(
        withPolicy({ environments: { production: { approvers: ['alice'], signed: ['reject'] } } }),
      ),
      [],
      'approvals not signed: a signed start proves nothing more',
    );
    assert.deepEqual(signedStartEnvironments(withPolicy({ trustTypedNames: true })), []);
  });

  it('signs as the requester with their key, refuses in one line without one where it is needed', async () => {
    const saved = { keys: process.env['OPSFLOW_KEYS_DIR'], agent: process.env['SSH_AUTH_SOCK'] };
    process.env['OPSFLOW_KEYS_DIR'] = keysDir;
    delete process.env['SSH_AUTH_SOCK'];
    try {
      const input = testInput(base, '/tmp/opsflow-start', { requestedBy: 'carol' });
      const made = await signStartFor(input, 'default', { required: ['production'] });
      assert.ok(made);
      assert.equal(made.signer.source, path.join(keysDir, 'carol.key'));
      const expected = {
        namespace: 'default',
        workflowId: input.deployId,
        service: 'hello',
        version: input.version,
        environments: ['staging', 'production'],
        requestHash: requestHashOf({ ...input, signedStart: made.signed }),
        nowMs: Date.now(),
      };
      assert.equal(
        refuseStart(made.signed, expected, (p) => lines[p]),
        undefined,
      );

      const keyless = testInput(base, '/tmp/opsflow-start', { requestedBy: 'nokey-person' });
      assert.equal(await signStartFor(keyless, 'default', { required: [] }), undefined, 'not needed: unsigned');
      await assert.rejects(signStartFor(keyless, 'default', { required: ['production'] }), (err: unknown) => {
        assert.ok(err instanceof CliError);
        assert.match(
          err.message,
          /^production needs a signed start, and there is no key for nokey-person in .*: run "opsflow keys init --name nokey-person"/,
        );
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    } finally {
      for (const [name, value] of [
        ['OPSFLOW_KEYS_DIR', saved.keys],
        ['SSH_AUTH_SOCK', saved.agent],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
