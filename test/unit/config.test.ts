import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildDeployInput } from '../../src/config/deploy-request';
import { loadConfig } from '../../src/config/load';
import { offlinePlan, changeRisk } from '../../src/activities/planner/offline';
import { resolveHandoffDir } from '../../src/activities/report/handoff';
import { testConfig } from '../helpers/config';

const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-config-'));
function load(yaml: string) {
  const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return () => loadConfig(file);
}

describe('opsflow.yaml', () => {
  it('the repository example is valid and uses the spec thresholds', () => {
    const { config } = loadConfig(path.join(__dirname, '..', '..', 'opsflow.yaml'));
    const production = config.environments['production'];
    assert.deepEqual(production?.analysis.errorRate, { warn: 0.01, critical: 0.05 });
    assert.deepEqual(production?.analysis.latencyP95, { warn: 2_000, critical: 5_000 });
    assert.deepEqual(production?.approval.approvers, ['alice', 'bob']);
    assert.deepEqual(
      production?.canary.steps.map((s) => s.weight),
      [10, 25, 50, 100],
    );
  });

  it('the examples name their target in the target: form', () => {
    for (const file of ['opsflow.yaml', 'examples/blue-green.yaml']) {
      const { config } = loadConfig(path.join(__dirname, '..', '..', file));
      assert.deepEqual(config.services['hello']?.target, {
        kind: 'local',
        command: ['node', 'examples/hello/server.js'],
        versions: ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0'],
        initialVersion: '1.0.0',
        healthPath: '/healthz',
      });
    }
  });

  const environments = `environments:\n  staging: {}\n  production: { approval: { required: true, approvers: [a] } }\n`;
  it('reads a service in the earlier flat form as target: { kind: local }', () => {
    const target = `project: p\nservices:\n  hello:\n    target: { kind: local, command: [node, s.js], versions: [1.0.0, 1.1.0], initialVersion: 1.0.0 }\n`;
    const flat = `project: p\nservices:\n  hello: { command: [node, s.js], versions: [1.0.0, 1.1.0], initialVersion: 1.0.0 }\n`;
    const platform = `project: p\nservices:\n  hello: { platform: local, command: [node, s.js], versions: [1.0.0, 1.1.0], initialVersion: 1.0.0 }\n`;
    const expected = load(target + environments)().config.services;
    assert.equal(expected['hello']?.target.kind, 'local');
    assert.deepEqual(load(flat + environments)().config.services, expected);
    assert.deepEqual(load(platform + environments)().config.services, expected);
  });

  const base = `project: p\nservices:\n  hello: { command: [node, s.js], versions: [1.0.0], initialVersion: 1.0.0 }\n`;
  const invalid: [string, string, RegExp][] = [
    [
      'weights that do not increase',
      `${base}environments:\n  staging: {}\n  production:\n    strategy: canary\n    approval: { required: true, approvers: [a] }\n    canary: { steps: [{ weight: 50, bake: 1s }, { weight: 25, bake: 1s }] }\n`,
      /environments\.production\.canary\.steps\.1\.weight: weights must increase: 50 then 25/,
    ],
    [
      'a weight above 100',
      `${base}environments:\n  staging: {}\n  production:\n    approval: { required: true, approvers: [a] }\n    canary: { steps: [{ weight: 150, bake: 1s }] }\n`,
      /steps\.0\.weight/,
    ],
    [
      'production without approval',
      `${base}environments:\n  staging: {}\n  production: {}\n`,
      /production deploys need a manual approval/,
    ],
    [
      'a malformed duration',
      `${base}environments:\n  staging: { verify: { duration: soon } }\n  production: { approval: { required: true, approvers: [a] } }\n`,
      /"soon" is not a duration/,
    ],
    ['an unknown key', `${base}colour: blue\nenvironments: {}\n`, /colour|Unrecognized/],
    [
      'a pipeline naming a missing environment',
      `${base}environments:\n  staging: {}\n`,
      /pipeline\.1: environment "production" is not defined/,
    ],
    [
      'a Prometheus provider without metrics.prometheus',
      `${base}environments:\n  staging: { analysis: { provider: prometheus } }\n  production: { approval: { required: true, approvers: [a] } }\n`,
      /environments\.staging\.analysis\.provider: provider is prometheus but metrics\.prometheus\.url is not set/,
    ],
    [
      'an nginx-log provider without metrics.nginxLog',
      `${base}environments:\n  staging: {}\n  production: { approval: { required: true, approvers: [a] }, analysis: { provider: nginx-log } }\n`,
      /environments\.production\.analysis\.provider: provider is nginx-log but metrics\.nginxLog\.path is not set/,
    ],
    [
      'a PromQL template with a misspelt placeholder',
      `${base}metrics:\n  prometheus:\n    url: http://127.0.0.1:9090\n    queries: { requests: 'sum(x{svc="{{servce}}"})', errors: e, latencyP95Ms: p, latencyP99Ms: q }\nenvironments:\n  staging: {}\n  production: { approval: { required: true, approvers: [a] } }\n`,
      /metrics\.prometheus\.queries\.requests: unknown placeholder \{\{servce\}\}: use \{\{service\}\}/,
    ],
    [
      'a blue-green strategy misspelt',
      `${base}environments:\n  staging: {}\n  production: { strategy: bluegreen, approval: { required: true, approvers: [a] } }\n`,
      /environments\.production\.strategy/,
    ],
    [
      'a service without a target',
      `project: p\nservices:\n  hello: {}\n${environments}`,
      /services\.hello\.target: missing: name the service's deploy target, e\.g\. target: \{ kind: local/,
    ],
    [
      'an unknown target kind',
      `project: p\nservices:\n  hello: { target: { kind: heroku } }\n${environments}`,
      /services\.hello\.target\.kind: unknown kind "heroku": use one of local/,
    ],
    [
      'an initialVersion that is not a release',
      `project: p\nservices:\n  hello: { target: { kind: local, command: [x], versions: [1.0.0], initialVersion: 2.0.0 } }\n${environments}`,
      /services\.hello\.target\.initialVersion: initialVersion must be one of versions/,
    ],
    [
      'flat target settings beside a target',
      `project: p\nservices:\n  hello: { command: [x], target: { kind: local, command: [x], versions: [1.0.0], initialVersion: 1.0.0 } }\n${environments}`,
      /services\.hello: .*command/,
    ],
    [
      'a flat service on a platform that is not a target kind',
      `project: p\nservices:\n  hello: { platform: heroku, command: [x], versions: [1.0.0], initialVersion: 1.0.0 }\n${environments}`,
      /services\.hello\.target\.kind/,
    ],
    ['broken YAML', `project: [`, /not valid YAML/],
  ];
  for (const [name, yaml, message] of invalid) {
    it(`refuses ${name} with the path and the field`, () => {
      assert.throws(
        load(yaml),
        (err: Error) => message.test(err.message) && err.message.startsWith(dir) && !err.message.includes('\n'),
      );
    });
  }
});

describe('deploy requests', () => {
  const config = testConfig();
  const build = (request: Record<string, unknown>) => () =>
    buildDeployInput(
      config,
      { service: 'hello', version: '1.1.0', requestedBy: 'carol', ...request },
      { workdir: '/w' },
    );

  it('resolves a stable id, the default feature and the environments', () => {
    const input = build({})();
    assert.equal(input.deployId, 'deploy-hello-1.1.0-production');
    assert.equal(input.feature, 'deploy-hello-1.1.0');
    assert.deepEqual(
      input.environments.map((e) => [e.name, e.strategy, e.approval.required]),
      [
        ['staging', 'direct', false],
        ['production', 'canary', true],
      ],
    );
  });
  it('refuses feature names that would leave the handoff folder', () => {
    for (const feature of ['../x', '/x', 'a/../../b', '..']) assert.throws(build({ feature }), /--feature/);
    assert.throws(() => resolveHandoffDir('/w', '.agency/handoff/../../etc'), /would leave/);
  });
  it('refuses an unknown service, a malformed version and an unknown release', () => {
    assert.throws(build({ service: 'nope' }), /--service: unknown service "nope"/);
    assert.throws(build({ version: 'v1' }), /--version: must be a semantic version/);
    assert.throws(build({ version: '3.0.0' }), /--version: hello has no release 3\.0\.0/);
  });
});

describe('offline planner', () => {
  it('judges risk from the version change', () => {
    assert.equal(changeRisk('1.0.0', '1.0.1').risk, 'low');
    assert.equal(changeRisk('1.0.0', '1.1.0').risk, 'medium');
    assert.equal(changeRisk('1.0.0', '2.0.0').risk, 'high');
    assert.equal(changeRisk('1.2.0', '1.1.0').risk, 'high');
    assert.equal(changeRisk(undefined, '1.0.0').risk, 'medium');
  });
  it('raises risk when the handoff plan mentions a migration, and lays out every environment', () => {
    const input = buildDeployInput(
      testConfig(),
      { service: 'hello', version: '1.1.0', requestedBy: 'c' },
      { workdir: '/w' },
    );
    const plain = offlinePlan({ input, currentVersions: { staging: '1.1.0', production: '1.1.0' } });
    assert.equal(plain.risk, 'low');
    assert.equal(plain.source, 'offline');
    const handoff = offlinePlan({
      input,
      currentVersions: { staging: '1.1.0', production: '1.1.0' },
      handoffPlan: { path: 'plan.md', text: 'This release runs a schema migration.' },
    });
    assert.equal(handoff.risk, 'medium');
    assert.equal(handoff.source, 'handoff');
    assert.match(handoff.rationale, /plan\.md mentions schema/);
    assert.deepEqual(
      handoff.steps.map((s) => s.environment),
      ['staging', 'production', 'production'],
    );
  });
});
