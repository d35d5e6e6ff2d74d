/**
 * The deploy workflow on Vercel, end to end on the time-skipping test server: the real activities drive the Vercel
 * target through `@vercel/sdk` against the fake Vercel API, staging by its alias and production by a rolling release
 * whose stages are the environment's canary steps. A healthy release advances through every stage and completes; a
 * faulty one aborts at its first stage and production's traffic is back on the current deployment, read back from
 * Vercel. The canary's health comes from the test's metrics, as in the other workflow tests.
 * Run: node scripts/build.js && node --import tsx --test test/unit/vercel-deploy.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DeployTestEnv } from '../helpers/workflow-env';
import { openVercel, PROJECT } from '../helpers/vercel-project';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** The canary steps of the tests' production (test/helpers/config.ts), which become the rolling release's stages. */
const PRODUCTION_STEPS = [10, 50, 100];
const ENVIRONMENTS = {
  staging: { release: 'alias', alias: 'staging.example.com' },
  production: { release: 'rolling-release', domain: PROJECT.productionDomain },
} as const;

describe('deploy workflow on Vercel', () => {
  it('a healthy release advances through every stage of the rolling release and completes it', async () => {
    const vercel = await openVercel(ENVIRONMENTS, { steps: PRODUCTION_STEPS, stagingAt: 'dpl_100' });
    try {
      const { result, status } = await t.runDeploy({ deployTarget: vercel.target, version: '1.1.0' }, t.approve());
      assert.equal(result?.outcome, 'promoted', result?.reason);
      assert.equal(vercel.fake.aliases.get('staging.example.com'), 'dpl_110', 'staging: the alias points at 1.1.0');
      const approvals = vercel.fake.calls.filter((c) => c.route === 'POST rolling-release/approve-stage');
      assert.deepEqual(
        approvals.map((c) => (c.body as { nextStageIndex: number }).nextStageIndex),
        [1, 2],
        'each stage approved in turn, after its judgement passed',
      );
      assert.deepEqual(
        vercel.fake.config?.stages.map((s) => s.targetPercentage),
        PRODUCTION_STEPS,
      );
      assert.equal(vercel.fake.config?.advancementType, 'manual-approval');
      assert.equal(vercel.fake.rollingRelease?.state, 'COMPLETE');
      assert.equal(vercel.fake.production, 'dpl_110');
      const judged = status.samples.filter((s) => s.environment === 'production').map((s) => s.weight);
      for (const weight of PRODUCTION_STEPS) assert.ok(judged.includes(weight), `judged at ${weight} %`);
      assert.deepEqual(await vercel.target.status({ service: 'hello', environment: 'production' }), {
        stable: { version: '1.1.0', deployId: result?.deployId },
        canary: null,
      });
    } finally {
      await vercel.close();
    }
  });

  it('a faulty release aborts at its first stage, with production traffic back on the current deployment', async () => {
    const vercel = await openVercel(ENVIRONMENTS, { steps: PRODUCTION_STEPS, stagingAt: 'dpl_100' });
    try {
      const faulty = { requests: 100, errorRate: 0.2, p95Ms: 300 };
      const { result, status } = await t.runDeploy(
        { deployTarget: vercel.target, version: '1.2.0', profiles: { 'production/1.2.0': faulty } },
        t.approve(),
      );
      assert.equal(result?.outcome, 'rolled-back', result?.reason);
      const rr = vercel.fake.rollingRelease;
      assert.equal(rr?.state, 'ABORTED');
      assert.equal(rr?.index, 0, 'aborted at its first stage');
      assert.ok(!vercel.fake.calls.some((c) => c.route === 'POST rolling-release/approve-stage'), 'never advanced');
      assert.equal(vercel.fake.canaryPercentage(), 0);
      assert.equal(vercel.fake.production, 'dpl_100');
      const production = await vercel.target.status({ service: 'hello', environment: 'production' });
      assert.deepEqual(production, { stable: { version: '1.0.0', deployId: null }, canary: null });
      // The saga's traffic step aborted the rolling release (read back at 0 %); its release step took the canary out.
      const steps = status.rollback?.steps.map((s) => [s.step, s.ok, s.by]);
      assert.equal(status.rollback?.environment, 'production');
      assert.deepEqual(steps?.slice(0, 2), [
        ['traffic-to-zero', true, undefined],
        ['scale-down', true, 'this-attempt'],
      ]);
    } finally {
      await vercel.close();
    }
  });

  it('refuses a version with no deployment, or one still building, in one line before anything changes', async () => {
    const vercel = await openVercel(ENVIRONMENTS, { steps: PRODUCTION_STEPS, stagingAt: 'dpl_100' });
    try {
      // The service's config names the Vercel target, which lists no versions: the target is asked.
      const scenario = { deployTarget: vercel.target, config: { target: { ...vercel.config } } };
      const missing = await t.runDeploy({ ...scenario, version: '7.7.7' }, async () => undefined);
      assert.ok(missing.error instanceof WorkflowFailedError);
      assert.match(String((missing.error.cause as Error).message), /hello has no release 7\.7\.7; known: [^\n]*$/);
      // Still building: the plan refuses it too, before staging takes it; starting it says why (vercel-target.test.ts).
      const building = await t.runDeploy({ ...scenario, version: '1.3.0' }, async () => undefined);
      assert.ok(building.error instanceof WorkflowFailedError);
      assert.match(String((building.error.cause as Error).message), /hello has no release 1\.3\.0; known: [^\n]*$/);
      const changes = vercel.fake.calls.filter((c) => !c.route.startsWith('GET'));
      assert.deepEqual(changes, [], 'nothing changed on Vercel');
    } finally {
      await vercel.close();
    }
  });
});
