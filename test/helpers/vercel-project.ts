/**
 * A Vercel project for tests: the fake API (test/helpers/fake-vercel.ts) with 1.0.0 serving production, 1.1.0 and
 * 1.2.0 ready beside it, 1.3.0 still building, two previews (2.0.0 on the staging alias) — and the Vercel target
 * pointed at it with its token in an environment of its own and its record in a fresh folder.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { vercelTargetConfigSchema, type VercelTargetConfig } from '../../src/activities/targets/vercel/config';
import { VercelTarget } from '../../src/activities/targets/vercel/target';
import { FakeVercel, type FakeDeployment } from './fake-vercel';

export const TOKEN = 'vercel-test-token-0123456789';
export const PROJECT = { id: 'prj_hello', teamId: 'team_ops', token: TOKEN, productionDomain: 'hello.example.com' };
/** The environment's canary steps, which become the rolling release's stages. */
export const STEPS = [10, 25, 50, 100];

const DEPLOYMENTS: FakeDeployment[] = [
  { uid: 'dpl_100', version: '1.0.0', sha: 'aaa100' },
  { uid: 'dpl_110', version: '1.1.0', sha: 'bbb110' },
  { uid: 'dpl_120', version: '1.2.0', sha: 'ccc120' },
  { uid: 'dpl_130', version: '1.3.0', readyState: 'BUILDING' },
  { uid: 'dpl_p200', version: '2.0.0', target: null },
  { uid: 'dpl_p210', version: '2.1.0', target: null },
];

/** A fake project with 1.0.0 in production and 2.0.0 on the staging alias, and a target pointed at it. */
export async function openVercel(
  environments: VercelTargetConfig['environments'] = {
    production: { release: 'rolling-release', domain: PROJECT.productionDomain },
    staging: { release: 'alias', alias: 'staging.example.com' },
  },
  options: { steps?: readonly number[]; stagingAt?: string } = {},
) {
  const fake = new FakeVercel(PROJECT, DEPLOYMENTS, 'dpl_100');
  fake.aliases.set('staging.example.com', options.stagingAt ?? 'dpl_p200');
  const apiUrl = await fake.start();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-vercel-'));
  const config = vercelTargetConfigSchema.parse({
    kind: 'vercel',
    team: PROJECT.teamId,
    project: PROJECT.id,
    token: 'VERCEL_TOKEN',
    environments,
    record: dir,
    apiUrl,
  });
  const env = { VERCEL_TOKEN: TOKEN };
  const target = new VercelTarget(config, {
    canarySteps: { production: options.steps ?? STEPS, staging: options.steps ?? STEPS },
    env,
  });
  const close = async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(fake.problems, [], 'every request and answer fits the SDK models');
  };
  return { fake, target, config, env, dir, close };
}
