import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { costFromConfig } from '../../src/activities/cost/registry';
import { configSchema } from '../../src/config/schema';
import { UsageStore } from '../../src/local-platform/usage';
import { stackConfig } from '../helpers/stack';

const base = stackConfig(0, ['production']);
const parse = (cost: unknown, metrics: unknown = {}) => configSchema.safeParse({ ...base, metrics, cost });

describe('cost sources', () => {
  it('prices requests alone from a price sheet, per environment, with no Prometheus', async () => {
    const parsed = parse({
      kind: 'price-sheet',
      currency: 'EUR',
      items: [{ name: 'invocations', unit: 'request', price: { default: 0.0000002, production: 0.0000004 } }],
    });
    assert.ok(parsed.success, parsed.error?.message);
    const source = costFromConfig(parsed.data)!;
    assert.equal(source.currency, 'EUR');
    assert.equal(source.description, 'price sheet, EUR');
    const query = { service: 'hello', version: '1.0.0', windowMs: 1_000, requests: 5_000 };
    assert.deepEqual(await source.window({ ...query, environment: 'production' }), {
      usage: 5_000 * 0.0000004,
      capacity: null,
    });
    assert.deepEqual(await source.window({ ...query, environment: 'staging' }), {
      usage: 5_000 * 0.0000002,
      capacity: null,
    });
  });

  it('refuses a cost source that reads Prometheus without one, and an unknown kind, in one line', () => {
    const missing = parse({ kind: 'opencost' });
    assert.ok(!missing.success);
    assert.match(missing.error.issues[0]!.message, /reads Prometheus: set cost.prometheus.url/);
    assert.deepEqual(missing.error.issues[0]!.path, ['cost', 'prometheus']);
    // metrics.prometheus serves both.
    assert.ok(parse({ kind: 'opencost' }, { prometheus: { url: 'http://127.0.0.1:9090' } }).success);
    // Usage read from the local platform needs no Prometheus.
    assert.ok(parse({ kind: 'usage', from: 'local', prices: { default: { vcpuHour: 0.04 } } }).success);
    const unknown = parse({ kind: 'kubecost' });
    assert.ok(!unknown.success);
    assert.match(unknown.error.issues[0]!.message, /unknown cost kind: use opencost, usage or price-sheet/);
    const typo = parse(
      { kind: 'usage', prices: { default: { vcpuHour: 0.04 } }, queries: { cpuSeconds: 'x{{pod}}' } },
      {
        prometheus: { url: 'http://127.0.0.1:9090' },
      },
    );
    assert.ok(!typo.success);
    assert.match(typo.error.issues[0]!.message, /unknown placeholder \{\{pod\}\}/);
  });

  it("keeps each version's CPU seconds and average memory per window, as the local platform reads them", () => {
    let now = 100_000;
    const store = new UsageStore(() => now);
    const key = { environment: 'production', service: 'hello', version: '1.4.0' };
    store.record(key, 0.01, 40e6);
    now += 1_000;
    store.record(key, 0.03, 60e6);
    now += 1_000;
    store.record({ ...key, version: '1.0.0' }, 0.5, 1e6);
    assert.deepEqual(store.window(key, 3_000), { cpuSeconds: 0.04, memoryBytes: 50e6 });
    assert.deepEqual(store.window(key, 1_000), { cpuSeconds: 0.03, memoryBytes: 60e6 });
    assert.deepEqual(store.window({ ...key, version: '1.1.0' }, 3_000), { cpuSeconds: 0, memoryBytes: null });
  });
});
