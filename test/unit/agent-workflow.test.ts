import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { RawValue } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { createAgentActivities } from '../../src/activities/agent';
import { closedDeployOutcome } from '../../src/activities/agent/client-deps';
import { agentStartOperation, requestDeployThroughAgent, type AgentTarget } from '../../src/cli/agent-front-door';
import type { AgentResult, AgentStatus } from '../../src/shared/agent';
import { agentConfigSchema } from '../../src/config/agent';
import { agentWorkflowId } from '../../src/shared/agent/config';
import type { DeployResult, Phase } from '../../src/shared/deploy';
import { PAYLOAD_CONVERTER_PATH } from '../../src/temporal/codec';
import { resolveTestServer } from '../../src/tooling/temporal-bin';
import { agentStatusQuery, recordEventUpdate, reviewNowUpdate, stopUpdate } from '../../src/shared/agent/messages';
import type { OpsEvent } from '../../src/shared/notify/events';
import type { opsAgent } from '../../src/workflows/agent';
import { approveUpdate, deployFinishedSignal, statusQuery } from '../../src/shared/deploy/messages';
import { testConfig, testInput } from '../helpers/config';
import { testWorkflowBundle } from '../helpers/workflow-bundle';
import { fakeDeps, FakeMetrics, FakeTarget, type VersionProfile } from '../helpers/fakes';

Runtime.install({ logger: new DefaultLogger('WARN') });

const HOUR = 3_600_000;
/** Set OPSFLOW_RECORD_HISTORIES=1 to refresh the committed replay histories from these runs. */
const RECORD = process.env['OPSFLOW_RECORD_HISTORIES'] === '1';

async function recordHistory(workflowId: string, runId: string | undefined, name: string): Promise<void> {
  if (!RECORD) return;
  const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  writeFileSync(path.join(__dirname, '..', 'histories', `${name}.json`), historyToJSON(history));
}
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleOption;
let root: string;
let counter = 0;

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTestServer() } },
  });
  bundle = await testWorkflowBundle();
  root = mkdtempSync(path.join(os.tmpdir(), 'opsflow-agent-'));
});

after(async () => {
  await env?.teardown();
  rmSync(root, { recursive: true, force: true });
});

interface Harness {
  target: AgentTarget;
  handle: WorkflowHandle<typeof opsAgent>;
  workdir: string;
  project: string;
  status: () => Promise<AgentStatus>;
  deploy: (version: string) => Promise<string>;
}

/** Runs one agent (own project, task queue and workdir) with a worker whose deploys use fakes. */
async function withAgent<T>(
  options: {
    config?: Record<string, unknown>;
    profiles?: Record<string, VersionProfile>;
    start?: boolean;
    /** Keeps what the worker is asked to notify (a channel that answers at once). */
    notified?: OpsEvent[];
    /** Gives the agent's activities the project's config, as the worker gives its own (for OPERATIONS.md). */
    operations?: boolean;
  },
  body: (h: Harness) => Promise<T>,
): Promise<T> {
  counter += 1;
  const project = `agent-test-${counter}`;
  const taskQueue = `agent-test-${counter}`;
  const workdir = path.join(root, project);
  const deployConfig = { ...testConfig(), project };
  const target: AgentTarget = {
    project,
    taskQueue,
    workdir,
    config: agentConfigSchema.parse({ reviewAt: '09:00', ...options.config }),
  };
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
    activities: {
      ...createActivities(
        fakeDeps(
          new FakeTarget(['1.0.0', '1.1.0', '1.2.0'], { staging: '1.0.0', production: '1.0.0' }),
          new FakeMetrics(options.profiles ?? {}),
        ),
      ),
      ...(options.notified
        ? {
            notify: async (event: OpsEvent) => {
              options.notified?.push(event);
              return [{ channel: 'team', ok: true, detail: 'posted' }];
            },
          }
        : {}),
      ...createAgentActivities({
        deployStatus: (id) => env.client.workflow.getHandle(id).query(statusQuery),
        // A plain client: the time-skipping one would skip time while it waits, timing the activity out.
        deployOutcome: (deploy) => closedDeployOutcome(new Client({ connection: env.connection }), deploy),
        ...(options.operations
          ? { operations: { config: deployConfig, path: path.join(workdir, 'opsflow.yaml') } }
          : {}),
      }),
    },
  });
  const handle = env.client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(project));
  return worker.runUntil(async () => {
    if (options.start !== false) {
      const op = agentStartOperation(target);
      await env.client.workflow.start<typeof opsAgent>('opsAgent', { ...op.options });
    }
    try {
      return await body({
        target,
        handle,
        workdir,
        project,
        status: () => handle.query(agentStatusQuery),
        deploy: async (version) => {
          const input = testInput(deployConfig, workdir, { version, feature: `f-${project}-${version}` });
          const accepted = await requestDeployThroughAgent(env.client, target, input, false);
          return accepted.deployId;
        },
      });
    } finally {
      // A running agent left behind would hold the shared test server's clock with its pending timers.
      if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('test over');
    }
  });
}

async function waitForPhase(deployId: string, phase: Phase): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const status = await env.client.workflow.getHandle(deployId).query(statusQuery);
    if (status.phase === phase) return;
    await env.sleep('1s');
  }
  assert.fail(`deploy ${deployId} never reached ${phase}`);
}

/** Approves production and waits for the deploy's ending. */
async function approveAndFinish(deployId: string): Promise<DeployResult | undefined> {
  await waitForPhase(deployId, 'AWAITING_APPROVAL');
  await env.client.workflow.getHandle(deployId).executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
  return env.client.workflow
    .getHandle(deployId)
    .result()
    .then(
      (r: DeployResult) => r,
      () => undefined,
    );
}

async function waitForAgent(h: Harness, check: (s: AgentStatus) => boolean, what: string): Promise<AgentStatus> {
  for (let i = 0; i < 100; i++) {
    const s = await h.status();
    if (check(s)) return s;
    await env.sleep('1s');
  }
  assert.fail(`agent never reached: ${what}`);
}

/** "HH:MM" some hours after the test server's current time. */
async function utcTimeIn(hours: number): Promise<string> {
  const t = new Date((await env.currentTimeMs()) + hours * HOUR);
  return `${String(t.getUTCHours()).padStart(2, '0')}:${String(t.getUTCMinutes()).padStart(2, '0')}`;
}

describe('ops agent', () => {
  it('is still running after 47 h 59 min of silence and ends with reason idle at 48 h', async () => {
    await withAgent({ config: { reviewAt: await utcTimeIn(-1) } }, async (h) => {
      const started = await h.status();
      assert.equal(new Date(started.idleDeadline).getTime() - new Date(started.startedAt).getTime(), 48 * HOUR);
      await env.sleep(47 * HOUR + 59 * 60_000);
      assert.equal((await h.handle.describe()).status.name, 'RUNNING');
      await env.sleep(2 * 60_000);
      const result: AgentResult = await h.handle.result();
      assert.equal(result.reason, 'idle');
      assert.match(result.detail, /no deployment or infrastructure event since/);
      assert.ok(result.files.some((f) => f.endsWith('.md')));
      const report = JSON.parse(
        readFileSync(path.join(h.workdir, result.files.find((f) => f.endsWith('.json')) ?? 'x'), 'utf8'),
      );
      assert.equal(report.reason, 'idle');
      assert.equal(report.reviews, 2, 'two daily reviews fell inside the 48 hours');
      await recordHistory(h.handle.workflowId, undefined, 'agent-idle');
    });
  });

  it('moves the idle deadline to 95 h when an event arrives at 47 h', async () => {
    await withAgent({}, async (h) => {
      const startedAt = new Date((await h.status()).startedAt).getTime();
      await env.sleep(47 * HOUR);
      const recorded = await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'scale', severity: 'info', message: 'added two replicas' }],
      });
      assert.equal(recorded.id, 1);
      const status = await h.status();
      const deadline = new Date(status.idleDeadline).getTime() - startedAt;
      assert.ok(Math.abs(deadline - 95 * HOUR) < 60_000, `deadline at ${deadline / HOUR} h`);
      assert.equal(status.recentEvents[0]?.message, 'added two replicas');
      await env.sleep(47 * HOUR + 50 * 60_000);
      assert.equal((await h.handle.describe()).status.name, 'RUNNING', 'still running at 94 h 50 min');
      const result = await h.handle.result();
      assert.equal(result.reason, 'idle');
      assert.equal(result.total.events, 1);
      const ended = new Date(result.endedAt).getTime() - startedAt;
      assert.ok(ended >= 95 * HOUR && ended < 95 * HOUR + 60_000, `ended at ${ended / HOUR} h`);
    });
  });

  it('refuses malformed events and events for a stopping agent without writing history', async () => {
    await withAgent({}, async (h) => {
      await assert.rejects(
        h.handle.executeUpdate(recordEventUpdate, {
          args: [{ type: 'earthquake', severity: 'info', message: 'x' }] as never,
        }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError &&
          /^invalid argument: type: /.test(String((err.cause as Error).message)) &&
          !String((err.cause as Error).message).includes('\n'),
      );
      await h.handle.executeUpdate(stopUpdate, { args: [{ by: 'orchestrator', reason: 'project done' }] });
      await assert.rejects(
        h.handle.executeUpdate(stopUpdate, { args: [{ by: 'orchestrator', reason: 'again' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && /already stopping/.test(String((err.cause as Error).message)),
      );
      const result = await h.handle.result();
      assert.equal(result.reason, 'requested');
      const history = await h.handle.fetchHistory();
      const accepted = history.events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes) ?? [];
      assert.equal(accepted.length, 1, 'only the first stop reached history');
    });
  });

  it('ignores Signals and refuses Updates whose payload cannot be decoded, and still answers and stops', async () => {
    await withAgent({}, async (h) => {
      // As `temporal workflow signal --input-meta encoding=binary/bogus` sends it.
      const bogus = RawValue.fromPayload({
        metadata: { encoding: Buffer.from('binary/bogus') },
        data: Buffer.from('"x"'),
      }) as never;
      for (const name of ['recordEvent', 'stop', 'deployFinished']) await h.handle.signal(name, bogus);
      for (const update of [recordEventUpdate.name, stopUpdate.name]) {
        await assert.rejects(
          h.handle.executeUpdate(update, { args: [bogus] }),
          (err: unknown) =>
            err instanceof WorkflowUpdateFailedError &&
            (err.cause as Error).message === 'its payload cannot be decoded (unknown encoding binary/bogus)',
        );
      }
      const status = await h.status();
      assert.equal(status.state, 'running');
      assert.deepEqual(status.recentEvents, []);
      await h.handle.executeUpdate(stopUpdate, { args: [{ by: 'orchestrator', reason: 'project done' }] });
      assert.equal((await h.handle.result()).reason, 'requested');
    });
  });

  it('writes three daily self-reviews over three days, with the figures of each day', async () => {
    const reviewAt = await utcTimeIn(12);
    await withAgent(
      {
        config: { reviewAt, idleTimeout: '5d' },
        profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.2, p95Ms: 300 } },
      },
      async (h) => {
        const promotedId = await h.deploy('1.1.0');
        assert.equal((await approveAndFinish(promotedId))?.outcome, 'promoted');
        const rolledBackId = await h.deploy('1.2.0');
        assert.equal((await approveAndFinish(rolledBackId))?.outcome, 'rolled-back');
        const afterDeploys = await waitForAgent(h, (s) => s.recentDeploys.length === 2, 'two deploys recorded');
        assert.equal(afterDeploys.figures.sinceLastReview.promoted, 1);
        assert.equal(afterDeploys.figures.sinceLastReview.rolledBack, 1);
        assert.equal(afterDeploys.figures.total.changeFailureRate, 0.5);
        const rolledBack = afterDeploys.recentDeploys.find((d) => d.deployId === rolledBackId);
        assert.equal(rolledBack?.cause, 'error-rate');
        assert.ok((rolledBack?.restoreMs ?? 0) > 0, 'time to restore measured');
        // Three days later: three reviews, the first with both deploys, the next two quiet.
        await env.sleep(72 * HOUR);
        const status = await h.status();
        assert.equal(status.reviews.count, 3);
        const dir = path.join(h.workdir, 'docs/operations/self-review');
        const files = readdirSync(dir).sort();
        assert.equal(files.length, 3, files.join(', '));
        const first = readFileSync(path.join(dir, files[0] ?? ''), 'utf8');
        assert.match(
          first,
          /\| deployments \(promoted \/ rolled back \/ failed \/ cancelled\) \| 2 \(1 \/ 1 \/ 0 \/ 0\) \|/,
        );
        assert.match(first, /\| success rate \| 50\.0 % \|/);
        assert.match(first, /\| Is the deployment success rate on target\? \| ❌ failing \|/);
        assert.match(first, /hello\/error-rate: 1/);
        const last = readFileSync(path.join(dir, files[2] ?? ''), 'utf8');
        assert.match(
          last,
          /\| deployments \(promoted \/ rolled back \/ failed \/ cancelled\) \| 0 \(0 \/ 0 \/ 0 \/ 0\) \| 2 \(1 \/ 1 \/ 0 \/ 0\) \|/,
        );
        const log = readFileSync(path.join(h.workdir, 'docs/operations/agent-log.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { type: string; day?: { deploys: number; successRate: number | null } });
        const reviews = log.filter((l) => l.type === 'self-review');
        assert.deepEqual(
          reviews.map((r) => [r.day?.deploys, r.day?.successRate]),
          [
            [2, 0.5],
            [0, null],
            [0, null],
          ],
        );
        assert.equal(log.filter((l) => l.type === 'deploy').length, 2);
        // The rollback's blameless post-mortem leads with impact and carries samples and timeline.
        const incidents = readdirSync(path.join(h.workdir, 'docs/incidents'));
        assert.equal(incidents.length, 1);
        assert.match(incidents[0] ?? '', /^\d{4}-\d{2}-\d{2}-hello-1\.2\.0\.md$/);
        const pm = readFileSync(path.join(h.workdir, 'docs/incidents', incidents[0] ?? ''), 'utf8');
        const sections = [...pm.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
        assert.equal(sections[0], 'Impact');
        assert.match(pm, /\*\*production\*\* sent up to \*\*10 %\*\*/);
        assert.match(pm, /\*\*20 errors in 100 requests\*\* \(20\.0 %\)/);
        assert.match(
          pm,
          /\| \d\d:\d\d:\d\d \| production \| 1 \| 10 % \| 100 \| 20 \| 20\.0 % \| 300 ms \| \*\*critical\*\*/,
        );
        assert.match(pm, /\| ROLLING_BACK \| production \| rolling back production/);
      },
    );
  });

  it('refreshes OPERATIONS.md with each daily review and lists it in files-changed.json', async () => {
    await withAgent(
      {
        config: { reviewAt: await utcTimeIn(2), idleTimeout: '5d' },
        profiles: { 'production/1.2.0': { requests: 100, errorRate: 0.2, p95Ms: 300 } },
        operations: true,
      },
      async (h) => {
        const rolledBackId = await h.deploy('1.2.0');
        assert.equal((await approveAndFinish(rolledBackId))?.outcome, 'rolled-back');
        await waitForAgent(h, (s) => s.recentDeploys.length === 1, 'the deploy recorded');
        assert.ok(!existsSync(path.join(h.workdir, 'docs/OPERATIONS.md')), 'not before the review');
        await env.sleep(3 * HOUR);
        const status = await waitForAgent(h, (s) => s.reviews.count === 1, 'the first review');
        const md = readFileSync(path.join(h.workdir, 'docs/OPERATIONS.md'), 'utf8');
        assert.match(
          md,
          new RegExp(`^Generated by the ops agent's daily self-review of ${status.reviews.last?.date}`, 'm'),
        );
        assert.match(md, /\| change failure rate \| 100 % \| – \|/);
        assert.match(md, /\| steps \| 10 % for 2m → 50 % for 2m → 100 % for 2m \|/);
        assert.match(md, /\| approvers \| alice, bob \|/);
        const incident = readdirSync(path.join(h.workdir, 'docs/incidents'))[0] ?? '';
        assert.ok(existsSync(path.join(h.workdir, 'docs/incidents', incident)));
        assert.match(
          md,
          new RegExp(
            `- \\*\\*error-rate\\*\\* \\(1\\): .*\\n  - \\[[0-9-]+ hello 1\\.2\\.0\\]\\(incidents/${incident.replace(/\./g, '\\.')}\\): rolled-back`,
          ),
        );
        const changed = JSON.parse(readFileSync(path.join(h.workdir, 'docs/operations/files-changed.json'), 'utf8'));
        assert.deepEqual(changed, {
          created: [status.reviews.last?.file, 'docs/OPERATIONS.md', 'docs/operations/files-changed.json'],
          modified: ['docs/operations/agent-log.jsonl'],
          deleted: [],
        });
        assert.ok(status.artifacts.includes('docs/OPERATIONS.md'), status.artifacts.join(', '));
        // The worker measured what its config gives: no scanner (not measured, said so), the metrics sources.
        const reviewMd = readFileSync(path.join(h.workdir, status.reviews.last?.file ?? ''), 'utf8');
        assert.match(
          reviewMd,
          /\| Any security vulnerabilities detected\? \| – not measured \| No vulnerability scanner is configured on the worker .* \| the day's deploy statuses and freeze requests \|/,
        );
        assert.match(
          reviewMd,
          /\| How can monitoring be improved\? \| ✅ met \| Every service has a metrics source .* \| opsflow\.yaml \(analysis\.provider per environment\); the day's analysis samples \|/,
        );
        assert.match(md, /\*\*Vulnerability Scanning\*\*: _No source yet: a `security` block in opsflow\.yaml/);
        // The next day's review refreshes it.
        await env.sleep(24 * HOUR);
        await waitForAgent(h, (s) => s.reviews.count === 2, 'the second review');
        const next = JSON.parse(readFileSync(path.join(h.workdir, 'docs/operations/files-changed.json'), 'utf8'));
        assert.ok(next.modified.includes('docs/OPERATIONS.md'), JSON.stringify(next));
      },
    );
  });

  it('aborts the running canary of a service on a critical alert for it (immediate rollback)', async () => {
    await withAgent({}, async (h) => {
      const deployId = await h.deploy('1.1.0');
      await waitForPhase(deployId, 'AWAITING_APPROVAL');
      await env.client.workflow.getHandle(deployId).executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
      await waitForPhase(deployId, 'CANARY');
      const info = await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'alert', severity: 'info', message: 'cpu at 60 %', service: 'hello' }],
      });
      assert.deepEqual(info.actions, [], 'only a critical alert aborts');
      const recorded = await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'alert', severity: 'critical', message: 'error rate 12 % on hello', service: 'hello' }],
      });
      assert.deepEqual(recorded.actions, [`aborted ${deployId}`]);
      const result = await env.client.workflow
        .getHandle(deployId)
        .result()
        .catch(() => undefined);
      assert.equal((result as DeployResult | undefined)?.outcome, 'rolled-back');
      const status = await waitForAgent(h, (s) => s.recentDeploys.length === 1, 'outcome learnt');
      assert.equal(status.recentDeploys[0]?.cause, 'aborted');
      assert.equal(status.figures.total.aborts, 1);
      assert.equal(status.figures.total.criticalEvents, 1);
      await recordHistory(h.handle.workflowId, undefined, 'agent-critical-alert-abort');
    });
  });

  it("tells people of escalations (a critical event alerts at once) and of its review, through the worker's notify", async () => {
    const notified: OpsEvent[] = [];
    await withAgent({ notified }, async (h) => {
      await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'alert', severity: 'info', message: 'cpu at 60 %' }],
      });
      await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'alert', severity: 'warning', message: 'p95 at 1.5 s' }],
      });
      await h.handle.executeUpdate(recordEventUpdate, {
        args: [{ type: 'incident', severity: 'critical', message: 'eu-west database down', by: 'pagerduty' }],
      });
      await h.handle.executeUpdate(reviewNowUpdate, { args: [{ by: 'alice' }] });
      await h.handle.executeUpdate(stopUpdate, { args: [{ by: 'alice', reason: 'test over' }] }).catch(() => undefined);
      await h.handle.result().catch(() => undefined);
    });
    // Each notification is its own activity beside the agent: they arrive in the order their sends end.
    assert.deepEqual(
      notified.map((e) => [e.type, e.severity]).sort(),
      [
        ['agent.escalation', 'critical'],
        ['agent.review', 'info'],
        ['freeze.changed', 'warning'],
      ],
      'an info or warning event is not escalated; the critical incident stops the line',
    );
    const escalation = notified.find((e) => e.type === 'agent.escalation');
    assert.ok(escalation?.type === 'agent.escalation');
    assert.deepEqual(
      [escalation.kind, escalation.source, escalation.summary],
      ['incident', 'pagerduty', 'eu-west database down (froze every protected environment (incident-1))'],
    );
    const review = notified.find((e) => e.type === 'agent.review');
    assert.ok(review?.type === 'agent.review');
    assert.match(review.path, /\.md$/);
  });

  it('lets a running deploy finish after a stop request, then ends with reason requested', async () => {
    await withAgent({}, async (h) => {
      const deployId = await h.deploy('1.1.0');
      await waitForPhase(deployId, 'AWAITING_APPROVAL');
      const stopping = await h.handle.executeUpdate(stopUpdate, {
        args: [{ by: 'orchestrator', reason: 'phase complete' }],
      });
      assert.equal(stopping.state, 'stopping');
      assert.equal(stopping.running[0]?.deployId, deployId);
      await assert.rejects(
        h.deploy('1.2.0'),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && /stopping/.test(String((err.cause as Error).message)),
      );
      await env.sleep('30 minutes');
      assert.equal((await h.handle.describe()).status.name, 'RUNNING', 'waits for the deploy');
      assert.equal((await approveAndFinish(deployId))?.outcome, 'promoted');
      const result = await h.handle.result();
      assert.equal(result.reason, 'requested');
      assert.match(result.detail, /orchestrator: phase complete/);
      assert.equal(result.total.promoted, 1);
      const md = readFileSync(path.join(h.workdir, result.files[0] ?? ''), 'utf8');
      assert.match(md, /\*\*Ended \(requested\)\*\*/);
      assert.match(md, new RegExp(`${deployId}: \\*\\*promoted\\*\\*`));
    });
  });

  it('ignores a crafted deployFinished: a path as service, another version, a malformed result', async () => {
    await withAgent({}, async (h) => {
      const deployId = await h.deploy('1.1.0');
      await waitForPhase(deployId, 'AWAITING_APPROVAL');
      const crafted = {
        deployId,
        service: '../../.github/workflows/evil',
        version: '1.1.0',
        outcome: 'rolled-back',
        reason: 'x',
        phase: 'ROLLED_BACK',
        durationMs: 1,
        report: null,
      } as const;
      await h.handle.signal(deployFinishedSignal, crafted);
      await h.handle.signal(deployFinishedSignal, { ...crafted, service: 'hello', version: '9.9.9' });
      await h.handle.signal(deployFinishedSignal, { deployId } as unknown as DeployResult);
      await env.sleep('1s');
      const status = await h.status();
      assert.deepEqual(
        status.running.map((r) => r.deployId),
        [deployId],
        'the deploy still counts as running',
      );
      assert.equal(existsSync(path.join(h.workdir, '.github')), false);
      assert.equal(existsSync(path.join(root, '.github')), false);
      // The deploy's id is the next test's too: it must not outlive this test's worker.
      await env.client.workflow.getHandle(deployId).terminate('end of test');
    });
  });

  it('is not pinned by a deploy that ended without telling it (terminated after a continue-as-new)', async () => {
    await withAgent({ config: { continueAsNewAfterEvents: 30 } }, async (h) => {
      const deployId = await h.deploy('1.1.0');
      await waitForPhase(deployId, 'AWAITING_APPROVAL');
      for (let i = 0; i < 6; i++) {
        await h.handle.executeUpdate(recordEventUpdate, {
          args: [{ type: 'config', severity: 'info', message: `c${i}` }],
        });
      }
      await waitForAgent(h, (s) => s.continuedAsNew >= 1, 'continued as new');
      // Terminated, a deploy sends no deployFinished; the new run has no child handle to hear it from.
      await env.client.workflow.getHandle(deployId).terminate('operator cleanup');
      await h.handle.executeUpdate(stopUpdate, { args: [{ by: 'orchestrator', reason: 'done' }] });
      const result = await h.handle.result();
      assert.equal(result.reason, 'requested');
      assert.equal(result.total.failed, 1);
      const status = await h.handle.query(agentStatusQuery);
      assert.match(status.recentDeploys[0]?.reason ?? '', /the deploy workflow was terminated/);
    });
  });

  it('continues as new at a small limit, keeping figures, deadlines and the running deploy', async () => {
    await withAgent({ config: { continueAsNewAfterEvents: 40 } }, async (h) => {
      const firstRun = (await h.handle.describe()).runId;
      const deployId = await h.deploy('1.1.0');
      await waitForPhase(deployId, 'AWAITING_APPROVAL');
      let lastEventAt = '';
      for (let i = 0; i < 8; i++) {
        const recorded = await h.handle.executeUpdate(recordEventUpdate, {
          args: [{ type: 'config', severity: 'warning', message: `flag ${i}` }],
        });
        lastEventAt = recorded.at;
      }
      const before = await waitForAgent(h, (s) => s.continuedAsNew >= 1, 'continued as new');
      assert.notEqual((await h.handle.describe()).runId, firstRun);
      assert.equal(before.figures.total.events, 8);
      assert.equal(before.figures.total.warningEvents, 8);
      assert.equal(before.running[0]?.deployId, deployId);
      // The deadline set by the last event, carried over exactly.
      assert.equal(new Date(before.idleDeadline).getTime(), new Date(lastEventAt).getTime() + 48 * HOUR);
      const deadline = before.idleDeadline;
      const nextReview = before.nextReview;
      // The deploy started by the first run tells the new run how it ended.
      assert.equal((await approveAndFinish(deployId))?.outcome, 'promoted');
      const after = await waitForAgent(h, (s) => s.recentDeploys.length === 1, 'deploy outcome learnt');
      assert.equal(after.running.length, 0);
      assert.equal(after.figures.total.promoted, 1);
      assert.equal(after.figures.total.events, 8);
      assert.equal(after.nextReview, nextReview);
      assert.ok(after.idleDeadline >= deadline);
      await h.handle.executeUpdate(stopUpdate, { args: [{ by: 'orchestrator', reason: 'test over' }] });
      const result = await h.handle.result();
      assert.equal(result.total.promoted, 1);
      assert.ok(existsSync(path.join(h.workdir, result.files[0] ?? 'x')));
      await recordHistory(h.handle.workflowId, firstRun, 'agent-continued-as-new');
    });
  });
});
