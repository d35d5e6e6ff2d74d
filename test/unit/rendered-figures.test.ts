/**
 * Figures as people read them (issue 23, smaller items): request counts without floating-point noise, and a Temporal
 * UI link only where one is known.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addSample, emptyWindow } from '../../src/shared/analysis/cumulative';
import { temporalUiUrl } from '../../src/temporal/connection';

describe('request counts', () => {
  it("add up Prometheus's extrapolated counts to their two decimals, not 83.21000000000001", () => {
    const window = (requests: number) => ({ version: '1.1.0', requests, errors: 0, p95Ms: 10, p99Ms: 12 });
    let total = emptyWindow();
    for (const requests of [41.1, 42.11]) total = addSample(total, window(requests));
    assert.equal(41.1 + 42.11, 83.21000000000001, 'what adding them plainly gives');
    assert.equal(total.requests, 83.21);
    assert.equal(`${total.requests} requests`, '83.21 requests');
  });
});

describe('the Temporal UI link', () => {
  it('is the configured one wherever Temporal runs', () => {
    assert.equal(
      temporalUiUrl('https://temporal.example.com', 'temporal.example.com:7233'),
      'https://temporal.example.com',
    );
  });

  it("is the dev server's when Temporal runs on this machine, and none for a cluster elsewhere", () => {
    for (const address of ['localhost:7233', '127.0.0.1:7300', '[::1]:7233']) {
      assert.equal(temporalUiUrl(undefined, address), 'http://localhost:8233', address);
    }
    for (const address of ['temporal.example.com:7233', 'ops.tmprl.cloud:7233', '10.0.0.7:7233']) {
      assert.equal(temporalUiUrl(undefined, address), undefined, address);
    }
  });
});
