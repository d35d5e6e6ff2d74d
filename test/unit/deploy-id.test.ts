import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { createAgentActivities } from '../../src/activities/agent';
import { closedDeployOutcome } from '../../src/activities/agent/client-deps';
import { agentStartOperation, requestDeployThroughAgent, type AgentTarget } from '../../src/cli/agent-front-door';
import { agentConfigSchema } from '../../src/config/agent';
import { buildDeployInput, RequestError } from '../../src/config/deploy-request';
import { agentWorkflowId } from '../../src/shared/agent/config';
import { agentStatusQuery } from '../../src/shared/agent/messages';
import { deployIdPatternSchema, deployIdProblem, deployInputSchema } from '../../src/shared/deploy';
import { statusQuery } from '../../src/shared/deploy/messages';
import { applicationFailure, ErrorType } from '../../src/shared/errors';
import { describeIssue } from '../../src/shared/validation';
import type { opsAgent } from '../../src/workflows/agent';
import { testConfig, testInput } from '../helpers/config';
import { fakeDeps, FakeMetrics, FakeTarget } from '../helpers/fakes';
import { DeployTestEnv } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const REPO = path.resolve(__dirname, '..', '..');
const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

/** Bad ids and the problem each is refused with. */
const BAD: [string, RegExp][] = [
  ['', /^the deploy id is empty$/],
  ['deploy--1.1.0-production', /does not follow deploy-<service>-<version>-<environment>/],
  ['deploy-hello-1.1.0-', /does not follow deploy-<service>-<version>-<environment>/],
  ['deploy-hello--production', /does not follow deploy-<service>-<version>-<environment>/],
  ['deploy-hello-1.1.0-..', /must not contain "\.\."/],
  ['deploy-hello-1.1.0-../../etc', /must not contain "\.\."/],
  [
    'deploy-hello-1.1.0-production\u001b[2J',
    /^the deploy id "deploy-hello-1\.1\.0-production\\u001b\[2J" contains control characters$/,
  ],
  ['deploy-hello-1.1.0-prod\nuction', /contains control characters/],
  [`deploy-hello-1.1.0-${'p'.repeat(190)}`, /is longer than 200 characters$/],
  ['bench-overhead-1', /does not follow deploy-<service>-<version>-<environment>/],
  ['deploy/hello/1.1.0/production', /does not follow/],
  ['deploy-hello-one-production', /does not follow/],
];

describe('deploy ids follow one pattern', () => {
  it('deploy-<service>-<version>-<environment>, each segment by the name rules', () => {
    for (const id of [
      'deploy-hello-1.1.0-production',
      'deploy-hello-1.2.0-rc.1-production',
      'deploy-hello-1.0.0+build.7-production',
      'deploy-web.api-2.0.0-prod-eu_1',
      'deploy-hello-1.1.0-production-3',
    ]) {
      assert.equal(deployIdProblem(id), undefined, id);
      assert.equal(deployIdPatternSchema.safeParse(id).success, true, id);
    }
    for (const [id, reason] of BAD) {
      const problem = deployIdProblem(id);
      assert.match(problem ?? '', reason, JSON.stringify(id));
      assert.ok(!problem?.includes('\n'), `${JSON.stringify(id)}: one line`);
      const parsed = deployIdPatternSchema.safeParse(id);
      assert.equal(parsed.success, false);
      assert.equal(parsed.error && describeIssue(parsed.error), problem);
    }
  });

  it('names what it deploys when the service and version are known', () => {
    const hello = { service: 'hello', version: '1.1.0' };
    assert.equal(deployIdProblem('deploy-hello-1.1.0-production', hello), undefined);
    assert.match(
      deployIdProblem('deploy-hello-6.6.6-production', hello) ?? '',
      /^the deploy id "deploy-hello-6\.6\.6-production" does not name what it deploys: it must be deploy-hello-1\.1\.0-<environment>$/,
    );
    assert.match(deployIdProblem('deploy-hello-1.1.0-a/b', hello) ?? '', /does not name what it deploys/);
  });

  it('opsflow deploy start builds ids in the pattern and refuses a version that cannot make one', () => {
    const base = testConfig();
    const hello = base.services['hello']!;
    // Releases the local target knows, so the request gets as far as its id.
    const versions = ['1.0.0+build.7', '1.0.0-a..b'];
    const config = {
      ...base,
      services: { hello: { ...hello, target: { ...hello.target, versions } } as typeof hello },
    };
    const input = buildDeployInput(
      config,
      { service: 'hello', version: '1.0.0+build.7', requestedBy: 'carol' },
      { workdir: '/tmp' },
    );
    assert.equal(input.deployId, 'deploy-hello-1.0.0+build.7-production');
    assert.equal(input.feature, 'deploy-hello-1.0.0-build.7');
    assert.equal(deployInputSchema.safeParse(input).success, true, 'a version with build metadata makes a valid input');
    assert.throws(
      () =>
        buildDeployInput(
          config,
          { service: 'hello', version: '1.0.0-a..b', requestedBy: 'carol' },
          { workdir: '/tmp' },
        ),
      (err: unknown) =>
        err instanceof RequestError && /^--version: the deploy id ".*" must not contain "\.\."$/.test(err.message),
    );
  });

  it('every CLI command naming a deploy refuses a bad id in one line, before connecting', async () => {
    for (const [args, reason] of [
      [['deploy', 'status', 'deploy-hello-1.1.0-..'], /must not contain "\.\."/],
      [['deploy', 'approve', 'deploy-hello-1.1.0-prod\u0007', '--by', 'alice'], /contains control characters/],
      [['deploy', 'verify', 'deploy--1.1.0-production'], /does not follow/],
      [['deploy', 'abort', `deploy-hello-1.1.0-${'x'.repeat(190)}`, '--by', 'alice'], /longer than 200/],
    ] as const) {
      const result = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        cwd: REPO,
        // Nothing listens there: an error about connecting would mean the id was not checked first.
        env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      }).then(
        () => assert.fail(`${args.join(' ')} succeeded`),
        (err: { code?: number; stderr?: string }) => err,
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr ?? '', reason);
      assert.match(result.stderr ?? '', /^opsflow: the deploy id .*\n$/);
    }
  });

  it('the deploy workflow refuses an id that does not name what it deploys, before anything runs', async () => {
    const run = await t.runDeploy(
      { request: (input) => ({ ...input, deployId: `deploy-hello-6.6.6-production-${t.next()}` }) },
      async () => {},
    );
    assert.equal(applicationFailure(run.error)?.type, ErrorType.DeployFailed);
    assert.equal(run.status.cause?.kind === 'error' && run.status.cause.errorType, ErrorType.InvalidInput);
    assert.match(
      run.status.reason ?? '',
      /does not name what it deploys: it must be deploy-hello-1\.1\.0-<environment>/,
    );
    assert.equal(run.target.calls.length, 0);
  });

  it("the ops agent's requestDeploy refuses it in one line and starts nothing", async () => {
    const n = t.next();
    const project = `id-agent-${n}`;
    const target: AgentTarget = {
      project,
      taskQueue: project,
      workdir: path.join(t.workdir, project),
      config: agentConfigSchema.parse({ reviewAt: '09:00' }),
    };
    const worker = await Worker.create({
      connection: t.env.nativeConnection,
      taskQueue: project,
      workflowBundle: t.bundle,
      activities: {
        ...createActivities(fakeDeps(new FakeTarget(['1.0.0', '1.1.0'], {}), new FakeMetrics({}))),
        ...createAgentActivities({
          deployStatus: (id) => t.env.client.workflow.getHandle(id).query(statusQuery),
          deployOutcome: (deploy) => closedDeployOutcome(new Client({ connection: t.env.connection }), deploy),
        }),
      },
    });
    const agent = t.env.client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(project));
    await worker.runUntil(async () => {
      await t.env.client.workflow.start<typeof opsAgent>('opsAgent', { ...agentStartOperation(target).options });
      try {
        const input = testInput({ ...testConfig(), project }, target.workdir, { feature: `f-${project}` });
        await assert.rejects(
          requestDeployThroughAgent(
            t.env.client,
            target,
            { ...input, deployId: 'deploy-evil-6.6.6-production' },
            false,
          ),
          (err: unknown) => {
            assert.ok(err instanceof WorkflowUpdateFailedError);
            const message = String((err.cause as Error | undefined)?.message);
            assert.match(message, /^the deploy id "deploy-evil-6\.6\.6-production" does not name what it deploys/);
            return true;
          },
        );
        assert.deepEqual((await agent.query(agentStatusQuery)).running, []);
      } finally {
        await agent.terminate('test over').catch(() => undefined);
      }
    });
  });
});
