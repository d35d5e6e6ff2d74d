// A target without a traffic router (Kubernetes by replica ratio) answers each weight as approximate: status, the UI's
// details, summary.md and report.json say so; an exact target's deploy says nothing of the kind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { WeightRef, WeightResult } from '../../src/activities/targets/contract';
import type { DeployStatus } from '../../src/shared/deploy';
import { DeployTestEnv } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

async function deploy(approximate: boolean) {
  const canaries: NonNullable<DeployStatus['canary']>[] = [];
  const run = await t.runDeploy(
    {
      arrange: (target) => {
        if (!approximate) return;
        const exact = target.setWeight.bind(target);
        target.setWeight = async (ref: WeightRef): Promise<WeightResult> => ({
          ...(await exact(ref)),
          approximate: true,
        });
      },
    },
    async (handle) => {
      await t.approve()(handle);
      const running = await t.waitFor(handle, 'CANARY', (s) => (s.canary?.step ?? 0) >= 2);
      if (running.canary) canaries.push(running.canary);
    },
  );
  const dir = path.join(t.workdir, run.result?.report?.dir ?? 'missing');
  return {
    ...run,
    canaries,
    summary: readFileSync(path.join(dir, 'summary.md'), 'utf8'),
    report: JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')),
  };
}

describe('an approximate traffic split', () => {
  it('is said in status, the timeline, summary.md and report.json', async () => {
    const run = await deploy(true);
    assert.equal(run.result?.outcome, 'promoted');
    assert.equal(run.canaries[0]?.approximate, true);
    const production = run.status.results?.find((r) => r.environment === 'production');
    assert.equal(production?.approximateSplit, true);
    assert.equal(run.status.timeline.filter((e) => /^production has no traffic router/.test(e.message)).length, 1);
    assert.match(run.summary, /Traffic split by replica counts \(the target has no traffic router\)/);
    assert.equal(run.report.environments.production.approximateSplit, true);
  });

  it('an exact split says nothing of the kind', async () => {
    const run = await deploy(false);
    assert.equal(run.result?.outcome, 'promoted');
    assert.equal(run.canaries[0]?.approximate, undefined);
    assert.doesNotMatch(run.summary, /replica counts/);
    assert.equal(run.report.environments.production.approximateSplit, false);
  });
});
