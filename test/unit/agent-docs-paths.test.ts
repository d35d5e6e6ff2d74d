/**
 * A crafted deployFinished result cannot make the agent write outside docs/: service and version that become file
 * names are validated, and every path is checked to stay in the docs folder.
 * Run: node --import tsx --test test/unit/agent-docs-paths.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities, type FeedbackRequest } from '../../src/activities/agent';
import { resolveDoc } from '../../src/activities/agent/files';
import type { DeployFacts } from '../../src/shared/agent';

const root = mkdtempSync(path.join(os.tmpdir(), 'opsflow-agent-paths-'));
after(() => rmSync(root, { recursive: true, force: true }));

function request(workdir: string, service: string, version: string): FeedbackRequest {
  return {
    project: 'p',
    workdir,
    result: {
      deployId: `deploy-hello-1.1.0-production`,
      service,
      version,
      outcome: 'rolled-back',
      reason: 'critical',
      phase: 'ROLLED_BACK',
      durationMs: 1_000,
      report: null,
    },
    requestedAt: '2026-01-01T00:00:00.000Z',
    requestedBy: 'alice',
    finishedAt: '2026-01-01T01:00:00.000Z',
    cause: null,
    causeCount: 1,
  };
}

describe('agent docs paths', () => {
  const acts = createAgentActivities({ deployStatus: async () => null, deployOutcome: async () => null });

  for (const [service, version] of [
    ['../../.github/workflows/evil', '1.0.0'],
    ['../../../../.github/workflows/evil', '1.0.0'],
    ['hello', '1.0.0/../../../../.github/workflows/evil'],
    ['..', '1.0.0'],
  ] as const) {
    it(`refuses service ${service} version ${version}, writing nothing`, async () => {
      const workdir = mkdtempSync(path.join(root, 'w-'));
      await assert.rejects(
        new MockActivityEnvironment().run(acts.agentFeedback, request(workdir, service, version)),
        (err: Error) => err instanceof ApplicationFailure && err.nonRetryable && /cannot name a file/.test(err.message),
      );
      assert.deepEqual(readdirSync(workdir), []);
      assert.equal(existsSync(path.join(root, '.github')), false);
    });
  }

  it('writes a valid post-mortem under docs/incidents', async () => {
    const workdir = mkdtempSync(path.join(root, 'w-'));
    const facts: DeployFacts = await new MockActivityEnvironment().run(
      acts.agentFeedback,
      request(workdir, 'hello', '1.1.0'),
    );
    assert.ok(facts.files.includes('docs/incidents/2026-01-01-hello-1.1.0.md'));
  });

  it('refuses any path that leaves docs/', () => {
    assert.throws(() => resolveDoc(root, '.github/workflows/x.md'), /would leave/);
    assert.throws(() => resolveDoc(root, 'docs/../x.md'), /would leave/);
    assert.ok(resolveDoc(root, 'docs/a/b.md').endsWith(path.join('docs', 'a', 'b.md')));
  });
});
