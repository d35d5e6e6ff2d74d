import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DeterminismViolationError } from '@temporalio/workflow';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { testWorkflowBundle, WORKFLOW_DATA_CONVERTER } from '../helpers/workflow-bundle';

Runtime.install({ logger: new DefaultLogger('WARN') });

const DIR = path.join(__dirname, '..', 'histories');
/** The workflows as the worker runs them: with its payload converter, bundled in. */
const WORKFLOWS = async () => ({ workflowBundle: await testWorkflowBundle(), dataConverter: WORKFLOW_DATA_CONVERTER });

/**
 * Histories recorded from real runs on the dev server (OPSFLOW_RECORD_HISTORIES=1 npm run test:integration)
 * must replay against today's workflow code: a change that alters the commands needs patched().
 */
describe('replay of committed histories', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('has histories to replay', () => {
    assert.ok(files.length >= 3, `expected recorded histories in ${DIR}`);
  });

  it('replays every history without nondeterminism', async () => {
    const histories = files.map((file) => ({
      workflowId: path.basename(file, '.json'),
      history: JSON.parse(readFileSync(path.join(DIR, file), 'utf8')),
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { ...(await WORKFLOWS()), replayName: 'opsflow-replay' },
      histories,
    )) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });

  it('fails on a history whose commands the code does not make (negative control)', async () => {
    // The first activity the deploy schedules is `plan`; a history that says it scheduled another is not this code's.
    const history = JSON.parse(readFileSync(path.join(DIR, 'deploy-promoted.json'), 'utf8'));
    const scheduled = history.events.find(
      (e: { eventType: string }) => e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
    );
    assert.equal(scheduled.activityTaskScheduledEventAttributes.activityType.name, 'plan');
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'startRelease';
    await assert.rejects(
      Worker.runReplayHistory(
        { ...(await WORKFLOWS()), replayName: 'opsflow-replay-altered' },
        history,
        'deploy-promoted-altered',
      ),
      (err: unknown) => err instanceof DeterminismViolationError,
    );
  });
});
