/**
 * Latency histograms from the metrics providers: the local platform's stats endpoint and its Prometheus histogram
 * agree bucket for bucket, the Prometheus provider turns `sum by (le) (increase(...))` into per-bucket counts, and the
 * histogram survives JSON (where Infinity is null).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LocalMetrics } from '../../src/activities/metrics/local';
import {
  LATENCY_HISTOGRAM_QUERY,
  latencyHistogramFrom,
  PrometheusMetrics,
  queryResponseSchema,
} from '../../src/activities/metrics/prometheus';
import { DEFAULT_PROMETHEUS_QUERIES, prometheusConfigSchema } from '../../src/config/schema';
import { windowStatsSchema, type WindowStats } from '../../src/local-platform/api';
import type { LocalPlatformClient } from '../../src/local-platform/client';
import { PlatformMetrics } from '../../src/local-platform/prometheus';
import { StatsStore } from '../../src/local-platform/stats';
import { LATENCY_BUCKETS_MS, mannWhitneyHistograms } from '../../src/shared/statistics';

const key = { environment: 'production', service: 'hello', version: '1.1.0' };
const latencies = [0.8, 3, 5, 7.5, 12, 30, 30, 99, 250, 251, 2_400, 2_600, 5_000, 12_000];

/** A /api/v1/query vector answer, one series per `le`. */
const buckets = (series: [le: string, value: string][]) =>
  queryResponseSchema.parse({
    status: 'success',
    data: { resultType: 'vector', result: series.map(([le, value]) => ({ metric: { le }, value: [1.5, value] })) },
  });

describe('the local platform reports one histogram two ways', () => {
  it('the stats window counts latencies in the 13 fixed buckets, bounds inclusive', () => {
    let now = 1_000_000;
    const store = new StatsStore(() => now);
    for (const ms of latencies) store.record(key, 200, ms);
    now += 500;
    const { latency } = store.window(key, 10_000);
    assert.equal(LATENCY_BUCKETS_MS.length, 13);
    assert.deepEqual(latency, {
      boundsMs: [...LATENCY_BUCKETS_MS],
      counts: [3, 1, 1, 2, 1, 1, 1, 0, 0, 1, 2, 0, 1],
    });
    assert.deepEqual(
      store.window({ ...key, version: '9.9.9' }, 10_000).latency.counts,
      LATENCY_BUCKETS_MS.map(() => 0),
    );
  });

  it('its /metrics histogram has the same buckets, so Prometheus and the stats endpoint agree', async () => {
    const metrics = new PlatformMetrics();
    const store = new StatsStore();
    for (const ms of latencies) {
      metrics.observe(key, 200, ms);
      store.record(key, 200, ms);
    }
    const { body } = await metrics.expose();
    const series = [...body.matchAll(/^opsflow_request_duration_seconds_bucket\{le="([^"]+)",[^}]*\} (\S+)$/gm)].map(
      (m): [string, string] => [m[1]!, m[2]!],
    );
    assert.equal(series.length, 13);
    // What `sum by (le) (increase(..._bucket[window]))` answers when the window holds exactly these requests.
    assert.deepEqual(latencyHistogramFrom(buckets(series)), store.window(key, 60_000).latency);
  });

  it('the stats answer carries the histogram through JSON: null on the wire, Infinity once parsed', () => {
    const store = new StatsStore();
    for (const ms of latencies) store.record(key, 200, ms);
    const answer: WindowStats = { ...key, windowMs: 60_000, ...store.window(key, 60_000) };
    const wire = JSON.parse(JSON.stringify(answer)) as { latency: { boundsMs: unknown[] } };
    assert.equal(wire.latency.boundsMs.at(-1), null);
    assert.deepEqual(windowStatsSchema.parse(wire).latency, answer.latency);
    // A platform from before the histograms still answers.
    const { latency: _, ...older } = wire;
    assert.equal(windowStatsSchema.parse(older).latency, undefined);
    const broken = { ...wire, latency: { boundsMs: [5, null], counts: [1] } };
    assert.equal(windowStatsSchema.safeParse(broken).success, false);
  });

  it('the local provider passes the histogram on', async () => {
    const store = new StatsStore();
    for (const ms of latencies) store.record(key, 200, ms);
    const client = {
      stats: async (args: { windowMs: number }) => ({ ...key, windowMs: args.windowMs, ...store.window(key, 60_000) }),
    } as unknown as LocalPlatformClient;
    const window = await new LocalMetrics(client).window({ ...key, windowMs: 30_000 });
    assert.deepEqual(window.latency, store.window(key, 60_000).latency);
    assert.equal(window.requests, latencies.length);
  });
});

describe('latencyHistogramFrom: Prometheus bucket series to per-bucket counts', () => {
  it('differences cumulative counts, in any order, with le in seconds as ms', () => {
    const h = latencyHistogramFrom(
      buckets([
        ['+Inf', '10'],
        ['0.005', '2'],
        ['0.1', '7.5'],
        ['0.025', '4'],
      ]),
    );
    assert.deepEqual(h, { boundsMs: [5, 25, 100, Infinity], counts: [2, 2, 3.5, 2.5] });
  });

  it('makes extrapolated counts monotonic and rounds them to hundredths', () => {
    const h = latencyHistogramFrom(
      buckets([
        ['0.005', '3.333333'],
        ['0.01', '3.2'],
        ['0.025', '6.7777'],
        ['+Inf', 'NaN'],
      ]),
    );
    assert.deepEqual(h, { boundsMs: [5, 10, 25, Infinity], counts: [3.33, 0, 3.44, 0] });
  });

  it('is undefined for no series (nothing recorded)', () => {
    assert.equal(latencyHistogramFrom(buckets([])), undefined);
  });

  it('refuses answers that are not one series per le', () => {
    assert.throws(
      () =>
        latencyHistogramFrom(
          queryResponseSchema.parse({
            status: 'success',
            data: { resultType: 'vector', result: [{ metric: { version: '1' }, value: [1, '3'] }] },
          }),
        ),
      /without a numeric le label .*aggregate by \(le\)/,
    );
    assert.throws(
      () =>
        latencyHistogramFrom(
          queryResponseSchema.parse({ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }),
        ),
      /returned a scalar/,
    );
    assert.throws(
      () => latencyHistogramFrom(queryResponseSchema.parse({ status: 'error', errorType: 'timeout', error: 'slow' })),
      /timeout: slow/,
    );
  });
});

describe('the prometheus provider asks for the histogram of the router metrics', () => {
  // A loopback stand-in for Prometheus's /api/v1/query that answers by query text, to see which queries are sent.
  let server: http.Server;
  let url: string;
  const asked: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const query = new URLSearchParams(body).get('query') ?? '';
        asked.push(query);
        const result = query.startsWith('sum by (le)')
          ? [
              ['0.005', '40'],
              ['0.01', '90'],
              ['+Inf', '100'],
            ].map(([le, v]) => ({ metric: { le }, value: [1, v] }))
          : [{ metric: {}, value: [1, query.includes('code=~') ? '1' : '100'] }];
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const query = { ...key, windowMs: 30_000 };

  it('with the default queries: the window carries the histogram', async () => {
    asked.length = 0;
    const window = await new PrometheusMetrics(prometheusConfigSchema.parse({ url })).window(query);
    assert.ok(
      asked.includes(
        LATENCY_HISTOGRAM_QUERY.replace('{{environment}}', 'production')
          .replace('{{service}}', 'hello')
          .replace('{{version}}', '1.1.0')
          .replace('{{window}}', '30s'),
      ),
      asked.join('\n'),
    );
    assert.deepEqual(window.latency, { boundsMs: [5, 10, Infinity], counts: [40, 50, 10] });
    assert.equal(mannWhitneyHistograms(window.latency!, window.latency!).effectSize, 0.5);
  });

  it('with custom latency queries (another metric): no histogram, and no histogram query', async () => {
    asked.length = 0;
    const queries = { ...DEFAULT_PROMETHEUS_QUERIES, latencyP95Ms: 'max(my_p95_ms{version="{{version}}"})' };
    const window = await new PrometheusMetrics(prometheusConfigSchema.parse({ url, queries })).window(query);
    assert.equal(window.latency, undefined);
    assert.equal(asked.length, 4);
  });
});
