import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetricsQueryError } from '../../src/activities/metrics/contract';
import { nginxLogConfigSchema, NginxLogMetrics } from '../../src/activities/metrics/nginx-log';
import { LATENCY_BUCKETS_MS } from '../../src/shared/statistics';

/** One access-log line as examples/nginx's log_format writes it ($msec and $request_time in seconds). */
function line(request: {
  ageMs: number;
  version: string;
  status?: number;
  ms: number;
  service?: string;
  env?: string;
}) {
  return JSON.stringify({
    time: (Date.now() - request.ageMs) / 1_000,
    service: request.service ?? 'hello',
    environment: request.env ?? 'production',
    version: request.version,
    status: request.status ?? 200,
    upstreamStatus: String(request.status ?? 200),
    requestTime: request.ms / 1_000,
    upstream: '127.0.0.1:9001',
  });
}

describe('nginx-log provider', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-nginx-log-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const provider = (file: string, maxBytes?: number) =>
    new NginxLogMetrics(nginxLogConfigSchema.parse({ path: file, ...(maxBytes ? { maxBytes } : {}) }), dir);
  const query = { environment: 'production', service: 'hello', version: '1.1.0', windowMs: 60_000 };

  it('counts the version’s requests in the window: 5xx errors, nearest-rank percentiles, a latency histogram', async () => {
    const lines = [
      // Out of the window, another version, service or environment: not counted.
      line({ ageMs: 120_000, version: '1.1.0', status: 500, ms: 9_000 }),
      line({ ageMs: 1_000, version: '1.0.0', status: 500, ms: 9_000 }),
      line({ ageMs: 1_000, version: '1.1.0', service: 'other', ms: 9_000 }),
      line({ ageMs: 1_000, version: '1.1.0', env: 'staging', ms: 9_000 }),
      // Not a request line: skipped.
      'nginx: [warn] something',
      '{"time": "not a number"}',
      '{not json',
      // Counted: 20 requests, 1..20 ms, two 5xx and one 4xx (the caller's fault, not an error).
      ...Array.from({ length: 20 }, (_, i) =>
        line({
          ageMs: 2_000,
          version: '1.1.0',
          ms: i + 1,
          status: i === 3 ? 502 : i === 4 ? 503 : i === 5 ? 404 : 200,
        }),
      ),
    ];
    writeFileSync(path.join(dir, 'access.log'), `${lines.join('\n')}\n`);
    const window = await provider('access.log').window(query);
    assert.deepEqual(window, {
      version: '1.1.0',
      requests: 20,
      errors: 2,
      p95Ms: 19,
      p99Ms: 20,
      latency: {
        boundsMs: [...LATENCY_BUCKETS_MS],
        // ≤ 5 ms: 1..5; ≤ 10 ms: 6..10; ≤ 25 ms: 11..20.
        counts: [5, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      },
    });
  });

  it('answers 0 requests, null latencies and an empty histogram for a version that served nothing', async () => {
    writeFileSync(path.join(dir, 'idle.log'), `${line({ ageMs: 1_000, version: '1.0.0', ms: 3 })}\n`);
    const window = await provider('idle.log').window(query);
    assert.equal(window.requests, 0);
    assert.equal(window.p95Ms, null);
    assert.deepEqual(
      window.latency?.counts,
      LATENCY_BUCKETS_MS.map(() => 0),
    );
  });

  it('reads only the end of a large log: a line cut in half is skipped, not miscounted', async () => {
    const old = Array.from({ length: 200 }, () => line({ ageMs: 5_000, version: '1.1.0', ms: 1 }));
    const recent = Array.from({ length: 3 }, () => line({ ageMs: 1_000, version: '1.1.0', ms: 40 }));
    const text = `${[...old, ...recent].join('\n')}\n`;
    writeFileSync(path.join(dir, 'big.log'), text);
    // The last 1 KiB holds the three recent lines and a few older ones, the first of them cut in half.
    const window = await provider('big.log', 1_024).window(query);
    const lines = text.slice(-1_024).split('\n');
    // The first line is whole only when the cut falls just after a newline.
    const whole = (text.at(-1_025) === '\n' ? lines : lines.slice(1)).filter(Boolean);
    assert.ok(whole.length > 3 && whole.length < 10);
    assert.equal(window.requests, whole.length);
    assert.equal(window.latency?.counts[3], 3);
    assert.equal(window.latency?.counts[0], window.requests - 3);
  });

  it('fills {{service}} and {{environment}} in the path', async () => {
    writeFileSync(path.join(dir, 'hello-production.log'), `${line({ ageMs: 1_000, version: '1.1.0', ms: 7 })}\n`);
    const window = await provider('{{service}}-{{ environment }}.log').window(query);
    assert.equal(window.requests, 1);
  });

  it('names the file it cannot read (a plain Error: retried, then unmeasured)', async () => {
    await assert.rejects(provider('missing.log').window(query), (err: Error) => {
      assert.equal(err.constructor, Error);
      assert.match(err.message, /^cannot read the nginx access log .*missing\.log: ENOENT$/);
      return true;
    });
  });

  it('refuses custom metrics, which it cannot answer, without a retry', async () => {
    writeFileSync(path.join(dir, 'access.log'), '');
    await assert.rejects(
      provider('access.log').window({ ...query, custom: [{ name: 'x', query: 'y' }] }),
      MetricsQueryError,
    );
  });

  it('refuses an unknown placeholder in the path when the config loads', () => {
    const parsed = nginxLogConfigSchema.safeParse({ path: 'logs/{{pod}}.log' });
    assert.equal(parsed.success, false);
    assert.match(JSON.stringify(parsed.error?.issues), /unknown placeholder \{\{pod\}\}/);
  });
});
