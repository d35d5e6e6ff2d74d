import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { judgeRun, measurementsOf } from '../../src/shared/analysis/judge-run';
import { causeRule, type DeployStatus } from '../../src/shared/deploy';
import { Stack, stackConfig } from '../helpers/stack';

let stack: Stack;

/** A production canary sampled every second, 8 s a step: long enough for the budgets to show. */
const BURSTY_ANALYSIS = {
  interval: '1s',
  minRequests: 5,
  failureLimit: 5,
  consecutiveFailureLimit: 3,
  inconclusiveLimit: 6,
};

/**
 * The stack's config with the bursty 1.3.0 known, and 200 requests a second: 20 a sample reach a 10 % canary, enough
 * for one sample to be significant on its own at 99.9 %.
 */
function withVersions(config: ReturnType<typeof stackConfig>) {
  const hello = config.services.hello;
  return {
    ...config,
    platform: { local: { ...config.platform.local, trafficRps: 200 } },
    services: { hello: { ...hello, versions: [...hello.versions, '1.3.0'] } },
  };
}

before(async () => {
  stack = await Stack.start({
    pipeline: ['production'],
    configure: (config) => {
      const base = withVersions(config);
      return {
        ...base,
        environments: {
          production: {
            ...base.environments.production,
            canary: {
              steps: [
                { weight: 10, bake: '8s' },
                { weight: 50, bake: '8s' },
                { weight: 100, bake: '8s' },
              ],
            },
            analysis: BURSTY_ANALYSIS,
          },
        },
      };
    },
  });
});

after(async () => {
  await stack?.stop();
});

/** The deploy's status, read as a test polls it (`deploy status --json` itself is checked where it matters). */
async function status(id: string): Promise<DeployStatus> {
  return stack.status(id);
}

/** Starts a deploy of `version` through the CLI, approves it as alice, and watches it to its end. */
async function deployAndWatch(version: string, feature: string, config?: string) {
  const workflowId = await stack.startDeploy(version, { feature, ...(config ? { config } : {}) });
  const approved = await stack.cli('deploy', 'approve', workflowId, '--by', 'alice');
  assert.equal(approved.code, 0, approved.stderr);
  const watched = await stack.cli('deploy', 'watch', workflowId);
  await stack.closed(workflowId);
  return { workflowId, watched, final: await status(workflowId) };
}

describe('canary judgement end to end (dev server, worker, local platform, CLI)', () => {
  it('rolls back a release that fails in bursts before 100 %, naming the rule that decided', async () => {
    const { workflowId, watched, final } = await deployAndWatch('1.3.0', 'bursty');
    assert.equal(watched.code, 2, watched.stdout + watched.stderr);
    assert.equal(final.phase, 'ROLLED_BACK');
    const events = await stack.platformClient.events({ environment: 'production', service: 'hello' });
    const weights = events.filter((e) => e.deployId === workflowId && e.kind === 'weight').map((e) => e.weight);
    assert.ok(!weights.includes(100), `never reached 100 %: ${weights.join(' → ')}`);
    const rule = causeRule(final.cause);
    assert.ok(rule && ['budget', 'consecutive', 'comparison', 'cumulative-threshold', 'critical'].includes(rule), rule);
    const samples = final.samples.filter((s) => s.environment === 'production');
    assert.ok(
      samples.some((s) => s.canary.errors > 0),
      'the bursts showed',
    );
    process.stdout.write(
      `# bursty 1.3.0: rolled back by ${rule} after ${samples.length} samples ` +
        `(${samples.map((s) => s.verdict[0]).join('')}), weights ${weights.join(' → ')}\n`,
    );

    // The step's whole-window verdict is shown beside the samples: watch, status and summary.md.
    assert.match(watched.stdout, /step production @10%: (PENDING|FAIL)/);
    const shown = await stack.cli('deploy', 'status', workflowId);
    assert.match(shown.stdout, /whole window: step production @\d+%: FAIL \(\w[\w-]*\) score/);
    assert.match(shown.stdout, /failures in production: \d+\/5 in the run, \d+\/3 in a row/);
    const summary = readFileSync(
      path.join(stack.workdir, '.agency/handoff/bursty/devops-automator/summary.md'),
      'utf8',
    );
    assert.match(summary, /\*\*Whole step: fail\*\* \(rule: [\w-]+\), score/);

    // The pure judgement over the recorded measurements reaches the same verdict.
    const replay = judgeRun(final.rollout ?? [], measurementsOf(final));
    assert.deepEqual(replay.environments[0]?.cause, final.cause);
    // And `opsflow analysis replay` from the history: its own settings reproduce it; looser ones show what changes.
    const replayed = await stack.cli('analysis', 'replay', workflowId);
    assert.equal(replayed.code, 0, replayed.stdout + replayed.stderr);
    assert.match(replayed.stdout, /with the settings it ran with: every step verdict and outcome as recorded/);
    const base = withVersions(stackConfig(stack.platformPort, ['production']));
    const loose = {
      ...BURSTY_ANALYSIS,
      failureLimit: 1000,
      consecutiveFailureLimit: 1000,
      errorRate: { warn: 0.5, critical: 0.9 },
      compare: { enabled: false },
      score: { pass: 1, marginal: 0 },
    };
    writeFileSync(
      path.join(stack.workdir, 'looser.yaml'),
      stringify({ ...base, environments: { production: { ...base.environments.production, analysis: loose } } }),
    );
    const looser = await stack.cli('analysis', 'replay', workflowId, '--config', 'looser.yaml');
    assert.equal(looser.code, 0, looser.stdout + looser.stderr);
    assert.match(looser.stdout, /with the analysis settings of \S*looser\.yaml, where the verdicts change:/);
    assert.match(looser.stdout, /production: ran rolled-back \([\w-]+\), would (promoted|unfinished)/);
    assert.match(looser.stdout, /production sample \d+ \(step \d\): ran rollback, would (continue|pass)/);
    // Named for its workflow id: the approval in it is signed for that id, and the replay test replays under the name.
    await stack.recordHistory(workflowId, workflowId);
  });

  it('extends the bake of a low-traffic canary until it has served the requests, then promotes', async () => {
    // 1 % of 200 requests a second: 2 a sample, under the 5 a sample needs, so every sample is inconclusive.
    const base = withVersions(stackConfig(stack.platformPort, ['production']));
    writeFileSync(
      path.join(stack.workdir, 'low-traffic.yaml'),
      stringify({
        ...base,
        environments: {
          production: {
            ...base.environments.production,
            canary: {
              steps: [
                { weight: 1, bake: '2s' },
                { weight: 100, bake: '2s' },
              ],
            },
            analysis: { ...BURSTY_ANALYSIS, minStepRequests: 12, maxBakeFactor: 10 },
          },
        },
      }),
    );
    const { watched, final } = await deployAndWatch('1.1.0', 'low-traffic', 'low-traffic.yaml');
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.equal(final.phase, 'PROMOTED');
    const first = final.stepVerdicts?.find((s) => s.environment === 'production' && s.weight === 1);
    assert.equal(first?.verdict, 'pass');
    assert.ok((first?.canaryRequests ?? 0) >= 12, `${first?.canaryRequests} requests`);
    assert.ok((first?.elapsedMs ?? 0) >= 4_000, `extended past the 2 s bake: ${first?.elapsedMs} ms`);
    const samples = final.samples.filter((s) => s.environment === 'production' && s.weight === 1);
    assert.ok(samples.length >= 4, `${samples.length} samples at 1 %`);
    // The first samples, until the canary has served 10 requests, are its warm-up (issue 24); then inconclusive.
    const verdicts = samples.map((s) => s.verdict).join(' ');
    assert.match(verdicts, /^(warm-up )+(inconclusive ?)+$/, verdicts);
    assert.equal(first?.warmUp?.samples, samples.filter((s) => s.verdict === 'warm-up').length);
    process.stdout.write(
      `# low traffic: step at 1 % ended after ${first?.elapsedMs} ms (bake 2000 ms) with ${first?.canaryRequests} requests\n`,
    );
  });
});
