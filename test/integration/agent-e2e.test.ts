import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { AgentResult, AgentStatus, RecordedEvent } from '../../src/shared/agent';
import { agentStatusQuery } from '../../src/shared/agent/messages';
import { statusQuery } from '../../src/shared/deploy/messages';
import { Stack, waitFor } from '../helpers/stack';

const AGENT = 'ops-agent-e2e';
let stack: Stack;
let connection: Connection;
let client: Client;

before(async () => {
  stack = await Stack.start();
  connection = await Connection.connect({ address: stack.server.address });
  client = new Client({ connection, namespace: 'default' });
});

after(async () => {
  await connection?.close();
  await stack?.stop();
});

async function cliJson<T>(...args: string[]): Promise<T> {
  const { code, stdout, stderr } = await stack.cli(...args, '--json');
  assert.equal(code, 0, `${args.join(' ')}: ${stderr}`);
  return JSON.parse(stdout) as T;
}

// Polled through a client of the test's own: a CLI process per poll would cost seconds of CPU.
const agentStatus = () => client.workflow.getHandle(AGENT).query(agentStatusQuery);
const deployStatus = (id: string) => client.workflow.getHandle(id).query(statusQuery);

describe('ops agent end to end (dev server, worker, local platform, CLI)', () => {
  it('takes two deploys, one promoted and one rolled back, and its figures, post-mortem and review agree', async () => {
    const first = await cliJson<{ workflowId: string; runId: string; uiUrl: string }>(
      'deploy',
      'start',
      '--service',
      'hello',
      '--version',
      '1.1.0',
      '--requested-by',
      'carol',
    );
    assert.equal(first.workflowId, 'deploy-hello-1.1.0-production');
    assert.ok(first.runId);
    // The agent started with the request and runs the deploy as its child.
    const running = await cliJson<AgentStatus>('agent', 'status');
    assert.equal(running.workflowId, AGENT);
    assert.deepEqual(
      running.running.map((r) => [r.deployId, r.runId]),
      [[first.workflowId, first.runId]],
    );
    const again = await cliJson<{ runId: string }>('deploy', 'start', '--service', 'hello', '--version', '1.1.0');
    assert.equal(again.runId, first.runId, 'the same change returns the running deploy');
    const described = await client.workflow.getHandle(first.workflowId).describe();
    assert.equal(described.parentExecution?.workflowId, AGENT, 'the deploy names the agent as its parent');

    await waitFor(async () => (await deployStatus(first.workflowId)).phase === 'AWAITING_APPROVAL', 60_000);
    const approved = await stack.cli('deploy', 'approve', first.workflowId, '--by', 'alice');
    assert.equal(approved.code, 0, approved.stderr);
    const promoted = await stack.cli('deploy', 'watch', first.workflowId);
    assert.equal(promoted.code, 0, promoted.stdout + promoted.stderr);
    const listed = await stack.cli('deploy', 'list');
    assert.match(
      listed.stdout,
      /deploy-hello-1\.1\.0-production\s+PROMOTED/,
      'a deploy through the agent is findable by phase',
    );

    // The faulty release fails its staging verification and is rolled back without an approval.
    const startedHuman = await stack.cli('deploy', 'start', '--service', 'hello', '--version', '1.2.0');
    assert.equal(startedHuman.code, 0, startedHuman.stderr);
    assert.match(startedHuman.stdout, /^started deploy-hello-1\.2\.0-production \(through ops-agent-e2e\)\n/);
    const second = { workflowId: 'deploy-hello-1.2.0-production' };
    const rolledBack = await stack.cli('deploy', 'watch', second.workflowId);
    assert.equal(rolledBack.code, 2, rolledBack.stdout + rolledBack.stderr);
    const failedStatus = await deployStatus(second.workflowId);

    await waitFor(async () => (await agentStatus()).recentDeploys.length === 2, 30_000);
    const status = await agentStatus();
    const total = status.figures.total;
    assert.deepEqual([total.deploys, total.promoted, total.rolledBack, total.failed], [2, 1, 1, 0]);
    assert.equal(total.successRate, 0.5);
    assert.equal(total.changeFailureRate, 0.5);
    assert.equal(total.restores, 1);
    assert.ok((total.meanLeadTimeMs ?? 0) > 0);
    const record = status.recentDeploys.find((d) => d.deployId === second.workflowId);
    assert.equal(record?.outcome, 'rolled-back');
    assert.equal(record?.cause, 'error-rate');
    assert.ok((record?.restoreMs ?? 0) > 0, 'time to restore measured');

    // The post-mortem: impact first, then the very samples and timeline the deploy recorded.
    const incidents = readdirSync(path.join(stack.workdir, 'docs/incidents'));
    assert.deepEqual(incidents, [`${record?.finishedAt.slice(0, 10)}-hello-1.2.0.md`]);
    const pm = readFileSync(path.join(stack.workdir, 'docs/incidents', incidents[0] ?? ''), 'utf8');
    assert.equal([...pm.matchAll(/^## (.+)$/gm)][0]?.[1], 'Impact');
    const staging = failedStatus.samples.filter((s) => s.environment === 'staging');
    const errors = staging.reduce((n, s) => n + s.canary.errors, 0);
    const requests = staging.reduce((n, s) => n + s.canary.requests, 0);
    assert.match(pm, new RegExp(`\\*\\*${errors} errors in ${requests} requests\\*\\*`));
    assert.equal((pm.match(/\| staging \| verify \|/g) ?? []).length, staging.length, 'every staging sample');
    for (const t of failedStatus.timeline.filter((e) => e.phase === 'ROLLING_BACK')) {
      assert.ok(pm.includes(t.message.slice(0, 40)), `timeline entry ${t.message}`);
    }

    const human = await stack.cli('agent', 'status');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^ops-agent-e2e: running since /);
    assert.match(
      human.stdout,
      /all time {7}2 deploys \(1 promoted, 1 rolled back, 0 failed, 0 cancelled\); success 50\.0 %/,
    );
    assert.match(human.stdout, new RegExp(`${second.workflowId}: rolled-back \\(error-rate\\)`));

    // The self-review of the window agrees with the same figures.
    const review = await cliJson<{ date: string; file: string }>('agent', 'review', '--by', 'carol');
    const md = readFileSync(path.join(stack.workdir, review.file), 'utf8');
    assert.match(md, /\| deployments \(promoted \/ rolled back \/ failed \/ cancelled\) \| 2 \(1 \/ 1 \/ 0 \/ 0\) \|/);
    assert.match(md, /\| success rate \| 50\.0 % \|/);
    assert.match(md, /\| change failure rate \| 50\.0 % \|/);
    assert.match(md, /hello\/error-rate: 1/);
    const log = readFileSync(path.join(stack.workdir, 'docs/operations/agent-log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; outcome?: string; day?: { deploys: number } });
    assert.deepEqual(
      log.filter((l) => l.type === 'deploy').map((l) => l.outcome),
      ['promoted', 'rolled-back'],
    );
    assert.equal(log.find((l) => l.type === 'self-review')?.day?.deploys, 2);

    // An infrastructure event resets the idle clock; a stop request ends the agent with its final report.
    const event = await cliJson<RecordedEvent>(
      'agent',
      'event',
      '--type',
      'scale',
      '--severity',
      'info',
      '--message',
      'added a replica',
    );
    const afterEvent = await agentStatus();
    assert.equal(new Date(afterEvent.idleDeadline).getTime(), new Date(event.at).getTime() + 48 * 3_600_000);
    const bad = await stack.cli('agent', 'event', '--type', 'earthquake', '--severity', 'info', '--message', 'x');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^opsflow: --type: /);
    const stopped = await stack.cli('agent', 'stop', '--by', 'orchestrator', '--reason', 'e2e done');
    assert.equal(stopped.code, 0, stopped.stderr);
    await waitFor(async () => (await client.workflow.getHandle(AGENT).describe()).status.name === 'COMPLETED', 30_000);
    const ended = await cliJson<{ status: string; result: AgentResult }>('agent', 'status');
    assert.equal(ended.result.reason, 'requested');
    assert.equal(ended.result.total.promoted, 1);
    const stopAgain = await stack.cli('agent', 'stop', '--by', 'orchestrator', '--reason', 'twice');
    assert.equal(stopAgain.code, 1);
    assert.match(stopAgain.stderr, /^opsflow: no ops agent runs for e2e; it starts with the next/);
    const unknown = await stack.cli('agent', 'status', '--project', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^opsflow: no ops agent runs for nope;/);
    const list = await stack.cli('agent', 'list');
    assert.match(list.stdout, new RegExp(`${AGENT}\\s+COMPLETED`));
    await stack.recordHistory(AGENT, 'agent-two-deploys-stopped');
  });

  it('stops the line from the CLI: a signed freeze holds a deploy until a signed end; an incident freezes until resolved', async () => {
    // alice signs with her key (the stack's keys folder); nobody approves staging, so anyone the policy knows may freeze.
    const freeze = await cliJson<{ id: string; environment: string; raisedBy: string }>(
      'freeze',
      'start',
      '--env',
      'staging',
      '--reason',
      'payments outage INC-42',
      '--by',
      'alice',
    );
    assert.deepEqual([freeze.environment, freeze.raisedBy], ['staging', 'alice']);
    // dave has no key and is not in the policy: sent unsigned, refused by the worker in one line, nothing kept.
    const refused = await stack.cli('freeze', 'start', '--env', 'staging', '--reason', 'mine', '--by', 'dave');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^opsflow: .*needs a signed statement/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);

    const started = await cliJson<{ workflowId: string }>(
      'deploy',
      'start',
      '--service',
      'hello',
      '--version',
      '1.2.0',
    );
    await waitFor(async () => (await deployStatus(started.workflowId)).phase === 'FROZEN', 30_000);
    assert.equal((await deployStatus(started.workflowId)).frozen?.freeze, `${freeze.id}: payments outage INC-42`);
    const human = await stack.cli('deploy', 'status', started.workflowId);
    assert.match(human.stdout, /frozen: staging by ".*" until someone ends it \(opsflow freeze end\)/);
    const listed = await cliJson<{ freezes: { id: string }[] }>('freeze', 'list');
    assert.deepEqual(
      listed.freezes.map((f) => f.id),
      [freeze.id],
    );

    const ended = await stack.cli('freeze', 'end', freeze.id, '--by', 'bob', '--reason', 'payments restored');
    assert.equal(ended.code, 0, ended.stderr);
    assert.match(ended.stdout, new RegExp(`^${freeze.id} ended: staging of e2e is open again`));
    // Told by the agent at once: the deploy goes on (1.2.0 is then caught by its staging canary).
    await waitFor(async () => (await deployStatus(started.workflowId)).phase !== 'FROZEN', 10_000);

    // A critical incident for staging freezes it; the same incident resolved lifts it.
    const firing = await cliJson<RecordedEvent>(
      'agent',
      'event',
      '--type',
      'incident',
      '--severity',
      'critical',
      '--environment',
      'staging',
      '--key',
      'INC-7',
      '--message',
      'db down',
      '--by',
      'alertmanager',
    );
    assert.equal(firing.actions.filter((a) => a.startsWith('froze staging')).length, 1, firing.actions.join('; '));
    const resolved = await cliJson<RecordedEvent>(
      'agent',
      'event',
      '--type',
      'incident',
      '--severity',
      'critical',
      '--status',
      'resolved',
      '--key',
      'INC-7',
      '--message',
      'db back',
    );
    assert.deepEqual(resolved.actions.filter((a) => a.startsWith('lifted')).length, 1, resolved.actions.join('; '));
    assert.deepEqual((await cliJson<{ freezes: unknown[] }>('freeze', 'list')).freezes, []);
  });
});
