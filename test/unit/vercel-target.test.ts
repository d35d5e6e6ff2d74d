/**
 * The Vercel target through `@vercel/sdk`, pointed at a fake of Vercel's API on loopback that keeps a project's state
 * and checks every request and answer with the SDK's own models: it keeps the deploy target contract on a
 * rolling-release production, and Vercel's own rules — a version is a READY deployment or is refused in one line
 * before anything changes, a refused token is one line naming its variable, the token never leaves the worker's
 * environment, an alias environment and a promote (blue-green) production switch all at once and roll back.
 * Run: node --import tsx --test test/unit/vercel-target.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidTargetRequest, TargetError, UnknownRelease } from '../../src/activities/targets/contract';
import { targetsFromConfig } from '../../src/activities/targets/registry';
import { vercelTargetConfigSchema } from '../../src/activities/targets/vercel/config';
import { VercelRecord } from '../../src/activities/targets/vercel/record';
import { VercelTarget } from '../../src/activities/targets/vercel/target';
import path from 'node:path';
import { whereItRuns } from '../../src/activities/operations/render-delivery';
import { loadConfig } from '../../src/config/load';
import { configSchema } from '../../src/config/schema';
import { openVercel, PROJECT, STEPS, TOKEN } from '../helpers/vercel-project';
import { describeTargetContract } from '../helpers/target-contract';

describeTargetContract('Vercel target (rolling release, @vercel/sdk against a fake Vercel)', async () => {
  const { target, close } = await openVercel();
  return {
    target,
    service: 'hello',
    environment: 'production',
    stable: '1.0.0',
    releases: ['1.1.0', '1.2.0'],
    unknownVersion: '9.9.9',
    unknownEnvironment: 'qa',
    close,
  };
});

describe('Vercel target: what Vercel does', () => {
  let s: Awaited<ReturnType<typeof openVercel>>;
  const production = { service: 'hello', environment: 'production', deployId: 'deploy/hello/1.1.0/production' };
  before(async () => {
    s = await openVercel();
  });
  after(() => s.close());

  it('ramps through the rolling release stage by stage, reading each share back, and completes on promotion', async () => {
    await s.target.startRelease({ ...production, version: '1.1.0' });
    assert.equal(s.fake.rollingRelease, null, 'starting changes nothing on Vercel');
    assert.equal((await s.target.setWeight({ ...production, weight: 10 })).weight, 10);
    assert.deepEqual(s.fake.config?.advancementType, 'manual-approval');
    assert.deepEqual(
      s.fake.config?.stages.map((x) => x.targetPercentage),
      STEPS,
    );
    assert.equal(s.fake.canaryPercentage(), 10);
    assert.equal((await s.target.setWeight({ ...production, weight: 50 })).weight, 50);
    assert.equal(s.fake.rollingRelease!.index, 2, 'approved stage by stage: 10 → 25 → 50');
    assert.equal(s.fake.production, 'dpl_100', 'production still serves the rest');
    await assert.rejects(s.target.setWeight({ ...production, weight: 25 }), /only moves forward/);
    await assert.rejects(s.target.setWeight({ ...production, weight: 75 }), /75 % is not a stage/);
    await s.target.promote({ ...production, version: '1.1.0' });
    assert.equal(s.fake.rollingRelease!.state, 'COMPLETE');
    assert.equal(s.fake.production, 'dpl_110');
    assert.deepEqual(await s.target.status(production), {
      stable: { version: '1.1.0', deployId: production.deployId },
      canary: null,
    });
    // Instant rollback of the promotion: production back on 1.0.0.
    const back = await s.target.rollback({ ...production, rollbackId: 'run/1' });
    assert.deepEqual([back.rolledBack, back.by], [true, 'this-attempt']);
    assert.equal(s.fake.production, 'dpl_100');
    assert.ok(s.fake.calls.some((c) => c.route === 'POST rollback'));
  });

  it('aborts a failing rolling release: traffic back on the current production deployment, read back', async () => {
    const ref = { ...production, deployId: 'deploy/hello/1.2.0/production' };
    await s.target.startRelease({ ...ref, version: '1.2.0' });
    await s.target.setWeight({ ...ref, weight: 10 });
    const result = await s.target.rollback({ ...ref, rollbackId: 'run/abort' });
    assert.deepEqual([result.rolledBack, result.by, result.version], [true, 'this-attempt', '1.2.0']);
    assert.equal(s.fake.rollingRelease?.state, 'ABORTED');
    assert.equal(s.fake.canaryPercentage(), 0);
    assert.equal(s.fake.production, 'dpl_100');
    assert.deepEqual(await s.target.status(ref), { stable: { version: '1.0.0', deployId: null }, canary: null });
  });

  it('a rollback whose first attempt aborted on Vercel but died before its answer says an earlier attempt did', async () => {
    const ref = { ...production, deployId: 'deploy/hello/1.2.0/production-lost' };
    await s.target.startRelease({ ...ref, version: '1.2.0' });
    await s.target.setWeight({ ...ref, weight: 10 });
    // The first attempt wrote its step down and Vercel aborted; the worker died before the record forgot the canary.
    const record = new VercelRecord(s.dir, PROJECT.id);
    const noted = { deployId: ref.deployId, version: '1.2.0', rollbackId: 'run/lost', at: Date.now() };
    await record.update('hello/production', (t) => ({ ...t, rollbacks: [...t.rollbacks, noted] }));
    Object.assign(s.fake.rollingRelease!, { state: 'ABORTED', updatedAt: Date.now() });
    const retried = await s.target.rollback({ ...ref, rollbackId: 'run/lost' });
    assert.deepEqual([retried.rolledBack, retried.by, retried.weightZeroAt], [true, 'earlier-attempt', noted.at]);
    assert.equal((await s.target.status(ref)).canary, null);
  });

  it("never aborts another deploy's rolling release to undo an earlier promotion", async () => {
    const a = { ...production, deployId: 'deploy/hello/1.1.0/production-a' };
    const b = { ...production, deployId: 'deploy/hello/1.2.0/production-b' };
    await s.target.startRelease({ ...a, version: '1.1.0' });
    await s.target.promote({ ...a, version: '1.1.0' });
    await s.target.startRelease({ ...b, version: '1.2.0' });
    await s.target.setWeight({ ...b, weight: 10 });
    await assert.rejects(
      s.target.rollback({ ...a, rollbackId: 'run/late' }),
      /a rolling release of dpl_120 is in progress/,
    );
    assert.equal(s.fake.rollingRelease?.state, 'ACTIVE');
    assert.equal(s.fake.canaryPercentage(), 10);
    await s.target.rollback({ ...b, rollbackId: 'run/b' });
    const late = await s.target.rollback({ ...a, rollbackId: 'run/late' });
    assert.deepEqual([late.rolledBack, late.by], [true, 'this-attempt'], 'once B is out, A is undone');
    assert.equal(s.fake.production, 'dpl_100');
  });

  it('refuses a version with no deployment, or one not READY, in one line before anything changes', async () => {
    const calls = s.fake.calls.length;
    const ref = { ...production, deployId: 'deploy/hello/x/production' };
    await assert.rejects(s.target.startRelease({ ...ref, version: '7.7.7' }), (err: unknown) => {
      assert.ok(err instanceof UnknownRelease);
      assert.match(
        err.message,
        /^prj_hello has no production deployment with meta opsflow\.version or git commit 7\.7\.7/,
      );
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    await assert.rejects(s.target.startRelease({ ...ref, version: '1.3.0' }), (err: unknown) => {
      assert.ok(err instanceof InvalidTargetRequest);
      assert.match(err.message, /1\.3\.0 is Vercel deployment dpl_130, which is BUILDING, not READY/);
      return true;
    });
    const changes = s.fake.calls.slice(calls).filter((c) => !c.route.startsWith('GET'));
    assert.deepEqual(changes, [], 'nothing but reads');
    assert.deepEqual(await s.target.status(ref), { stable: { version: '1.0.0', deployId: null }, canary: null });
  });

  it('finds a version by its git commit, and lists as releases what every environment can start', async () => {
    const releases = await s.target.releases();
    for (const v of ['1.0.0', '1.2.0', 'ccc120']) assert.ok(releases.includes(v), v);
    // Production could not start a preview (2.1.0) or a build still running (1.3.0): the plan refuses them up front.
    for (const v of ['2.1.0', '1.3.0']) assert.ok(!releases.includes(v), v);
    const ref = { ...production, deployId: 'deploy/hello/ccc120/production' };
    const started = await s.target.startRelease({ ...ref, version: 'ccc120' });
    assert.match(started.detail, /dpl_120\.vercel\.app/);
    await s.target.rollback({ ...ref, rollbackId: 'run/sha' });
  });

  it("an expired token is one line naming the token's variable, and the token is never in it", async () => {
    s.fake.tokenValid = false;
    try {
      await assert.rejects(s.target.status(production), (err: unknown) => {
        assert.ok(err instanceof InvalidTargetRequest, String(err));
        assert.match(err.message, /^Vercel refused the token in VERCEL_TOKEN \(403: Not authorized/);
        assert.doesNotMatch(err.message, new RegExp(TOKEN));
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    } finally {
      s.fake.tokenValid = true;
    }
    const missing = new VercelTarget(s.config, { canarySteps: {}, env: {} });
    await assert.rejects(missing.status(production), (err: unknown) => {
      assert.ok(err instanceof InvalidTargetRequest);
      assert.equal(
        err.message,
        "the worker's environment has no VERCEL_TOKEN: export the Vercel access token of team_ops there",
      );
      return true;
    });
    await assert.rejects(
      missing.status(production),
      /^Error: the worker's environment has no VERCEL_TOKEN|no VERCEL_TOKEN/,
    );
  });

  it('an alias environment switches all at once and rolls back by pointing the alias back', async () => {
    const staging = { service: 'hello', environment: 'staging', deployId: 'deploy/hello/2.1.0/staging' };
    assert.deepEqual(await s.target.status(staging), { stable: { version: '2.0.0', deployId: null }, canary: null });
    await s.target.startRelease({ ...staging, version: '2.1.0' });
    await assert.rejects(s.target.setWeight({ ...staging, weight: 10 }), /switches all traffic at once/);
    assert.equal((await s.target.setWeight({ ...staging, weight: 100 })).weight, 100);
    assert.equal(s.fake.aliases.get('staging.example.com'), 'dpl_p210');
    const result = await s.target.rollback({ ...staging, rollbackId: 'run/staging' });
    assert.deepEqual([result.rolledBack, result.by], [true, 'this-attempt']);
    assert.equal(s.fake.aliases.get('staging.example.com'), 'dpl_p200');
  });

  it('a production without rolling releases promotes, and rolls back to the previous production (blue-green)', async () => {
    const bg = await openVercel({ production: { release: 'promote', domain: PROJECT.productionDomain } });
    try {
      const ref = { ...production, deployId: 'deploy/hello/1.2.0/production' };
      await bg.target.startRelease({ ...ref, version: '1.2.0' });
      await bg.target.setWeight({ ...ref, weight: 100 });
      assert.equal(bg.fake.production, 'dpl_120');
      await bg.target.setWeight({ ...ref, weight: 0 });
      assert.equal(bg.fake.production, 'dpl_100', 'instant rollback');
      assert.ok(!bg.fake.calls.some((c) => c.route.includes('rolling-release')), 'no rolling release');
    } finally {
      await bg.close();
    }
  });

  it('is built from opsflow.yaml by the registry; the config refuses two productions and a token value', () => {
    const target = {
      kind: 'vercel',
      team: 'my-team',
      project: 'hello',
      token: 'VERCEL_TOKEN',
      environments: { production: { release: 'rolling-release', domain: 'hello.example.com' } },
    };
    const config = configSchema.parse({
      project: 'p',
      services: { hello: { target } },
      pipeline: ['production'],
      environments: { production: { approval: { required: true, approvers: ['alice'] } } },
    });
    const built = targetsFromConfig(config).targetFor('hello');
    assert.equal(built.kind, 'vercel');
    const two = vercelTargetConfigSchema.safeParse({
      ...target,
      environments: {
        a: { release: 'promote', domain: 'a.example.com' },
        b: { release: 'promote', domain: 'b.example.com' },
      },
    });
    assert.match(two.error?.issues[0]?.message ?? '', /a Vercel project has one production: only one of a, b/);
    const literal = vercelTargetConfigSchema.safeParse({ ...target, token: 'vcp_abc-123.def' });
    assert.match(literal.error?.issues[0]?.message ?? '', /name the environment variable/);
    const url = vercelTargetConfigSchema.safeParse({
      ...target,
      environments: { staging: { release: 'alias', alias: 'https://staging.example.com' } },
    });
    assert.equal(url.success, false);
    const plain = vercelTargetConfigSchema.safeParse({ ...target, apiUrl: 'http://api.example.com' });
    assert.match(plain.error?.issues[0]?.message ?? '', /use https \(plain http only to a loopback address\)/);
  });

  it('says which errors are final: a Vercel refusal is a TargetError, an outage is retried', async () => {
    const down = new VercelTarget(
      { ...s.config, apiUrl: 'http://127.0.0.1:9' },
      { canarySteps: {}, env: s.env, timeoutMs: 2000 },
    );
    await assert.rejects(down.status(production), (err: unknown) => {
      assert.ok(!(err instanceof TargetError), 'retried by Temporal');
      return true;
    });
  });

  it('examples/vercel/opsflow.yaml loads: staging by alias, production by a rolling release of its canary steps', () => {
    const { config } = loadConfig(path.join(__dirname, '..', '..', 'examples', 'vercel', 'opsflow.yaml'));
    const target = config.services['web']?.target;
    assert.equal(target?.kind, 'vercel');
    assert.deepEqual(target?.kind === 'vercel' && target.environments, {
      staging: { release: 'alias', alias: 'staging.example.com' },
      production: { release: 'rolling-release', domain: 'www.example.com' },
    });
    assert.equal(targetsFromConfig(config).targetFor('web').kind, 'vercel');
    // OPERATIONS.md says where each environment runs.
    const where = (env: string) => (target ? whereItRuns(config, target, env) : '');
    assert.match(where('staging'), /Vercel project `web` of `my-team`: a deployment becomes staging by alias/);
    assert.match(where('production'), /production `www\.example\.com` through a rolling release judged by opsflow/);
  });

  it('a newer build of a version still running does not hide its READY deployment', async () => {
    s.fake.addDeployment({ uid: 'dpl_121', version: '1.2.0', readyState: 'BUILDING' });
    const ref = { ...production, deployId: 'deploy/hello/1.2.0/production-rebuilt' };
    const started = await s.target.startRelease({ ...ref, version: '1.2.0' });
    assert.match(started.detail, /dpl_120\.vercel\.app/);
    assert.ok((await s.target.releases()).includes('1.2.0'));
    await s.target.rollback({ ...ref, rollbackId: 'run/rebuilt' });
  });
});
