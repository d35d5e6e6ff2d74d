import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { recentDeploys, type RecentDeploy } from '../../src/activities/planner/history';
import { assessRisk, offlinePlan } from '../../src/activities/planner/offline';
import { testConfig, testInput } from '../helpers/config';

const config = testConfig();
// The planner reads only the version string, so any semantic version will do.
const input = (version: string) => ({ ...testInput(config, '/w'), version });
const deploy = (version: string, outcome: string, endedAt = '2026-11-20T10:00:00.000Z'): RecentDeploy => ({
  deployId: `deploy-hello-${version}-production`,
  version,
  outcome,
  reason: outcome === 'rolled-back' ? 'critical: error rate 20.00 %' : 'ok',
  endedAt,
  feature: `deploy-hello-${version}`,
});

interface Row {
  name: string;
  version: string;
  running: string | undefined;
  planMd?: string;
  history?: RecentDeploy[];
  risk: 'low' | 'medium' | 'high';
  rationale: RegExp;
  doubled: boolean;
}

const rows: Row[] = [
  { name: 'a patch is low risk', version: '1.0.1', running: '1.0.0', risk: 'low', rationale: /patch/, doubled: false },
  {
    name: 'a minor change is medium',
    version: '1.1.0',
    running: '1.0.0',
    risk: 'medium',
    rationale: /minor/,
    doubled: false,
  },
  {
    name: 'a major change is high',
    version: '2.0.0',
    running: '1.0.0',
    risk: 'high',
    rationale: /major/,
    doubled: true,
  },
  {
    name: 'a downgrade is high',
    version: '1.0.0',
    running: '1.1.0',
    risk: 'high',
    rationale: /downgrade/,
    doubled: true,
  },
  {
    name: 'a first deploy is medium',
    version: '1.0.0',
    running: undefined,
    risk: 'medium',
    rationale: /first deploy/,
    doubled: false,
  },
  {
    name: 'plan.md mentioning a migration raises a patch to medium',
    version: '1.0.1',
    running: '1.0.0',
    planMd: 'Adds a column: schema migration runs on start.',
    risk: 'medium',
    rationale: /plan\.md mentions schema/,
    doubled: false,
  },
  {
    name: 'plan.md hints raise a minor change to high',
    version: '1.1.0',
    running: '1.0.0',
    planMd: 'Breaking change to the API',
    risk: 'high',
    rationale: /plan\.md mentions Breaking/,
    doubled: true,
  },
  {
    name: 'a version that rolled back before is high risk whatever its size',
    version: '1.0.1',
    running: '1.0.0',
    history: [deploy('1.0.1', 'rolled-back')],
    risk: 'high',
    rationale: /1\.0\.1 was rolled back on 2026-11-20 \(critical: error rate 20\.00 %\)/,
    doubled: true,
  },
  {
    name: "two rollbacks among the service's last five deploys raise the risk",
    version: '1.0.1',
    running: '1.0.0',
    history: [deploy('0.9.0', 'rolled-back'), deploy('0.8.0', 'promoted'), deploy('0.7.0', 'rolled-back')],
    risk: 'medium',
    rationale: /2 of hello's last 3 deploys rolled back/,
    doubled: false,
  },
  {
    name: 'one earlier rollback of another version does not',
    version: '1.0.1',
    running: '1.0.0',
    history: [deploy('0.9.0', 'rolled-back'), deploy('0.8.0', 'promoted')],
    risk: 'low',
    rationale: /^1\.0\.0 → 1\.0\.1 is a patch$/,
    doubled: false,
  },
];

describe('offline planner: risk decides the schedule', () => {
  for (const row of rows) {
    it(row.name, () => {
      const running: Record<string, string> = row.running ? { staging: row.running, production: row.running } : {};
      const plan = offlinePlan({
        input: input(row.version),
        currentVersions: running,
        ...(row.planMd ? { handoffPlan: { path: 'plan.md', text: row.planMd } } : {}),
        ...(row.history ? { history: row.history } : {}),
      });
      assert.equal(plan.risk, row.risk);
      assert.match(plan.rationale, row.rationale);
      const configured = input(row.version).environments;
      const production = plan.environments?.[1];
      const bakes = production?.steps.map((s) => s.bake);
      const configuredBakes = configured[1]?.steps.map((s) => s.bake) ?? [];
      assert.deepEqual(bakes, row.doubled ? configuredBakes.map((b) => b * 2) : configuredBakes);
      // Weights never change: what operators expect at each step is what runs.
      assert.deepEqual(
        production?.steps.map((s) => s.weight),
        configured[1]?.steps.map((s) => s.weight),
      );
      assert.equal(plan.environments?.[0]?.verifyMs, (configured[0]?.verifyMs ?? 0) * (row.doubled ? 2 : 1));
      // The text describes the schedule that runs.
      const ramp = plan.steps.find((s) => s.environment === 'production' && s.action.startsWith('canary'));
      assert.match(ramp?.action ?? '', row.doubled ? /10 % for 4m/ : /10 % for 2m/);
      if (row.risk === 'high') assert.ok(plan.questions.some((q) => /High risk/.test(q)));
      assert.equal(plan.adjustments, undefined, 'the offline plan never needs the clamp');
    });
  }

  it('asks about a version that rolled back before', () => {
    const { questions } = assessRisk({
      input: input('1.2.0'),
      currentVersions: { production: '1.1.0' },
      history: [deploy('1.2.0', 'rolled-back')],
    });
    assert.match(
      questions[0] ?? '',
      /1\.2\.0 was rolled back before: what changed since deploy-hello-1\.2\.0-production\?/,
    );
  });
});

describe('recent deploys from earlier report.json files', () => {
  const workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-history-'));
  after(() => rmSync(workdir, { recursive: true, force: true }));
  const write = (feature: string, report: unknown) => {
    const dir = path.join(workdir, '.agency/handoff', feature, 'devops-automator');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'report.json'), typeof report === 'string' ? report : JSON.stringify(report));
  };
  const report = (version: string, outcome: string, endedAt: string, service = 'hello', project = 'test') => ({
    schema: 'opsflow.deploy-report/v1',
    deployId: `deploy-${service}-${version}-production`,
    project,
    service,
    version,
    feature: `f-${version}`,
    outcome,
    reason: `${outcome} because`,
    endedAt,
  });

  it('reads this service of this project, newest first, skipping others and broken files', () => {
    write('a', report('1.0.1', 'promoted', '2026-11-01T00:00:00.000Z'));
    write('b', report('1.2.0', 'rolled-back', '2026-11-03T00:00:00.000Z'));
    write('c', report('1.1.0', 'promoted', '2026-11-02T00:00:00.000Z'));
    write('d', report('9.0.0', 'rolled-back', '2026-11-04T00:00:00.000Z', 'other'));
    write('e', report('9.0.0', 'rolled-back', '2026-11-04T00:00:00.000Z', 'hello', 'elsewhere'));
    write('f', '{ not json');
    write('g', { schema: 'something-else' });
    const found = recentDeploys(workdir, { project: 'test', service: 'hello' });
    assert.deepEqual(
      found.map((d) => `${d.version} ${d.outcome}`),
      ['1.2.0 rolled-back', '1.1.0 promoted', '1.0.1 promoted'],
    );
    assert.deepEqual(
      recentDeploys(workdir, {
        project: 'test',
        service: 'hello',
        sinceMs: Date.parse('2026-11-02T00:00:00.000Z'),
      }).map((d) => d.version),
      ['1.2.0', '1.1.0'],
    );
    assert.equal(recentDeploys(workdir, { project: 'test', service: 'hello', limit: 1 }).length, 1);
    assert.deepEqual(recentDeploys('/nonexistent', { project: 'test', service: 'hello' }), []);
  });
});
