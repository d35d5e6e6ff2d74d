import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type Activities } from '../../src/activities';
import { createAgentActivities } from '../../src/activities/agent';
import { closedDeployOutcome } from '../../src/activities/agent/client-deps';
import { temporalIncidentBoard } from '../../src/activities/incidents';
import { agentStartOperation, requestDeployThroughAgent, type AgentTarget } from '../../src/cli/agent-front-door';
import { agentConfigSchema } from '../../src/config/agent';
import { createKeyPair, loadSigner, signDecision } from '../../src/keys/keys';
import { freezeSubject, type AgentStatus, type FreezeStartArgs } from '../../src/shared/agent';
import { agentWorkflowId } from '../../src/shared/agent/config';
import { agentStatusQuery, freezeUpdate, recordEventUpdate, unfreezeUpdate } from '../../src/shared/agent/messages';
import type { DeployPolicy, DeployResult, DeployStatus } from '../../src/shared/deploy';
import { statusQuery } from '../../src/shared/deploy/messages';
import type { OpsEvent } from '../../src/shared/notify/events';
import { hashOf, type SignedStatement } from '../../src/shared/signing';
import { PAYLOAD_CONVERTER_PATH } from '../../src/temporal/codec';
import { resolveTestServer } from '../../src/tooling/temporal-bin';
import type { opsAgent } from '../../src/workflows/agent';
import { testConfig, testInput } from '../helpers/config';
import { testWorkflowBundle } from '../helpers/workflow-bundle';
import { fakeDeps, FakeMetrics, FakeTarget } from '../helpers/fakes';
import { environmentRules } from '../helpers/policy';

Runtime.install({ logger: new DefaultLogger('WARN') });

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleOption;
let root: string;
let counter = 0;
const people = ['alice', 'bob', 'mallory'] as const;
type Person = (typeof people)[number];
const lines = {} as Record<Person, string>;

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTestServer() } },
  });
  bundle = await testWorkflowBundle();
  root = mkdtempSync(path.join(os.tmpdir(), 'opsflow-freeze-'));
  for (const person of people) lines[person] = createKeyPair(root, person).line;
});

after(async () => {
  await env?.teardown();
  rmSync(root, { recursive: true, force: true });
});

/** The worker's policy: alice and bob approve both environments; staging needs no approval; mallory approves nothing. */
function policy(): DeployPolicy {
  return {
    trustTypedNames: false,
    people: {
      alice: { publicKey: lines.alice, groups: [] },
      bob: { publicKey: lines.bob, groups: [] },
      mallory: { publicKey: lines.mallory, groups: [] },
    },
    environments: { staging: environmentRules({ protected: false }), production: environmentRules() },
    notify: { events: ['freeze.waiting'], escalation: {} },
    source: 'test policy',
  };
}

interface Harness {
  handle: WorkflowHandle<typeof opsAgent>;
  status: () => Promise<AgentStatus>;
  deploy: (version: string) => Promise<string>;
  /** A freeze or unfreeze statement for the agent's current run, as `opsflow freeze` signs it. */
  sign: (
    signer: Person,
    action: 'freeze' | 'unfreeze',
    environment: string,
    subject: Record<string, string>,
  ) => Promise<SignedStatement>;
}

/**
 * One agent and its worker: the deploy and agent activities, with fake target and metrics, the signed policy, and the
 * incident board read from the agent through a client of the same server, as the worker reads it.
 */
async function withAgent(
  options: { notified?: OpsEvent[]; forge?: (real: Activities) => Partial<Activities> },
  body: (h: Harness) => Promise<void>,
): Promise<void> {
  counter += 1;
  const project = `freeze-test-${counter}`;
  const workdir = path.join(root, project);
  const target: AgentTarget = {
    project,
    taskQueue: project,
    workdir,
    config: agentConfigSchema.parse({ reviewAt: '09:00' }),
  };
  // A plain client: the time-skipping one would skip time while it waits.
  const plain = new Client({ connection: env.connection });
  const real = createActivities({
    ...fakeDeps(
      new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' }),
      new FakeMetrics({}),
      'hello',
      policy(),
    ),
    incidents: temporalIncidentBoard(plain, project),
  });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: project,
    workflowBundle: bundle,
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
    activities: {
      ...real,
      ...(options.forge?.(real) ?? {}),
      notify: async (event: OpsEvent) => {
        options.notified?.push(event);
        return [{ channel: 'team', ok: true, detail: 'posted' }];
      },
      ...createAgentActivities({
        deployStatus: (id) => env.client.workflow.getHandle(id).query(statusQuery),
        deployOutcome: (deploy) => closedDeployOutcome(plain, deploy),
      }),
    },
  });
  const handle = env.client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(project));
  const deploys: string[] = [];
  await worker.runUntil(async () => {
    await env.client.workflow.start<typeof opsAgent>('opsAgent', { ...agentStartOperation(target).options });
    try {
      await body({
        handle,
        status: () => handle.query(agentStatusQuery),
        deploy: async (version) => {
          const config = { ...testConfig(), project };
          const input = testInput(config, workdir, { version, feature: `f-${project}-${version}` });
          const { deployId } = await requestDeployThroughAgent(env.client, target, input, false);
          deploys.push(deployId);
          return deployId;
        },
        sign: async (signer, action, environment, subject) =>
          signDecision(
            await loadSigner(path.join(root, `${signer}.key`), undefined),
            {
              namespace: 'default',
              workflowId: handle.workflowId,
              runId: (await handle.describe()).runId,
              environment,
              planHash: hashOf(subject),
            },
            { action, person: signer },
            { nowMs: await env.currentTimeMs() },
          ),
      });
    } finally {
      // Anything left running would hold the shared test server's clock with its pending work.
      for (const id of [...deploys, handle.workflowId]) {
        const running = env.client.workflow.getHandle(id);
        if ((await running.describe()).status.name === 'RUNNING') await running.terminate('test over');
      }
    }
  });
}

async function deployStatus(deployId: string): Promise<DeployStatus> {
  return env.client.workflow.getHandle(deployId).query(statusQuery);
}

async function waitForPhase(deployId: string, phase: string): Promise<DeployStatus> {
  for (let i = 0; i < 300; i++) {
    const status = await deployStatus(deployId);
    if (status.phase === phase) return status;
    await env.sleep('1s');
  }
  return assert.fail(`deploy ${deployId} never reached ${phase}`);
}

const startArgs = (environment: string, reason: string, by: string): FreezeStartArgs => ({ environment, reason, by });

describe('incident freezes stop the line', () => {
  it('a signed freeze holds a deploy at the environment; a forged one is refused; the signed end releases it at once', async () => {
    const notified: OpsEvent[] = [];
    await withAgent({ notified }, async (h) => {
      const args = startArgs('staging', 'payments outage INC-42', 'alice');
      // Forgeries, each refused in one line with nothing kept: mallory approves nothing; alice's name on mallory's key.
      const refused = async (signed: SignedStatement, by: string, pattern: RegExp) => {
        const err = await h.handle.executeUpdate(freezeUpdate, { args: [{ ...args, by, signed }] }).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
        assert.match(String((err.cause as Error | undefined)?.message), pattern);
      };
      const subject = freezeSubject(args);
      await refused(
        await h.sign('mallory', 'freeze', 'staging', subject),
        'mallory',
        /mallory is not an approver of staging/,
      );
      await refused(
        await h.sign('alice', 'freeze', 'staging', freezeSubject({ ...args, reason: 'another reason' })),
        'alice',
        /another planHash/,
      );
      assert.deepEqual((await h.status()).freezes, []);

      const signed = await h.sign('alice', 'freeze', 'staging', subject);
      const freeze = await h.handle.executeUpdate(freezeUpdate, { args: [{ ...args, signed }] });
      assert.deepEqual(
        [freeze.id, freeze.environment, freeze.raisedBy, freeze.source],
        ['incident-1', 'staging', 'alice', 'person'],
      );
      // The same statement twice counts once.
      await h.handle.executeUpdate(freezeUpdate, { args: [{ ...args, signed }] }).then(
        () => assert.fail('a statement counted twice'),
        (e: unknown) => assert.match(String((e as Error).cause), /already used/),
      );

      const deployId = await h.deploy('1.1.0');
      const held = await waitForPhase(deployId, 'FROZEN');
      assert.equal(held.frozen?.freeze, 'incident-1: payments outage INC-42');
      assert.equal(held.frozen?.until, undefined);
      await env.sleep('1 hour');
      assert.equal((await deployStatus(deployId)).phase, 'FROZEN', 'still held an hour later');

      const endSubject = freezeSubject({ id: 'incident-1' });
      const ended = await h.handle.executeUpdate(unfreezeUpdate, {
        args: [
          {
            id: 'incident-1',
            by: 'bob',
            reason: 'payments restored',
            signed: await h.sign('bob', 'unfreeze', 'staging', endSubject),
          },
        ],
      });
      assert.equal(ended.id, 'incident-1');
      const endedAt = await env.currentTimeMs();
      const after = await waitForPhase(deployId, 'AWAITING_APPROVAL');
      const lifted = after.timeline.find((e) => e.message === 'the freeze of staging has lifted');
      assert.ok(lifted, 'the timeline says the freeze lifted');
      // Told by the agent's signal, not found at the next five-minute check.
      assert.ok(Date.parse(lifted.at) - endedAt < 60_000, `lifted ${Date.parse(lifted.at) - endedAt} ms after the end`);
      const status = await h.status();
      assert.deepEqual(status.freezes, []);
      assert.deepEqual(
        status.endedFreezes.map((f) => [f.id, f.endedBy]),
        [['incident-1', 'bob']],
      );
    });
    const changes = notified.filter((e) => e.type === 'freeze.changed');
    assert.deepEqual(
      changes.map((e) => (e.type === 'freeze.changed' ? [e.change, e.freezeId, e.environment, e.by] : [])),
      [
        ['started', 'incident-1', 'staging', 'alice'],
        ['ended', 'incident-1', 'staging', 'bob'],
      ],
    );
    assert.ok(
      notified.some((e) => e.type === 'freeze.waiting'),
      'the held deploy says it waits',
    );
  });

  it('a critical incident freezes what it names; its resolved event lifts the freeze; other events freeze nothing', async () => {
    await withAgent({}, async (h) => {
      const warning = await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'incident', severity: 'warning', message: 'latency up', environment: 'staging', key: 'INC-7' }],
      });
      assert.deepEqual(warning.actions, []);
      const firing = await h.handle.executeUpdate(recordEventUpdate, {
        args: [
          {
            type: 'incident',
            severity: 'critical',
            message: 'db down',
            environment: 'staging',
            key: 'INC-7',
            by: 'alertmanager',
          },
        ],
      });
      assert.deepEqual(firing.actions, ['froze staging (incident-1)']);
      // Firing again (Alertmanager repeats) raises nothing new.
      const again = await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'incident', severity: 'critical', message: 'db down', environment: 'staging', key: 'INC-7' }],
      });
      assert.deepEqual(again.actions, []);
      const deployId = await h.deploy('1.1.0');
      assert.equal((await waitForPhase(deployId, 'FROZEN')).frozen?.freeze, 'incident-1: db down');
      const resolved = await h.handle.executeUpdate(recordEventUpdate, {
        args: [
          {
            type: 'incident',
            severity: 'critical',
            status: 'resolved',
            message: 'db back',
            environment: 'staging',
            key: 'INC-7',
          },
        ],
      });
      assert.deepEqual(resolved.actions, ['lifted the freeze incident-1']);
      await waitForPhase(deployId, 'AWAITING_APPROVAL');
      const ended = (await h.status()).endedFreezes;
      assert.deepEqual(
        ended.map((f) => [f.id, f.source, f.key]),
        [['incident-1', 'event', 'INC-7']],
      );
    });
  });

  it('a forged "no freeze" answer to the deploy does not start the release: the worker asks the agent itself', async () => {
    await withAgent({ forge: () => ({ incidentFreezes: async () => [] }) }, async (h) => {
      const args = startArgs('staging', 'payments outage', 'alice');
      await h.handle.executeUpdate(freezeUpdate, {
        args: [{ ...args, signed: await h.sign('alice', 'freeze', 'staging', freezeSubject(args)) }],
      });
      const deployId = await h.deploy('1.1.0');
      const result: DeployResult | undefined = await env.client.workflow
        .getHandle(deployId)
        .result()
        .catch(() => undefined);
      const status = await deployStatus(deployId);
      assert.notEqual(result?.outcome, 'promoted');
      assert.ok(
        status.timeline.some((e) =>
          /staging is frozen \("incident-1: payments outage"\) until someone ends it/.test(e.message),
        ),
        JSON.stringify(status.timeline.map((e) => e.message)),
      );
    });
  });
});
