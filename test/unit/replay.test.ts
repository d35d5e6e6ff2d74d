import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });

const DIR = path.join(__dirname, '..', 'histories');

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
      { workflowsPath: require.resolve('../../src/workflows'), replayName: 'opsflow-replay' },
      histories,
    )) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });
});
