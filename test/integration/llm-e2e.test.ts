import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeLlmServer, openaiAutoResponder } from '../helpers/fake-llm-server';
import { Stack, waitFor } from '../helpers/stack';

const KEY = 'sk-e2e-KEYSCAN-0b1d2f3a4c5e';
let fake: FakeLlmServer;
let stack: Stack;

before(async () => {
  fake = await FakeLlmServer.start();
  fake.otherwise.openai = openaiAutoResponder;
  // The worker and the CLI read the provider from their environment, as a person would set it.
  Object.assign(process.env, {
    OPSFLOW_LLM: 'openai',
    OPSFLOW_LLM_MODEL: 'gpt-4o-mini',
    OPENAI_BASE_URL: fake.openaiBaseUrl,
    OPENAI_API_KEY: KEY,
  });
  stack = await Stack.start({ pipeline: ['production'] });
});

after(async () => {
  await stack?.stop();
  await fake?.close();
});

/** Every string of a JSON document, and what its base64 strings decode to (payloads are base64 there). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    out.push(value);
    if (/^[A-Za-z0-9+/]{8,}={0,2}$/.test(value)) out.push(Buffer.from(value, 'base64').toString('utf8'));
  } else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

describe('deploy end to end with an OpenAI-compatible provider (dev server, worker, platform, CLI, fake LLM)', () => {
  it('llm check reaches the provider the environment names', async () => {
    const { code, stdout, stderr } = await stack.cli('llm', 'check');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /reached in \d+ ms; answered by fake-gpt/);
  });

  it('plans with the model, narrates the summary, counts tokens, and the key appears nowhere but the request', async () => {
    const started = await stack.cli('deploy', 'start', '--service', 'hello', '--version', '1.1.0', '--json');
    assert.equal(started.code, 0, started.stderr);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
    const status = () => stack.status(workflowId);
    await waitFor(async () => (await status()).phase === 'AWAITING_APPROVAL', 30_000);
    const approved = await stack.cli('deploy', 'approve', workflowId, '--by', 'alice');
    assert.equal(approved.code, 0, approved.stderr);
    const watched = await stack.cli('deploy', 'watch', workflowId);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);

    const final = await status();
    assert.equal(final.plan?.source, 'openai');
    assert.equal(final.plan?.environments?.[0]?.analysis.errorRate.critical, 0.04);
    const dir = path.join(stack.workdir, '.agency/handoff/deploy-hello-1.1.0/devops-automator');
    const summary = readFileSync(path.join(dir, 'summary.md'), 'utf8');
    assert.match(summary, /## Narrative\n\nhello 1\.1\.0 ended promoted after \d+ health samples/);
    assert.match(summary, /_LLM: openai \(fake-gpt\), 2 calls, 1600 input \/ 380 output tokens/);
    const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
    assert.equal(report.llm.usage.calls, 2);
    const auditDir = path.join(stack.workdir, '.opsflow/llm', workflowId);
    assert.equal(readdirSync(auditDir).length, 2);

    // The key reached the provider on every call...
    const sent = fake.received('openai');
    assert.ok(sent.length >= 3 && sent.every((r) => r.headers.authorization === `Bearer ${KEY}`));
    // ...and nothing else: the whole history as the Temporal CLI shows it, the worker's log and output, the CLI's output.
    const history = await stack.historyJson(workflowId);
    const historyText = strings(JSON.parse(history)).join('\n');
    assert.ok(historyText.includes('deploy-hello-1.1.0'), 'the history was decoded');
    const workerLog = path.join(stack.workdir, '.opsflow/logs/worker.log');
    assert.ok(existsSync(workerLog));
    const places: Record<string, string> = {
      history: historyText,
      'worker.log': readFileSync(workerLog, 'utf8'),
      'worker output': stack.worker?.output() ?? '',
      'cli output': started.stdout + started.stderr + watched.stdout + watched.stderr,
      'summary.md': summary,
      'report.json': JSON.stringify(report),
      'audit files': readdirSync(auditDir)
        .map((f) => readFileSync(path.join(auditDir, f), 'utf8'))
        .join('\n'),
    };
    for (const [place, text] of Object.entries(places)) {
      assert.ok(!text.includes('KEYSCAN'), `the key leaked into ${place}`);
    }
    assert.ok(!historyText.includes('plan the rollout'), 'prompts stay out of history');
  });
});
