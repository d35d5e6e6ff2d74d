/**
 * The records a retried rollback reads to say what its earlier attempt did: the local platform's event log and the
 * annotation the kubernetes target keeps on the stable Deployment. The cases the contract suite cannot stage: a release
 * started again after its rollback, a promotion undone and a canary removed by one step, a record someone broke, and
 * the cap on what the annotation keeps.
 * Run: node --import tsx --test test/unit/rollback-records.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { ANNOTATION } from '../../src/activities/targets/kubernetes/labels';
import {
  answerFromRecord,
  recordedRollbacks,
  ROLLBACKS_KEPT,
  withRestore,
  withRollback,
  type RollbackRecord,
} from '../../src/activities/targets/kubernetes/records';
import type { PlatformEvent } from '../../src/local-platform/api';
import { lastRollback, rolledBackBefore } from '../../src/local-platform/rollback-record';

const A = 'deploy-hello-1.2.0-production';

describe("the local platform's event log as a rollback record", () => {
  const started: PlatformEvent = { at: 1_000, deployId: A, kind: 'canary-started', version: '1.2.0', weight: 0 };
  const zero: PlatformEvent = { at: 2_000, deployId: A, kind: 'weight', version: '1.2.0', weight: 0 };
  const rolledBack: PlatformEvent = {
    at: 2_000,
    deployId: A,
    kind: 'rolled-back',
    version: '1.2.0',
    weight: 0,
    rollbackId: 'run-1/14',
  };
  const stopped: PlatformEvent = { at: 2_500, deployId: A, kind: 'canary-stopped', version: '1.2.0' };

  it("finds the deploy's last rollback with its step, and nothing once its release started again", () => {
    assert.deepEqual(lastRollback([started, zero, rolledBack, stopped], A), {
      version: '1.2.0',
      weightZeroAt: 2_000,
      restoredVersion: null,
      rollbackId: 'run-1/14',
    });
    assert.equal(lastRollback([started, zero, rolledBack, stopped], 'another-deploy'), undefined);
    assert.equal(lastRollback([started], A), undefined);
    const again = { ...started, at: 3_000 };
    assert.equal(lastRollback([started, rolledBack, stopped, again], A), undefined, 'started again: not rolled back');
    const lost: PlatformEvent = { at: 3_000, deployId: A, kind: 'canary-lost', version: '1.2.0' };
    assert.equal(lastRollback([started, lost], A), undefined);
  });

  it('keeps the release a rollback of a promotion brought back', () => {
    const promoted: PlatformEvent = { at: 1_500, deployId: A, kind: 'promoted', version: '1.2.0', weight: 100 };
    const restored: PlatformEvent = { at: 2_100, deployId: A, kind: 'stable-restored', version: '1.1.0' };
    assert.equal(lastRollback([started, promoted, rolledBack, restored], A)?.restoredVersion, '1.1.0');
  });

  it('says whose rollback it was only when the record names the step', () => {
    const record = lastRollback([started, rolledBack, stopped], A);
    assert.equal(rolledBackBefore(undefined), 'no canary');
    assert.equal(
      rolledBackBefore(record),
      '1.2.0 was rolled back at 1970-01-01T00:00:02.000Z by another rollback of this deploy',
    );
    const unnamed = lastRollback([started, { ...rolledBack, rollbackId: undefined }, stopped], A);
    assert.match(rolledBackBefore(unnamed), /by a rollback of this deploy$/);
  });
});

describe('the rollback record on the stable Deployment', () => {
  const step = { service: 'hello', environment: 'production', deployId: A, rollbackId: 'run-1/14' };
  const deployment = (annotations: Record<string, string> = {}): V1Deployment => ({
    metadata: { name: 'hello', annotations },
  });
  const withRecords = (value: string) => deployment({ [ANNOTATION.rollbacks]: value });
  const canary: RollbackRecord = {
    deployId: A,
    rollbackId: 'run-1/14',
    version: '1.2.0',
    weightZeroAt: 2_000,
    canary: true,
  };

  it("answers a retry of the step with what its earlier attempt did, another step's with what was found", () => {
    const stable = withRecords(withRollback(deployment(), canary));
    assert.deepEqual(answerFromRecord(stable, step), {
      rolledBack: true,
      by: 'earlier-attempt',
      version: '1.2.0',
      weightZeroAt: 2_000,
      detail: 'canary 1.2.0 at 0 % and deleted',
    });
    assert.deepEqual(answerFromRecord(stable, { ...step, rollbackId: 'run-2/14' }), {
      rolledBack: false,
      detail: `nothing of ${A} runs in production: another rollback did canary 1.2.0 at 0 % and deleted at 1970-01-01T00:00:02.000Z`,
    });
    assert.deepEqual(answerFromRecord(deployment(), step), {
      rolledBack: false,
      detail: `nothing of ${A} runs in production`,
    });
  });

  it('merges a promotion undone and its canary removed by one step into one record', () => {
    const promoted = deployment({ [ANNOTATION.version]: '1.2.0' });
    const restored = withRecords(withRestore(promoted, step, 'registry.example/hello:1.1.0'));
    assert.deepEqual(
      recordedRollbacks(restored).map((r) => [r.version, r.canary, r.restored]),
      [['1.2.0', false, 'registry.example/hello:1.1.0']],
    );
    const both = withRecords(withRollback(restored, canary));
    assert.equal(recordedRollbacks(both).length, 1);
    assert.equal(
      answerFromRecord(both, step).detail,
      'canary 1.2.0 at 0 % and deleted; stable image back to registry.example/hello:1.1.0',
    );
  });

  it(`keeps the newest ${ROLLBACKS_KEPT}, and reads a record someone broke as none`, () => {
    let stable = deployment();
    for (let i = 0; i < ROLLBACKS_KEPT + 3; i++) {
      stable = withRecords(withRollback(stable, { ...canary, deployId: `deploy-${i}`, rollbackId: `run-${i}/1` }));
    }
    const kept = recordedRollbacks(stable).map((r) => r.deployId);
    assert.equal(kept.length, ROLLBACKS_KEPT);
    assert.equal(kept.at(-1), `deploy-${ROLLBACKS_KEPT + 2}`);
    assert.deepEqual(recordedRollbacks(withRecords('{not json')), []);
    assert.deepEqual(recordedRollbacks(withRecords('[{"deployId": 7}]')), []);
  });
});
