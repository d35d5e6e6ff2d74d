import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DeterminismViolationError } from '@temporalio/workflow';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { judgeRun, measurementsOf } from '../../src/shared/analysis/judge-run';
import { JUDGEMENT_RULES } from '../../src/shared/analysis/rules';
import type { DeployStatus } from '../../src/shared/deploy';
import { testWorkflowBundle, WORKFLOW_DATA_CONVERTER } from '../helpers/workflow-bundle';

Runtime.install({ logger: new DefaultLogger('WARN') });

/** A deploy judged by the whole-window rules, recorded by test/integration/canary-judgement.test.ts. */
const WORKFLOW_ID = 'deploy-hello-1.3.0-production';
const FILE = path.join(__dirname, '..', 'histories', `${WORKFLOW_ID}.json`);

interface HistoryEvent {
  eventType: string;
  markerRecordedEventAttributes?: { details?: Record<string, { payloads: { data: string }[] }> };
  activityTaskScheduledEventAttributes?: {
    activityType: { name: string };
    input?: { payloads: { data: string }[] };
  };
}

const history = (file = FILE) => JSON.parse(readFileSync(file, 'utf8')) as { events: HistoryEvent[] };
const decode = (data: string): unknown => JSON.parse(Buffer.from(data, 'base64').toString('utf8'));

function patchId(event: HistoryEvent): string | undefined {
  const data = event.markerRecordedEventAttributes?.details?.['patch-data']?.payloads[0]?.data;
  return data ? (decode(data) as { id: string }).id : undefined;
}

/** The status the deploy handed to its report: it holds every sample it took, and how each step was judged. */
function reportedStatus(events: HistoryEvent[]): DeployStatus {
  const report = [...events]
    .reverse()
    .find((e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'writeHandoffReport');
  const data = report?.activityTaskScheduledEventAttributes?.input?.payloads[0]?.data;
  assert.ok(data, 'the history has the report activity');
  return (decode(data) as { status: DeployStatus }).status;
}

const replay = async (h: unknown, id: string, workflowId = WORKFLOW_ID) =>
  Worker.runReplayHistory(
    {
      workflowBundle: await testWorkflowBundle(),
      dataConverter: WORKFLOW_DATA_CONVERTER,
      replayName: `analysis-replay-${id}`,
    },
    h,
    workflowId,
  );

describe('a deploy judged on whole windows, from its committed history', () => {
  it('replays against the workflow code', async () => {
    await replay(history(), 'as-recorded');
  });

  it('does not replay without its patch marker: the new judgement changes the commands, patched() keeps old runs', async () => {
    const h = history();
    // The marker renamed (and deprecated, so it needs no command): the code finds no marker of its patch, as in a
    // history recorded before it, takes the consecutive-only loop, and its commands part from the recorded ones.
    const marker = h.events.find((e) => patchId(e) === 'analysis-failure-budget');
    const payload = marker?.markerRecordedEventAttributes?.details?.['patch-data']?.payloads[0];
    assert.ok(payload, 'the history has the marker');
    payload.data = Buffer.from(JSON.stringify({ id: 'some-other-change', deprecated: true })).toString('base64');
    await assert.rejects(
      replay(h, 'unpatched'),
      (err: unknown) => err instanceof DeterminismViolationError && !/patch marker/.test(err.message),
    );
  });

  it('judgeRun over its recorded measurements gives the verdicts the workflow gave', () => {
    const status = reportedStatus(history().events);
    const judged = judgeRun(status.rollout ?? [], measurementsOf(status));
    assert.equal(status.outcome, 'rolled-back');
    assert.deepEqual(judged.environments, [
      { environment: 'production', outcome: 'rolled-back', cause: status.cause, reason: status.reason },
    ]);
    assert.deepEqual(judged.steps, status.stepVerdicts);
    assert.deepEqual(
      judged.samples.map((s) => s.outcome),
      status.samples.map((s) => s.verdict),
    );
  });
});

/**
 * A deploy judged by the rules that keep measurement errors apart, recorded by test/unit/analysis-workflow.test.ts:
 * three samples in a row could not be measured, it paused for a person, bob resumed it and it was promoted.
 */
describe('a deploy that paused on measurement errors, from its committed history', () => {
  /** Named by its workflow id, which its deploy id is bound to. */
  const workflowId = 'deploy-hello-1.1.0-production-measurement-errors-paused';
  const file = path.join(__dirname, '..', 'histories', `${workflowId}.json`);

  it('replays against the workflow code, and not without its patch marker', async () => {
    await replay(history(file), 'errors-apart', workflowId);
    const h = history(file);
    const marker = h.events.find((e) => patchId(e) === 'analysis-measurement-errors');
    const payload = marker?.markerRecordedEventAttributes?.details?.['patch-data']?.payloads[0];
    assert.ok(payload, 'the history has the marker');
    payload.data = Buffer.from(JSON.stringify({ id: 'some-other-change', deprecated: true })).toString('base64');
    await assert.rejects(
      replay(h, 'errors-apart-unpatched'),
      (err: unknown) => err instanceof DeterminismViolationError,
    );
  });

  it('judgeRun gives its verdicts by the rules it recorded, and other ones by the original rules', () => {
    const status = reportedStatus(history(file).events);
    assert.equal(status.outcome, 'promoted');
    const production = status.rollout?.find((e) => e.name === 'production');
    assert.equal(production?.rules, JUDGEMENT_RULES.errorsApart);
    const judged = judgeRun(status.rollout ?? [], measurementsOf(status));
    assert.deepEqual(
      judged.environments.map((e) => [e.environment, e.outcome]),
      [
        ['staging', 'promoted'],
        ['production', 'promoted'],
      ],
    );
    const paused = judged.samples.filter((s) => s.action === 'pause');
    assert.deepEqual(
      paused.map((s) => [s.environment, s.outcome, s.rule]),
      [['production', 'unmeasured', 'measurement-errors']],
    );
    assert.deepEqual(
      judged.steps.map((s) => [s.environment, s.weight, s.verdict]),
      (status.stepVerdicts ?? []).map((s) => [s.environment, s.weight, s.verdict]),
    );
    // Read as a deploy recorded before the revision: three unmeasured samples in a row roll it back.
    const original = judgeRun(
      (status.rollout ?? []).map(({ rules: _rules, ...env }) => env),
      measurementsOf(status),
    );
    assert.equal(original.environments.find((e) => e.environment === 'production')?.outcome, 'rolled-back');
  });
});
