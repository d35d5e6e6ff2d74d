/**
 * Files opsflow writes are 0600 in 0700 folders: handoff reports, agent docs, LLM audit files (they hold prompts)
 * and logs, whatever the umask.
 * Run: node --import tsx --test test/unit/file-modes.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { writeDoc } from '../../src/activities/agent/files';
import { writeAudit } from '../../src/activities/llm/audit';
import { createFileLogger } from '../../src/logging/logger';

const root = mkdtempSync(path.join(os.tmpdir(), 'opsflow-modes-'));
after(() => rmSync(root, { recursive: true, force: true }));
// The most permissive umask: the modes must come from opsflow, not from the environment.
process.umask(0o000);

const mode = (file: string) => statSync(file).mode & 0o777;

describe('file modes', () => {
  it('agent docs are 0600 in 0700 folders', () => {
    writeDoc(root, 'docs/incidents/2026-01-01-hello-1.1.0.md', 'x');
    assert.equal(mode(path.join(root, 'docs/incidents/2026-01-01-hello-1.1.0.md')), 0o600);
    assert.equal(mode(path.join(root, 'docs/incidents')), 0o700);
    assert.equal(mode(path.join(root, 'docs')), 0o700);
  });

  it('LLM audit files are 0600 in 0700 folders', () => {
    const ref = writeAudit(
      { workdir: root, label: 'deploy-hello-1.1.0-production' },
      {
        purpose: 'plan',
        promptVersion: 'v1',
        provider: 'openai',
        model: 'm',
        baseUrl: 'https://api.openai.com/v1',
        at: '2026-01-01T00:00:00Z',
        latencyMs: 1,
        request: { prompt: 'secret plan' },
        inputTokens: 1,
        outputTokens: 1,
        estimatedCostUsd: 0,
      },
    );
    assert.equal(mode(path.join(root, ref.file)), 0o600);
    assert.equal(mode(path.dirname(path.join(root, ref.file))), 0o700);
    assert.equal(mode(path.join(root, '.opsflow/llm')), 0o700);
  });

  it('logs are 0600 in a 0700 folder', async () => {
    const dir = path.join(root, 'logs');
    const logger = createFileLogger('worker', { dir });
    logger.info('hello');
    // The destination opens asynchronously: let it, so nothing runs after the folder is removed.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    assert.equal(mode(path.join(dir, 'worker.log')), 0o600);
    assert.equal(mode(dir), 0o700);
  });
});
