/**
 * The registries the worker builds from opsflow.yaml, and the activities over them: a target's or provider's typed
 * refusals become non-retryable failures of the shared error vocabulary; anything else stays retryable.
 * Run: node --import tsx --test test/unit/target-activities.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { MetricsProviderMissing } from '../../src/activities/metrics/contract';
import { LocalMetrics } from '../../src/activities/metrics/local';
import { PrometheusMetrics } from '../../src/activities/metrics/prometheus';
import { metricsFromConfig } from '../../src/activities/metrics/registry';
import { InvalidTargetRequest } from '../../src/activities/targets/contract';
import { LocalTarget } from '../../src/activities/targets/local/target';
import { targetsFromConfig } from '../../src/activities/targets/registry';
import { configSchema } from '../../src/config/schema';
import { ErrorType, type ErrorTypeName } from '../../src/shared/errors';
import { testConfig, testInput } from '../helpers/config';
import { fakeDeps, FakeMetrics, FakeTarget } from '../helpers/fakes';

const workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-target-activities-'));
after(() => rmSync(workdir, { recursive: true, force: true }));

describe('registries built from opsflow.yaml', () => {
  it('builds the target each service names, and names the services it has for one it does not', () => {
    const targets = targetsFromConfig(testConfig());
    assert.ok(targets.targetFor('hello') instanceof LocalTarget);
    assert.equal(targets.targetFor('hello').kind, 'local');
    assert.throws(
      () => targets.targetFor('billing'),
      (err: unknown) =>
        err instanceof InvalidTargetRequest && /service "billing": this worker's config has hello$/.test(err.message),
    );
  });

  it('builds the metrics providers the config has settings for, and names the setting of a missing one', () => {
    const without = metricsFromConfig(testConfig());
    assert.ok(without.providerFor('local') instanceof LocalMetrics);
    assert.throws(
      () => without.providerFor('prometheus'),
      (err: unknown) =>
        err instanceof MetricsProviderMissing &&
        err.message ===
          'analysis.provider is prometheus but this worker has no prometheus metrics: set metrics.prometheus.url in opsflow.yaml',
    );
    const config = configSchema.parse({ ...testConfig(), metrics: { prometheus: { url: 'http://127.0.0.1:9090' } } });
    assert.ok(metricsFromConfig(config).providerFor('prometheus') instanceof PrometheusMetrics);
  });
});

describe('target activities', () => {
  // The failures below are expected: the SDK's warning for each would only be noise.
  const mock = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const env = {
    run: <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
      mock.run(fn, ...args) as Promise<R>,
  };
  const ref = { deployId: 'deploy/hello/1.1.0/production', environment: 'production', service: 'hello' };
  const activities = (target = new FakeTarget(['1.0.0', '1.1.0'], { staging: '1.0.0', production: '1.0.0' })) =>
    createActivities(fakeDeps(target, new FakeMetrics({})));

  /** Asserts a non-retryable ApplicationFailure of `type` whose message is one line. */
  async function failsWith(
    promise: Promise<unknown>,
    type: ErrorTypeName,
    message?: RegExp,
  ): Promise<ApplicationFailure> {
    let failure: ApplicationFailure | undefined;
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, type);
      assert.equal(err.nonRetryable, true);
      assert.ok(!err.message.includes('\n'));
      if (message) assert.match(err.message, message);
      failure = err;
      return true;
    });
    return failure!;
  }

  it('turns a conflict into a non-retryable TargetConflict failure that keeps its reason as data', async () => {
    const a = activities();
    const failure = await failsWith(env.run(a.setTrafficWeight, { ...ref, weight: 0 }), ErrorType.TargetConflict);
    assert.deepEqual(failure.details, [{ reason: 'no-canary' }]);
    await env.run(a.startRelease, { ...ref, version: '1.1.0' });
    const busy = await failsWith(
      env.run(a.startRelease, { ...ref, deployId: 'other', version: '1.1.0' }),
      ErrorType.TargetConflict,
    );
    assert.deepEqual(busy.details, [{ reason: 'canary-busy' }]);
  });

  it('answers with neutral results the workflow reads: alreadyPromoted, detail, rolledBack', async () => {
    const a = activities();
    const started = await env.run(a.startRelease, { ...ref, version: '1.1.0' });
    assert.deepEqual(Object.keys(started).sort(), ['alreadyPromoted', 'detail']);
    assert.equal(started.alreadyPromoted, false);
    assert.equal((await env.run(a.setTrafficWeight, { ...ref, weight: 10 })).weight, 10);
    const rolledBack = await env.run(a.rollbackRelease, { ...ref, version: '1.1.0' });
    assert.deepEqual([rolledBack.rolledBack, rolledBack.by], [true, 'this-attempt']);
    // Again, as a retry whose first answer was lost: the target's record says an earlier attempt did it.
    const again = await env.run(a.rollbackRelease, { ...ref, version: '1.1.0' });
    assert.deepEqual([again.rolledBack, again.by], [true, 'earlier-attempt']);
    const never = await env.run(a.rollbackRelease, { ...ref, deployId: 'deploy/never-here', version: '1.1.0' });
    assert.equal(never.rolledBack, false);
  });

  it('turns an unknown release and an invalid request into their failure types', async () => {
    const a = activities();
    await failsWith(env.run(a.startRelease, { ...ref, version: '9.9.9' }), ErrorType.UnknownRelease);
    await env.run(a.startRelease, { ...ref, version: '1.1.0' });
    await failsWith(env.run(a.setTrafficWeight, { ...ref, weight: 101 }), ErrorType.InvalidRequest);
    await failsWith(
      env.run(a.startRelease, { ...ref, service: 'billing', version: '1.1.0' }),
      ErrorType.InvalidRequest,
      /no deploy target for service "billing"/,
    );
  });

  it('leaves any other error of a target retryable', async () => {
    const target = new FakeTarget(['1.0.0', '1.1.0'], { production: '1.0.0' });
    target.failures.set('start', new Error('connection reset'));
    await assert.rejects(env.run(activities(target).startRelease, { ...ref, version: '1.1.0' }), (err: unknown) => {
      assert.ok(!(err instanceof ApplicationFailure), 'not a final failure');
      return (err as Error).message === 'connection reset';
    });
  });

  it('plans against the target: refuses a release it lists not, and skips the check when it cannot tell', async () => {
    const input = testInput(testConfig(), workdir, { version: '1.1.0' });
    const listing = new FakeTarget(['1.0.0'], { staging: '1.0.0', production: '1.0.0' });
    await failsWith(
      env.run(activities(listing).plan, { input }),
      ErrorType.UnknownRelease,
      /^hello has no release 1\.1\.0; known: 1\.0\.0$/,
    );
    const registry = new FakeTarget(undefined, { staging: '1.0.0', production: '0.9.0' });
    const plan = await env.run(activities(registry).plan, { input });
    assert.deepEqual(plan.currentVersions, { staging: '1.0.0', production: '0.9.0' });
  });

  it('measures through the provider analysis.provider names, and says which setting a missing one needs', async () => {
    const a = activities();
    const request = {
      environment: 'production',
      service: 'hello',
      version: '1.1.0',
      stableVersion: '1.0.0',
      windowMs: 1_000,
    };
    const measured = await env.run(a.measure, request);
    assert.equal(measured.canary.version, '1.1.0');
    assert.equal(measured.stable?.version, '1.0.0');
    await failsWith(
      env.run(a.measure, { ...request, provider: 'prometheus' as const }),
      ErrorType.InvalidRequest,
      /^analysis\.provider is prometheus but this worker has no prometheus metrics: set metrics\.prometheus\.url in opsflow\.yaml$/,
    );
  });
});
