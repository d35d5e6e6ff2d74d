import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unsupportedFigures } from '../../src/activities/llm/figures';
import { offlineNarrative } from '../../src/activities/llm/narrate';

const facts = {
  impact: {
    environment: 'production',
    version: '1.2.0',
    highestCanaryWeightPercent: 10,
    canaryRequests: 42,
    canaryErrors: 9,
    canaryErrorRatePercent: 21.43,
    worstP95Ms: 2510,
    exposureSeconds: 2,
    decidingSample: { verdict: 'critical', reason: 'critical: error rate 21.4 % > critical 5.00 %' },
  },
  service: 'hello',
  version: '1.2.0',
  outcome: 'rolled-back',
  reason: 'critical: error rate 21.4 % > critical 5.00 %',
  requestedBy: 'carol',
  durationSeconds: 14.5,
  environments: [{ name: 'production', strategy: 'canary', before: '1.1.0', now: '1.1.0' }],
  plan: { source: 'offline', risk: 'medium', rationale: '1.1.0 → 1.2.0 is a minor change' },
  approvals: [{ environment: 'production', decision: 'approved', by: 'bob' }],
  samples: { total: 2, byVerdict: { healthy: 1, critical: 1 } },
};

describe('the offline narrator writes prose from the recorded facts', () => {
  it('a post-mortem leads with impact and states only measured figures', () => {
    const text = offlineNarrative('postmortem', facts);
    assert.match(
      text,
      /^Impact: 1\.2\.0 took at most 10 % of production traffic for 2 s; 9 of its 42 sampled requests failed \(21\.43 %\); the worst p95 was 2510 ms\./,
    );
    assert.match(text, /hello 1\.2\.0 was rolled back automatically after 14\.5 s: critical: error rate/);
    assert.match(text, /production still runs 1\.1\.0\. bob approved production\./);
    assert.match(text, /took 2 samples: 1 healthy, 1 critical/);
    assert.deepEqual(unsupportedFigures(text, facts), []);
  });

  it('a summary says what changed where, without an impact section', () => {
    const promoted = {
      ...facts,
      impact: undefined,
      outcome: 'promoted',
      reason: '1.2.0 runs in production',
      environments: [{ name: 'production', strategy: 'canary', before: '1.1.0', now: '1.2.0' }],
    };
    const text = offlineNarrative('summary', promoted);
    assert.doesNotMatch(text, /Impact/);
    assert.match(text, /hello 1\.2\.0 was promoted after 14\.5 s: 1\.2\.0 runs in production\./);
    assert.match(text, /production \(canary\) went from 1\.1\.0 to 1\.2\.0/);
  });

  it('facts of another shape are listed, not narrated', () => {
    assert.match(offlineNarrative('summary', { deploys: 3 }), /- \*\*deploys\*\*: 3/);
  });
});
