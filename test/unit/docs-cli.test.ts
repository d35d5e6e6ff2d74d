/**
 * `opsflow docs operations` end to end, the compiled CLI (bin/opsflow.js) against the time-skipping test server: it
 * teaches in --help, refuses bad input in one line, writes what the config alone gives when no agent answers (and
 * says so), and fills the DORA figures from the running agent's status and the runbooks from its log.
 * Needs `node scripts/build.js` first. Run: node --import tsx --test test/unit/docs-cli.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { createAgentActivities } from '../../src/activities/agent';
import { agentStartOperation } from '../../src/cli/agent-front-door';
import { agentConfigSchema } from '../../src/config/agent';
import { PAYLOAD_CONVERTER_PATH } from '../../src/temporal/codec';
import { resolveTestServer } from '../../src/tooling/temporal-bin';
import type { opsAgent } from '../../src/workflows/agent';
import { placeholderProblems, sectionsWithoutSource, TEMPLATE_HEADINGS } from '../helpers/operations-doc';
import { testWorkflowBundle } from '../helpers/workflow-bundle';

Runtime.install({ logger: new DefaultLogger('WARN') });

const REPO = path.join(__dirname, '..', '..');
const PROJECT = 'docs-cli';
const TASK_QUEUE = 'docs-cli-test';
/** Nothing listens there: Temporal cannot be reached. */
const NOWHERE = '127.0.0.1:1';

let env: TestWorkflowEnvironment;
let workdir: string;

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTestServer() } },
  });
  workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-docs-cli-'));
  writeFileSync(
    path.join(workdir, 'opsflow.yaml'),
    stringify({
      project: PROJECT,
      temporal: { taskQueue: TASK_QUEUE },
      services: {
        hello: { target: { kind: 'local', command: ['node', 'x.js'], versions: ['1.0.0'], initialVersion: '1.0.0' } },
      },
      environments: {
        staging: { strategy: 'direct', verify: { duration: '20s' } },
        production: {
          strategy: 'canary',
          approval: { required: true, approvers: ['alice', 'bob'] },
          canary: {
            steps: [
              { weight: 20, bake: '5m' },
              { weight: 100, bake: '5m' },
            ],
          },
          analysis: { errorRate: { warn: 0.02, critical: 0.1 } },
        },
      },
      notifications: { channels: { team: { kind: 'slack', channel: 'C0123ABCD' } } },
    }),
  );
});

after(async () => {
  await env?.teardown();
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

/** Runs the compiled `opsflow` in the project folder. */
async function opsflow(address: string, ...args: string[]) {
  const child = spawn(process.execPath, [path.join(REPO, 'bin/opsflow.js'), ...args], {
    cwd: workdir,
    env: { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default', OPSFLOW_USER: 'carol' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

const read = (file: string) => readFileSync(path.join(workdir, file), 'utf8');

describe('opsflow docs operations', () => {
  it('teaches in --help: what the document holds, its sources, an example', async () => {
    const { code, stdout } = await opsflow(NOWHERE, 'docs', 'operations', '--help');
    assert.equal(code, 0);
    for (const words of [/--project <name>/, /--out <file>/, /opsflow\.yaml: strategies and steps/, /DORA figures/]) {
      assert.match(stdout, words);
    }
    assert.match(stdout, /docs\/incidents\//);
    assert.match(stdout, /\$ opsflow docs operations/);
  });

  it('refuses bad input in one line with a non-zero exit, writing nothing', async () => {
    mkdirSync(path.join(workdir, 'a-folder'), { recursive: true });
    const cases: [string[], RegExp][] = [
      [['--project', 'a b'], /^opsflow: --project: must be letters/],
      [['--project', 'other'], /^opsflow: --project: opsflow\.yaml describes docs-cli, not other$/],
      [['--config', 'missing.yaml'], /^opsflow: .*missing\.yaml: no such file/],
      [['--out', ''], /^opsflow: --out: name the file to write$/],
      [['--out', 'a-folder'], /^opsflow: --out: .*a-folder is a folder/],
    ];
    for (const [args, line] of cases) {
      const { code, stderr } = await opsflow(NOWHERE, 'docs', 'operations', ...args);
      assert.equal(code, 1, args.join(' '));
      assert.match(stderr, /^opsflow: [^\n]*\n$/, `one line: ${stderr}`);
      assert.match(stderr.trim(), line);
    }
    assert.ok(!existsSync(path.join(workdir, 'docs/OPERATIONS.md')), 'nothing written');
  });

  it('writes what the config alone gives when Temporal cannot be reached, and says so', async () => {
    const { code, stdout, stderr } = await opsflow(NOWHERE, 'docs', 'operations');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^wrote docs\/OPERATIONS\.md for docs-cli from opsflow\.yaml$/m);
    assert.match(stdout, /without the agent's figures \(cannot reach Temporal at 127\.0\.0\.1:1/);
    const md = read('docs/OPERATIONS.md');
    assert.deepEqual(placeholderProblems(md), []);
    assert.deepEqual(sectionsWithoutSource(md), []);
    for (const heading of TEMPLATE_HEADINGS) assert.ok(md.includes(`\n${heading}\n`), heading);
    assert.match(md, /> The ops agent's figures are not in this version \(cannot reach Temporal at 127\.0\.0\.1:1/);
    assert.match(md, /\| steps \| 20 % for 5m → 100 % for 5m \|/);
    assert.match(md, /\| error rate \| warn > 2\.00 %, critical > 10\.00 % \|/);
    assert.match(md, /\| team \| slack \| \$SLACK\\_BOT\\_TOKEN \|/);
    assert.match(md, /#### Delivery KPIs \(DORA\)\n\n_No source yet: cannot reach Temporal/);
  });

  it("fills the DORA figures from the running agent's status and links the post-mortems its log names", async () => {
    // The agent's log, as its feedback loop writes it after a rollback, and the post-mortem it names.
    mkdirSync(path.join(workdir, 'docs/operations'), { recursive: true });
    mkdirSync(path.join(workdir, 'docs/incidents'), { recursive: true });
    writeFileSync(path.join(workdir, 'docs/incidents/2026-11-23-hello-1.2.0.md'), '# Post-mortem\n');
    writeFileSync(
      path.join(workdir, 'docs/operations/agent-log.jsonl'),
      `${JSON.stringify({
        key: 'deploy:deploy-hello-1.2.0-production:2026-11-23T10:00:00.000Z',
        type: 'deploy',
        at: '2026-11-23T10:13:00.000Z',
        project: PROJECT,
        deployId: 'deploy-hello-1.2.0-production',
        service: 'hello',
        version: '1.2.0',
        outcome: 'rolled-back',
        reason: 'critical: error rate 20.0 % > critical 5.00 %',
        cause: 'error-rate',
        durationMs: 90_000,
        restoreMs: 32_000,
        files: ['docs/incidents/2026-11-23-hello-1.2.0.md', 'docs/operations/agent-log.jsonl'],
      })}\n`,
    );
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: await testWorkflowBundle(),
      dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
      activities: createAgentActivities({ deployStatus: async () => null, deployOutcome: async () => null }),
    });
    await worker.runUntil(async () => {
      const op = agentStartOperation({
        project: PROJECT,
        taskQueue: TASK_QUEUE,
        workdir,
        config: agentConfigSchema.parse({}),
      });
      const handle = await env.client.workflow.start<typeof opsAgent>('opsAgent', { ...op.options });
      try {
        const { code, stdout, stderr } = await opsflow(env.address, 'docs', 'operations');
        assert.equal(code, 0, stderr);
        assert.match(stdout, /agent figures: the status query of ops-agent-docs-cli/);
        assert.match(stdout, /runbooks and changelog: 1 deploys in docs\/operations\/agent-log\.jsonl/);
        const md = read('docs/OPERATIONS.md');
        assert.deepEqual(placeholderProblems(md), []);
        assert.deepEqual(sectionsWithoutSource(md), []);
        assert.doesNotMatch(md, /figures are not in this version/);
        assert.match(md, /#### Delivery KPIs \(DORA\)\n\n_Source: the status query of ops-agent-docs-cli, as of /);
        assert.match(md, /\| deployment frequency \| 0 promoted deploys per day \| – \|/);
        assert.match(md, /\| time to restore \(mean\) \| – \| ≤ 30m \|/);
        assert.match(md, /- \*\*error-rate\*\* \(1\): Compare the canary error rate/);
        assert.match(md, /\[2026-11-23 hello 1\.2\.0\]\(incidents\/2026-11-23-hello-1\.2\.0\.md\): rolled-back/);

        // Elsewhere, its links still reach docs/; --json says what was written from which sources.
        const json = await opsflow(env.address, 'docs', 'operations', '--out', 'out/ops/OPS.md', '--json');
        assert.equal(json.code, 0, json.stderr);
        assert.deepEqual(JSON.parse(json.stdout), {
          file: 'out/ops/OPS.md',
          project: PROJECT,
          config: path.join(workdir, 'opsflow.yaml'),
          agent: { source: 'the status query of ops-agent-docs-cli', asOf: JSON.parse(json.stdout).agent.asOf },
          log: { path: 'docs/operations/agent-log.jsonl', deploys: 1 },
        });
        assert.match(read('out/ops/OPS.md'), /\]\(\.\.\/\.\.\/docs\/incidents\/2026-11-23-hello-1\.2\.0\.md\)/);
      } finally {
        await handle.terminate('test over');
      }
    });
  });
});
