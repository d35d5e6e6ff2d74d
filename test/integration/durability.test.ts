import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { PlatformEvent } from '../../src/local-platform/api';
import type { DeployResult, DeployStatus } from '../../src/shared/deploy';
import { statusQuery } from '../../src/shared/deploy/messages';
import { Stack, waitFor } from '../helpers/stack';

/**
 * A deploy survives its worker being killed, and the Temporal server being stopped, in the middle of a canary bake:
 * it goes on from the step it was in, the platform sees every change once, and no approval or sample is lost.
 */
let stack: Stack;

before(async () => {
  stack = await Stack.start({
    pipeline: ['production'],
    configure: (config) => ({
      ...config,
      environments: {
        ...config.environments,
        production: {
          ...config.environments.production,
          canary: {
            steps: [
              { weight: 10, bake: '2s' },
              { weight: 50, bake: '3s' },
              { weight: 100, bake: '2s' },
            ],
          },
        },
      },
    }),
  });
});

after(async () => {
  await stack?.stop();
});

/** A client of the stack's current dev server, closed after `fn`. */
async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: stack.server.address });
  try {
    return await fn(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

function deployHandle(client: Client, workflowId: string): WorkflowHandle {
  return client.workflow.getHandle(workflowId);
}

async function status(workflowId: string): Promise<DeployStatus> {
  return withClient((client) => deployHandle(client, workflowId).query(statusQuery));
}

/** Starts a production deploy of hello `version` with the CLI and approves it; resolves once it is approved. */
async function startApproved(version: string): Promise<string> {
  const started = await stack.cli('deploy', 'start', '--service', 'hello', '--version', version, '--json');
  assert.equal(started.code, 0, started.stderr);
  const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
  await waitFor(async () => (await status(workflowId)).phase === 'AWAITING_APPROVAL', 30_000);
  // Through the CLI, which signs the approval with alice's key as the worker's policy asks.
  const approved = await stack.cli('deploy', 'approve', workflowId, '--by', 'alice', '--comment', 'go');
  assert.equal(approved.code, 0, approved.stderr);
  return workflowId;
}

/** Waits until the canary is in its second step (50 %) with at least one sample judged there: mid-bake. */
async function midSecondStep(workflowId: string): Promise<DeployStatus> {
  let current: DeployStatus | undefined;
  await waitFor(
    async () => {
      current = await status(workflowId);
      return current.canary?.step === 2 && current.samples.some((s) => s.step === 1);
    },
    60_000,
    () => JSON.stringify(current?.timeline.slice(-5)),
  );
  return current!;
}

async function result(workflowId: string): Promise<DeployResult> {
  return withClient((client) => deployHandle(client, workflowId).result() as Promise<DeployResult>);
}

/** Names of the activities the run scheduled, in order, from its history. */
async function scheduledActivities(workflowId: string): Promise<string[]> {
  const history = await withClient((client) => deployHandle(client, workflowId).fetchHistory());
  return (history.events ?? []).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
}

async function productionEvents(workflowId: string): Promise<PlatformEvent[]> {
  const events = await stack.platformClient.events({ environment: 'production', service: 'hello' });
  return events.filter((e) => e.deployId === workflowId);
}

async function productionTrack() {
  const state = await stack.platformClient.state();
  return state.environments.find((t) => t.environment === 'production')!;
}

/** What must hold after an interruption mid-bake: same path, nothing lost, nothing done twice. */
async function assertWentOn(workflowId: string, version: string, before: DeployStatus, canaryPid: number) {
  const outcome = await result(workflowId);
  assert.equal(outcome.outcome, 'promoted', outcome.reason);
  const final = await status(workflowId);
  assert.equal(final.phase, 'PROMOTED');

  // No approval or sample lost or rewritten: what was there before is still there, in the same order.
  assert.deepEqual(final.approvals, before.approvals);
  assert.deepEqual(final.samples.slice(0, before.samples.length), before.samples);
  assert.deepEqual(final.timeline.slice(0, before.timeline.length), before.timeline);
  // It went on from the step it was in: nothing measured for an earlier step after the interruption.
  const later = final.samples.slice(before.samples.length);
  assert.ok(later.length > 0, 'the bake was measured after the interruption');
  for (const s of later) assert.ok(s.step >= 1, `sample of step ${s.step + 1} after the interruption`);
  assert.deepEqual(
    final.samples.filter((s) => s.step === 0),
    before.samples.filter((s) => s.step === 0),
  );

  // The platform saw each change once: one canary start, each weight once, one promotion.
  const events = await productionEvents(workflowId);
  assert.deepEqual(
    events.map((e) => (e.kind === 'weight' ? `weight ${e.weight}` : e.kind)),
    ['canary-started', 'weight 10', 'weight 50', 'weight 100', 'promoted'],
  );
  // The canary process started before the interruption is the one promoted: never restarted.
  const track = await productionTrack();
  assert.equal(track.stable.version, version);
  assert.equal(track.stable.deployId, workflowId);
  assert.equal(track.stable.pid, canaryPid);
  assert.equal(track.canary, null);

  // The workflow asked for the release and the promotion once each.
  const activities = await scheduledActivities(workflowId);
  assert.equal(activities.filter((a) => a === 'startRelease').length, 1, activities.join(', '));
  assert.equal(activities.filter((a) => a === 'promoteRelease').length, 1, activities.join(', '));
}

describe('durability of a canary deploy (dev server, worker, local platform)', () => {
  it('goes on after the worker is killed with SIGKILL mid-bake', async () => {
    const workflowId = await startApproved('1.1.0');
    const before = await midSecondStep(workflowId);
    const canaryPid = (await productionTrack()).canary!.pid;
    assert.deepEqual(
      before.approvals.map((a) => a.by),
      ['alice'],
    );

    await stack.killWorker();
    // The bake's timer fires with no worker to see it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal((await productionTrack()).canary?.weight, 50, 'nothing changed while no worker ran');
    await stack.startWorker();

    await assertWentOn(workflowId, '1.1.0', before, canaryPid);
  });

  it('goes on after the dev server is stopped mid-bake and started again on the same SQLite file', async () => {
    const workflowId = await startApproved('1.0.0');
    const before = await midSecondStep(workflowId);
    const canaryPid = (await productionTrack()).canary!.pid;

    await stack.stopServer();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal((await productionTrack()).canary?.weight, 50, 'nothing changed while Temporal was down');
    await stack.startServer();

    await assertWentOn(workflowId, '1.0.0', before, canaryPid);
    assert.ok(stack.worker?.child.exitCode === null, `the worker rode out the outage:\n${stack.worker?.output()}`);
  });
});
