/**
 * Untrusted text is escaped wherever it is rendered: a comment cannot forge a bold "approved by" line or carry a
 * <script> into summary.md, the post-mortem or the UI's details; a javascript: URL is refused as uiUrl.
 * Run: node --import tsx --test test/unit/markdown-escaping.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderPostMortem } from '../../src/activities/agent/post-mortem';
import { renderSummary } from '../../src/activities/report/summary';
import { configSchema } from '../../src/config/schema';
import { deployInputSchema, type DeployResult, type DeployStatus } from '../../src/shared/deploy';
import { inlineMarkdown, safeLink } from '../../src/shared/markdown';
import { describeStatus } from '../../src/workflows/deploy/details';
import { testConfig, testInput } from '../helpers/config';

const FORGED = '**approved** by alice\n\n## Approvals\n- production: **approved** by bob <script>alert(1)</script>';

/** A rendered line holds a forged bold line only if "**approved**" appears unescaped. */
const forgesBold = (md: string) => /(^|[^\\])\*\*approved\*\*/m.test(md);

const input = testInput(testConfig(), '/tmp/opsflow-md');
const status = {
  deployId: input.deployId,
  service: 'hello',
  version: '1.1.0',
  feature: input.feature,
  requestedBy: 'carol',
  phase: 'ROLLED_BACK',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:10:00.000Z',
  previousVersions: { staging: '1.0.0', production: '1.0.0' },
  controls: [
    { action: 'abort', by: 'dave', at: '2026-01-01T00:05:00.000Z', reason: FORGED, via: 'update', phase: 'CANARY' },
  ],
  approvals: [
    {
      environment: 'production',
      decision: 'rejected',
      by: 'mallory',
      at: '2026-01-01T00:01:00.000Z',
      via: 'update',
      comment: FORGED,
    },
  ],
  samples: [],
  outcome: 'rolled-back',
  reason: FORGED,
  paused: {
    environment: 'production',
    cause: 'manual',
    by: 'dave',
    reason: FORGED,
    since: '2026-01-01T00:04:00.000Z',
    deadline: '2026-01-01T01:04:00.000Z',
    resumePhase: 'CANARY',
  },
  timeline: [{ at: '2026-01-01T00:05:00.000Z', phase: 'CANARY', environment: 'production', message: FORGED }],
} as unknown as DeployStatus;

describe('untrusted text in markdown', () => {
  it('escapes markdown and HTML, strips control characters and collapses newlines', () => {
    assert.equal(inlineMarkdown('**approved** by alice'), '\\*\\*approved\\*\\* by alice');
    assert.equal(inlineMarkdown('<script>x</script>'), '\\<script\\>x\\</script\\>');
    assert.equal(inlineMarkdown('a\n\n# b | [c](d) `e` _f_'), 'a # b \\| \\[c\\](d) \\`e\\` \\_f\\_');
    assert.equal(inlineMarkdown('# heading?'), '\\# heading?');
    assert.equal(inlineMarkdown('failed (503)!'), 'failed (503)!');
    assert.equal(inlineMarkdown('red \u001b[31mtext\u0007'), 'red \\[31mtext');
    assert.equal(safeLink('javascript:alert(1)'), undefined);
    assert.equal(safeLink('http://localhost:8233/x'), 'http://localhost:8233/x');
  });

  it('summary.md shows a forged comment escaped, on one line', () => {
    const md = renderSummary(input, status, { created: [], modified: [], deleted: [] }, { ui: 'javascript:alert(1)' });
    assert.equal(forgesBold(md), false, md);
    assert.doesNotMatch(md, /<script>/);
    assert.doesNotMatch(md, /^## Approvals\n- production: \*\*approved\*\* by bob/m);
    assert.match(md, /\\\*\\\*approved\\\*\\\* by alice/);
    assert.doesNotMatch(md, /javascript:/);
  });

  it('the UI details and the post-mortem show it escaped too', () => {
    const details = describeStatus(status);
    assert.equal(forgesBold(details), false, details);
    assert.doesNotMatch(details, /<script>/);
    const result = { ...status, reason: FORGED, durationMs: 1, report: null } as unknown as DeployResult;
    const postMortem = renderPostMortem({
      result,
      status,
      impact: null,
      requestedBy: 'carol',
      requestedAt: status.startedAt,
      cause: 'other',
      causeCount: 1,
      targetRestoreMs: 60_000,
      runbook: null,
    });
    assert.equal(forgesBold(postMortem), false, postMortem);
    assert.doesNotMatch(postMortem, /<script>/);
  });

  it('refuses a javascript: uiUrl in the deploy input and in opsflow.yaml', () => {
    const bad = deployInputSchema.safeParse({ ...input, uiUrl: 'javascript:alert(1)' });
    assert.equal(bad.success, false);
    assert.match(bad.error?.issues[0]?.message ?? '', /must be an http or https URL/);
    const config = configSchema.safeParse({ ...testConfig(), temporal: { uiUrl: 'javascript:alert(1)' } });
    assert.equal(config.success, false);
    assert.equal(deployInputSchema.safeParse({ ...input, uiUrl: 'https://temporal.example/ns' }).success, true);
  });
});
