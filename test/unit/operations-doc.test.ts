/**
 * OPERATIONS.md for the example projects: the spec's template with no placeholder left, every section naming its
 * source or what would fill it, and the environments, steps, thresholds and approvers read back equal to the config.
 * Run: node --import tsx --test test/unit/operations-doc.test.ts
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  agentFactsFromReview,
  configFacts,
  readDeployLog,
  renderOperations,
  type OperationsInput,
} from '../../src/activities/operations';
import { loadConfig } from '../../src/config/load';
import { configSchema, type OpsflowConfig } from '../../src/config/schema';
import { buildSelfReview, deployRecord, emptyFigures, foldDeploy, initialState } from '../../src/shared/agent';
import { agentConfigSchema } from '../../src/config/agent';
import { durationSchema } from '../../src/shared/duration';
import { placeholderProblems, sectionsWithoutSource, TEMPLATE_HEADINGS } from '../helpers/operations-doc';

const REPO = path.join(__dirname, '..', '..');
const EXAMPLES = [
  'opsflow.yaml',
  'examples/nginx/opsflow.yaml',
  'examples/kubernetes/opsflow.yaml',
  'examples/blue-green.yaml',
];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'opsflow-operations-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The `| setting | value |` rows of one environment's table. */
function environmentTable(md: string, env: string): Map<string, string> {
  const section = md.split(`\n#### ${env}\n`)[1]?.split(/\n#{2,4} /)[0] ?? '';
  return new Map([...section.matchAll(/^\| ([^|]+?) \| (.+) \|$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** The approvers the worker's policy names for an environment (policy first, then the environment's approval). */
function approversOf(config: OpsflowConfig, env: string): string[] {
  const listed = config.policy?.environments[env];
  if (listed) return listed.protected ? listed.approvers : [];
  const approval = config.environments[env]?.approval;
  return approval?.required ? approval.approvers : [];
}

function render(config: OpsflowConfig, extra: Partial<OperationsInput> = {}): string {
  return renderOperations({
    project: config.project,
    generatedAt: '2026-11-24T09:00:00.000Z',
    generatedBy: 'opsflow docs operations',
    linkBase: '',
    config: configFacts(config.project, { config, path: 'opsflow.yaml' }),
    agent: { missing: 'no ops agent runs for this project' },
    log: { missing: 'no log' },
    ...extra,
  });
}

const ms = (text: string) => durationSchema.parse(text);

describe('OPERATIONS.md for the example projects', () => {
  for (const file of EXAMPLES) {
    it(`${file}: the template's sections, no placeholder, each section sourced, and the config read back`, () => {
      const { config } = loadConfig(file, REPO, () => {});
      const md = render(config);
      assert.deepEqual(placeholderProblems(md), []);
      assert.deepEqual(sectionsWithoutSource(md), []);
      for (const heading of TEMPLATE_HEADINGS) assert.ok(md.includes(`\n${heading}\n`), `${file}: ${heading}`);
      assert.match(md, /The ops agent's figures are not in this version \(no ops agent runs for this project\)/);

      for (const [name, env] of Object.entries(config.environments)) {
        const table = environmentTable(md, name);
        assert.equal(table.get('strategy'), env.strategy, `${file} ${name} strategy`);
        if (env.strategy === 'canary') {
          const steps = [...(table.get('steps') ?? '').matchAll(/(\d+) % for (\S+)/g)].map((m) => ({
            weight: Number(m[1]),
            bake: ms(m[2] ?? ''),
          }));
          assert.deepEqual(steps, env.canary.steps, `${file} ${name} steps`);
        }
        const approvers = table.get('approvers') ?? '';
        assert.deepEqual(approvers === 'none' ? [] : approvers.split(', '), approversOf(config, name));
        const errorRate = /^warn > ([\d.]+) %, critical > ([\d.]+) %$/.exec(table.get('error rate') ?? '');
        assert.deepEqual(
          [Number(errorRate?.[1]) / 100, Number(errorRate?.[2]) / 100],
          [env.analysis.errorRate.warn, env.analysis.errorRate.critical],
        );
        const p95 = /^warn > (\S+), critical > (\S+)$/.exec(table.get('p95 latency') ?? '');
        assert.deepEqual(
          [ms(p95?.[1] ?? ''), ms(p95?.[2] ?? '')],
          [env.analysis.latencyP95.warn, env.analysis.latencyP95.critical],
        );
        assert.match(table.get('minimum requests') ?? '', new RegExp(`^${env.analysis.minRequests} per sample`));
      }
      // The pipeline's order, as the overview says it.
      const overview = /- \*\*Deployment Strategy\*\*: (.+)/.exec(md)?.[1] ?? '';
      assert.deepEqual(
        overview.split(' → ').map((s) => s.split(':')[0]),
        config.pipeline,
      );
    });
  }

  it('names channels by kind and credential variable, never a URL, token or password', () => {
    const config = configSchema.parse({
      project: 'shop',
      services: {
        web: { target: { kind: 'local', command: ['node', 'x.js'], versions: ['1.0.0'], initialVersion: '1.0.0' } },
      },
      metrics: { prometheus: { url: 'https://scraper:hunter2@prom.example.com:9090/api' } },
      environments: {
        staging: { analysis: { provider: 'prometheus' } },
        production: { strategy: 'canary', approval: { required: true, approvers: ['alice'] } },
      },
      notifications: {
        channels: {
          team: { kind: 'slack', channel: 'C0123ABCD', tokenEnv: 'SHOP_SLACK_TOKEN' },
          audit: { kind: 'webhook', url: 'https://hooks.example.com/T0/B0/sekret-path-123' },
          oncall: { kind: 'pagerduty', routingKeyFile: '/run/secrets/pd' },
          mail: {
            kind: 'email',
            smtp: { host: 'smtp.example.com', userEnv: 'SMTP_USER', passwordEnv: 'SMTP_PASSWORD' },
            from: 'ops@example.com',
            to: ['sre@example.com'],
          },
        },
        routes: [{ environments: ['production'], channels: ['team', 'oncall', 'mail'] }, { channels: ['audit'] }],
        escalation: { production: { approvalReminders: ['30m', '2h'], pauseAlertBefore: '10m' } },
      },
    });
    const md = render(config);
    assert.deepEqual(placeholderProblems(md), []);
    assert.deepEqual(sectionsWithoutSource(md), []);
    assert.match(md, /\| team \| slack \| \$SHOP\\_SLACK\\_TOKEN \| every event for production \|/);
    assert.match(md, /\| audit \| webhook \| \$OPSFLOW\\_WEBHOOK\\_SECRET \| every event for every environment \|/);
    assert.match(md, /\| oncall \| pagerduty \| a file of the worker \(routingKeyFile\) \|/);
    assert.match(md, /\| mail \| email \| \$SMTP\\_USER and \$SMTP\\_PASSWORD \|/);
    assert.match(md, /Escalation in production\*\*: approval reminders after 30m, 2h/);
    assert.match(md, /Prometheus at `https:\/\/prom\.example\.com:9090`/);
    for (const secret of [
      'sekret-path-123',
      'hooks.example.com',
      '/run/secrets/pd',
      'hunter2',
      'scraper',
      'sre@example.com',
    ]) {
      assert.ok(!md.includes(secret), `${secret} is in the document`);
    }
  });

  it("fills DORA figures, quality gates and improvement items from the agent's review, runbooks from its log", () => {
    const { config } = loadConfig('opsflow.yaml', REPO, () => {});
    const agentConfig = agentConfigSchema.parse({});
    const t0 = Date.UTC(2026, 10, 23, 9, 0);
    const state = initialState(t0, agentConfig, t0 + 86_400_000);
    const result = {
      deployId: 'deploy-hello-1.2.0-production',
      service: 'hello',
      version: '1.2.0',
      outcome: 'rolled-back' as const,
      reason: 'error rate 20 %',
      phase: 'ROLLED_BACK' as const,
      durationMs: 120_000,
      report: null,
    };
    const facts = {
      approvalWaitMs: 0,
      restoreMs: 45_000,
      inconclusiveSamples: 0,
      unmeasuredSamples: 0,
      samples: 3,
      environment: 'production',
      files: [],
    };
    const record = deployRecord(result, undefined, facts, new Date(t0 + 3_600_000).toISOString());
    state.day = foldDeploy(emptyFigures(), { ...record, cause: 'error-rate' }, facts, agentConfig.targets);
    state.totals = state.day;
    const { review } = buildSelfReview({
      project: 'example',
      state,
      fromMs: t0,
      nowMs: t0 + 86_400_000,
      config: agentConfig,
    });

    const workdir = path.join(tmp, 'with-log');
    mkdirSync(path.join(workdir, 'docs/operations'), { recursive: true });
    const line = (cause: string, file: string) =>
      JSON.stringify({
        key: `deploy:${file}`,
        type: 'deploy',
        at: '2026-11-23T10:00:00.000Z',
        project: 'example',
        deployId: 'deploy-hello-1.2.0-production',
        service: 'hello',
        version: '1.2.0',
        outcome: 'rolled-back',
        reason: 'error rate 20 %',
        cause,
        durationMs: 120_000,
        restoreMs: 45_000,
        files: [file, 'docs/operations/agent-log.jsonl'],
      });
    writeFileSync(
      path.join(workdir, 'docs/operations/agent-log.jsonl'),
      [
        line('error-rate', 'docs/incidents/2026-11-23-hello-1.2.0.md'),
        line('**forged** [x](javascript:alert(1)) <script>', 'docs/incidents/2026-11-23-hello-1.2.0-2.md'),
        line('error-rate', '../../etc/passwd.md'),
        'not json',
        '',
      ].join('\n'),
    );
    const md = render(config, {
      generatedBy: "the ops agent's daily self-review of 2026-11-24",
      agent: agentFactsFromReview(review),
      log: readDeployLog(workdir, 'example'),
    });
    assert.deepEqual(placeholderProblems(md), []);
    assert.deepEqual(sectionsWithoutSource(md), []);
    assert.doesNotMatch(md, /figures are not in this version/);
    assert.match(md, /_Source: the ops agent's daily self-review of 2026-11-24, as of 2026-11-24T09:00:00\.000Z\._/);
    assert.match(md, /\| change failure rate \| 100 % \| – \|/);
    assert.match(md, /\| time to restore \(mean\) \| 45s \| ≤ 30m \|/);
    assert.match(md, /\| deployment frequency \| \d+(\.\d+)? promoted deploys per day \| – \|/);
    assert.match(md, /❌ failing: Is the deployment success rate on target\?/);
    assert.match(md, /- \*\*speed\*\*|- \*\*cause:|- none open/);
    // Runbooks link the post-mortems the log names, under docs/incidents/ only, with what to check first.
    assert.match(md, /- \*\*error-rate\*\* \(1\): Compare the canary error rate/);
    assert.match(md, /\[2026-11-23 hello 1\.2\.0\]\(incidents\/2026-11-23-hello-1\.2\.0\.md\): rolled-back/);
    assert.ok(!md.includes('etc/passwd'), 'a path outside docs/incidents is not linked');
    assert.ok(!md.includes('[x](javascript'), 'a forged link in a cause is escaped');
    assert.ok(!md.includes('<script>'), 'markup in a cause is escaped');
    assert.match(md, /## Changelog\n\n_Source: `docs\/operations\/agent-log\.jsonl`/);
    assert.match(md, /- 2026-11-23 - hello 1\.2\.0: rolled-back \(error-rate\), restored in 45s/);
  });

  it('without a config for the project, says so in every config section', () => {
    const { config } = loadConfig('opsflow.yaml', REPO, () => {});
    const md = renderOperations({
      project: 'other',
      generatedAt: '2026-11-24T09:00:00.000Z',
      generatedBy: 'test',
      linkBase: '',
      config: configFacts('other', { config, path: 'opsflow.yaml' }),
      agent: { missing: 'no agent' },
      log: { missing: 'no log' },
    });
    assert.deepEqual(placeholderProblems(md), []);
    assert.deepEqual(sectionsWithoutSource(md), []);
    for (const heading of TEMPLATE_HEADINGS) assert.ok(md.includes(`\n${heading}\n`), heading);
    assert.match(md, /No project config \(opsflow\.yaml describes project example, not other\)/);
  });
});
