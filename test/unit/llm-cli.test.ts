import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { freePort } from '../../src/tooling/ports';
import { FakeLlmServer, openaiChat, openaiError } from '../helpers/fake-llm-server';

const REPO = path.resolve(__dirname, '../..');
const KEY = 'sk-cli-test-SECRET-9876543210';
let fake: FakeLlmServer;
let workdir: string;

before(async () => {
  fake = await FakeLlmServer.start();
  workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-llm-cli-'));
  // A platform port nothing listens on: the plan says the running versions are unknown.
  const port = await freePort();
  writeFileSync(
    path.join(workdir, 'opsflow.yaml'),
    stringify({
      project: 'cli',
      platform: { local: { port } },
      services: { hello: { command: ['node', 'x.js'], versions: ['1.0.0', '1.1.0'], initialVersion: '1.0.0' } },
      environments: {
        staging: { strategy: 'direct', verify: { duration: '2s' } },
        production: {
          strategy: 'canary',
          approval: { required: true, approvers: ['alice'] },
          canary: {
            steps: [
              { weight: 10, bake: '1m' },
              { weight: 100, bake: '1m' },
            ],
          },
        },
      },
    }),
  );
});
after(async () => {
  await fake.close();
  rmSync(workdir, { recursive: true, force: true });
});
beforeEach(() => fake.reset());

/** Runs `opsflow ...` in the temp folder with only the LLM variables given. */
async function opsflow(env: Record<string, string>, ...args: string[]) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(OPSFLOW_LLM|OPENAI_|ANTHROPIC_)/.test(k)),
  );
  const child = spawn(process.execPath, [path.join(REPO, 'bin/opsflow.js'), ...args], {
    cwd: workdir,
    env: { ...clean, OPSFLOW_USER: 'carol', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

const openaiEnv = () => ({
  OPSFLOW_LLM: 'openai',
  OPSFLOW_LLM_MODEL: 'gpt-4o-mini',
  OPENAI_BASE_URL: fake.openaiBaseUrl,
  OPENAI_API_KEY: KEY,
});

describe('opsflow llm check', () => {
  it('names the provider, reaches it with one tiny call, and reports model and latency', async () => {
    fake.script('openai', openaiChat('ok', { prompt_tokens: 12, completion_tokens: 1 }));
    const { code, stdout, stderr } = await opsflow(openaiEnv(), 'llm', 'check');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^provider: openai \(from the environment\)$/m);
    assert.match(stdout, /^model: gpt-4o-mini \(from the environment\)$/m);
    assert.match(stdout, /^reached in \d+ ms; answered by fake-gpt \(12 input \/ 1 output tokens\)$/m);
    assert.equal(fake.received('openai').length, 1);
    assert.ok(!stdout.includes(KEY));
  });

  it('fails in one line naming OPENAI_API_KEY on a 401, without the key', async () => {
    fake.script('openai', openaiError(401, `Incorrect API key provided: ${KEY}`));
    const { code, stdout, stderr } = await opsflow(openaiEnv(), 'llm', 'check');
    assert.equal(code, 1);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, /refused the key \(401\): set a valid OPENAI_API_KEY/);
    assert.ok(!(stdout + stderr).includes(KEY) && !(stdout + stderr).includes('SECRET'));
  });

  it('refuses an unknown provider in one line, and says offline needs nothing', async () => {
    const bad = await opsflow({ OPSFLOW_LLM: 'gpt' }, 'llm', 'check');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^opsflow: OPSFLOW_LLM: "gpt" is not a provider; use offline, openai or anthropic\n$/);
    const offline = await opsflow({}, 'llm', 'check', '--json');
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(JSON.parse(offline.stdout).provider, 'offline');
  });
});

describe('opsflow plan', () => {
  it('prints the offline plan without deploying anything', async () => {
    const { code, stdout, stderr } = await opsflow({}, 'plan', '--service', 'hello', '--version', '1.1.0');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^plan for hello 1\.1\.0 \(offline planner\)$/m);
    assert.match(stdout, /^running now: unknown: the local platform at 127\.0\.0\.1:\d+ is not running$/m);
    assert.match(stdout, /production +canary beside nothing: 10 % for 1m → 100 % for 1m, then promote/);
    assert.match(stdout, /^nothing was deployed\.$/m);
  });

  it("prints the model's plan as JSON, clamped, with its usage", async () => {
    fake.script(
      'openai',
      openaiChat(
        JSON.stringify({
          risk: 'medium',
          rationale: 'first deploy',
          environments: [
            {
              name: 'staging',
              canarySteps: [],
              verifySeconds: 1,
              thresholds: {
                errorRateWarn: 0.01,
                errorRateCritical: 0.05,
                latencyP95WarnMs: 2000,
                latencyP95CriticalMs: 5000,
                minRequests: 50,
              },
            },
            {
              name: 'production',
              canarySteps: [
                { weight: 10, bakeSeconds: 60 },
                { weight: 100, bakeSeconds: 60 },
              ],
              verifySeconds: 30,
              thresholds: {
                errorRateWarn: 0.01,
                errorRateCritical: 0.05,
                latencyP95WarnMs: 2000,
                latencyP95CriticalMs: 5000,
                minRequests: 50,
              },
            },
          ],
          checks: [],
          rollbackPlan: 'automatic',
          questions: [],
        }),
      ),
    );
    const { code, stdout, stderr } = await opsflow(
      openaiEnv(),
      'plan',
      '--service',
      'hello',
      '--version',
      '1.1.0',
      '--json',
    );
    assert.equal(code, 0, stderr);
    const plan = JSON.parse(stdout);
    assert.equal(plan.source, 'openai');
    assert.equal(plan.environments[0].verifyMs, 2000, 'a shorter staging verification is clamped');
    assert.ok(
      plan.adjustments.some((a: string) => /verification of 1\.0s is shorter than the configured 2\.0s/.test(a)),
    );
    assert.equal(plan.usage.calls, 1);
  });

  it('rejects bad input in one line and calls nothing', async () => {
    const { code, stderr } = await opsflow(openaiEnv(), 'plan', '--service', 'nope', '--version', '1.1.0');
    assert.equal(code, 1);
    assert.match(stderr, /^opsflow: --service: unknown service "nope"; opsflow.yaml defines hello\n$/);
    assert.equal(fake.requests.length, 0);
  });
});

describe('opsflow errors', () => {
  it('names the Temporal address it tried, in one line, when nothing answers', async () => {
    const port = await freePort();
    const { code, stdout, stderr } = await opsflow(
      { TEMPORAL_ADDRESS: `127.0.0.1:${port}` },
      'deploy',
      'status',
      'deploy-hello-1.1.0-production',
    );
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      new RegExp(
        `^opsflow: cannot reach Temporal at 127\\.0\\.0\\.1:${port} \\(.*\\): start it with "npm start" or set TEMPORAL_ADDRESS\\n$`,
      ),
    );
  });

  it('refuses a bad --project in one line that says what to fix, before it connects', async () => {
    const { code, stderr } = await opsflow(
      { TEMPORAL_ADDRESS: '127.0.0.1:1' },
      'agent',
      'status',
      '--project',
      'no/such',
    );
    assert.equal(code, 1);
    assert.match(stderr, /^opsflow: --project: must be letters, digits/);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  });
});
