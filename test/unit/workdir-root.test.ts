/**
 * The worker decides the root folder it writes into: a request's workdir outside it is refused with one line by every
 * activity that writes (handoff reports, agent docs, LLM audit files); deploy ids are one safe pattern.
 * Run: node --import tsx --test test/unit/workdir-root.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { writeDoc } from '../../src/activities/agent/files';
import { writeAudit } from '../../src/activities/llm/audit';
import { resolveHandoffDir } from '../../src/activities/report/handoff';
import { checkWorkdir, setWorkdirRoot } from '../../src/activities/report/workdir';
import { deployWorkflowId } from '../../src/shared/deploy';
import { deployIdSchema } from '../../src/shared/validation';

const base = mkdtempSync(path.join(os.tmpdir(), 'opsflow-root-'));
const root = path.join(base, 'root');
const outside = path.join(base, 'elsewhere');
mkdirSync(root);
after(() => rmSync(base, { recursive: true, force: true }));
setWorkdirRoot(root);

const refused = (err: unknown) =>
  err instanceof ApplicationFailure &&
  err.nonRetryable &&
  /^workdir .* is outside the worker's root .*: run opsflow inside it, or start the worker with --workdir-root$/.test(
    err.message,
  );

const audit = {
  purpose: 'plan',
  promptVersion: 'v1',
  provider: 'openai',
  model: 'm',
  baseUrl: 'https://api.openai.com/v1',
  at: '2026-01-01T00:00:00Z',
  latencyMs: 1,
  request: { prompt: 'p' },
  inputTokens: 1,
  outputTokens: 1,
  estimatedCostUsd: 0,
};

describe('workdir root', () => {
  it('refuses a workdir outside the root in every writer, and writes nothing there', () => {
    assert.throws(() => checkWorkdir(outside), refused);
    assert.throws(() => checkWorkdir(`${root}-sibling`), refused);
    assert.throws(() => checkWorkdir(path.join(root, '..', 'elsewhere')), refused);
    assert.throws(() => resolveHandoffDir(outside, '.agency/handoff/f/devops-automator'), refused);
    assert.throws(() => writeDoc(outside, 'docs/operations/runbook.md', 'x'), refused);
    assert.throws(() => writeAudit({ workdir: outside, label: 'deploy-hello-1.1.0-production' }, audit), refused);
    assert.equal(existsSync(outside), false);
  });

  it('accepts the root and folders inside it', () => {
    assert.equal(checkWorkdir(root), root);
    const project = path.join(root, 'project');
    writeDoc(project, 'docs/operations/runbook.md', 'x');
    assert.ok(existsSync(path.join(project, 'docs/operations/runbook.md')));
    const ref = writeAudit({ workdir: project, label: 'deploy-hello-1.1.0-production' }, audit);
    assert.ok(existsSync(path.join(project, ref.file)));
  });

  it('takes deploy ids of one safe pattern', () => {
    assert.equal(deployIdSchema.safeParse(deployWorkflowId('hello', '1.2.0-rc.1', 'production')).success, true);
    for (const id of ['', '../../etc', 'deploy/hello/1.0.0/production', 'deploy-a..b', '-x', 'a b']) {
      assert.equal(deployIdSchema.safeParse(id).success, false, id);
    }
  });
});
