import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { ALIVE_EVERY_MS, keepAlive } from '../../src/activities/alive';
import type { RollbackRef, RollbackResult } from '../../src/activities/targets/contract';
import { MEASURE_OPTIONS, PLATFORM_OPTIONS, ROLLBACK_OPTIONS } from '../../src/workflows/deploy/proxies';
import { fakeDeps, FakeMetrics, FakeTarget } from '../helpers/fakes';

/** A target whose rollback takes `ms`, as a real one waiting for a Deployment to go. */
class SlowTarget extends FakeTarget {
  constructor(private readonly ms: number) {
    super(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' });
  }

  override async rollback(ref: RollbackRef): Promise<RollbackResult> {
    await sleep(this.ms);
    return super.rollback(ref);
  }
}

const ms = (duration: Duration | undefined) => (duration === undefined ? NaN : msToNumber(duration));

describe('a running activity says it is alive', () => {
  it('heartbeats through a slow target call, often enough for the shortest heartbeat timeout', async () => {
    const mock = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const beats: number[] = [];
    mock.on('heartbeat', () => beats.push(Date.now()));
    const activities = createActivities(fakeDeps(new SlowTarget(900), new FakeMetrics({})));
    const started = Date.now();
    const result: RollbackResult = await mock.run(activities.rollbackRelease, {
      deployId: 'deploy-hello-1.1.0-production',
      environment: 'production',
      service: 'hello',
      version: '1.1.0',
    });
    assert.equal(result.rolledBack, false, 'nothing ran there to roll back');
    assert.ok(beats.length >= 4, `${beats.length} heartbeats in ${Date.now() - started} ms`);
    const gaps = beats.slice(1).map((t, i) => t - (beats[i] ?? t));
    assert.ok(Math.max(...gaps, beats[0]! - started) < ms(ROLLBACK_OPTIONS.heartbeatTimeout) / 2, String(gaps));
  });

  it('stops beating when the call ends, and runs the call as it is outside an activity', async () => {
    const mock = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    let beats = 0;
    mock.on('heartbeat', () => (beats += 1));
    await mock.run(() => keepAlive(async () => sleep(ALIVE_EVERY_MS * 2)));
    const after = beats;
    await sleep(ALIVE_EVERY_MS * 3);
    assert.equal(beats, after);
    assert.equal(await keepAlive(async () => 42), 42);
  });

  it('the calls that change a target, roll it back or measure it have heartbeat timeouts of a second or two', () => {
    for (const options of [PLATFORM_OPTIONS, ROLLBACK_OPTIONS, MEASURE_OPTIONS]) {
      const timeout = ms(options.heartbeatTimeout);
      assert.ok(timeout >= 1000 && timeout <= 2000, String(options.heartbeatTimeout));
      assert.ok(timeout < ms(options.startToCloseTimeout), 'shorter than the call itself may take');
    }
  });
});
