import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  escapeLabelValue,
  instantValue,
  PrometheusMetrics,
  promDuration,
  queryResponseSchema,
  renderQuery,
  unknownPlaceholders,
} from '../../src/activities/metrics/prometheus';
import { DEFAULT_PROMETHEUS_QUERIES, prometheusConfigSchema } from '../../src/config/schema';
import { describeIssue } from '../../src/shared/validation';

const values = { service: 'hello', version: '1.2.0', environment: 'production', window: '30s' };

describe('prometheus templates', () => {
  const durations: [number, string][] = [
    [1_000, '1s'],
    [2_000, '2s'],
    [30_000, '30s'],
    [1_500, '1500ms'],
    [0.2, '1ms'],
    [900_000, '900s'],
  ];
  for (const [ms, expected] of durations) {
    it(`formats ${ms} ms as ${expected}`, () => assert.equal(promDuration(ms), expected));
  }

  const escapes: [string, string][] = [
    ['hello', 'hello'],
    ['a"b', 'a\\"b'],
    ['a\\b', 'a\\\\b'],
    ['a\nb', 'a\\nb'],
    ['"} or vector(1) #', '\\"} or vector(1) #'],
  ];
  for (const [raw, escaped] of escapes) {
    it(`escapes ${JSON.stringify(raw)}`, () => assert.equal(escapeLabelValue(raw), escaped));
  }

  it('fills every default query with escaped labels and the window', () => {
    for (const template of Object.values(DEFAULT_PROMETHEUS_QUERIES)) {
      const query = renderQuery(template, values);
      assert.doesNotMatch(query, /\{\{|\}\}/);
      assert.match(query, /environment="production",service="hello",version="1\.2\.0"/);
      assert.match(query, /\[30s\]/);
    }
  });

  it('keeps a hostile label value inside its string', () => {
    const query = renderQuery('up{service="{{service}}"}', { ...values, service: 'x"} or vector(1) or {a="' });
    assert.equal(query, 'up{service="x\\"} or vector(1) or {a=\\""}');
  });

  it('accepts spaces inside the braces and names unknown placeholders', () => {
    assert.equal(renderQuery('x[{{ window }}]', values), 'x[30s]');
    assert.deepEqual(unknownPlaceholders('a{{service}} {{ namespace }} {{window}} {{pod}}'), ['pod']);
    assert.throws(() => renderQuery('{{pod}}', values), /unknown placeholder \{\{pod\}\}: use \{\{service\}\}/);
  });

  it('refuses a template with an unknown placeholder when the config loads, and in the provider too', () => {
    const queries = { ...DEFAULT_PROMETHEUS_QUERIES, errors: 'sum(x{pod="{{pod}}"})' };
    const parsed = prometheusConfigSchema.safeParse({ url: 'http://127.0.0.1:9', queries });
    assert.equal(parsed.success, false);
    assert.match(
      describeIssue(parsed.error!),
      /^queries\.errors: unknown placeholder \{\{pod\}\}: use \{\{service\}\}/,
    );
    // A provider built from an unchecked object (not through the schema) still refuses it.
    const unchecked = { ...prometheusConfigSchema.parse({ url: 'http://127.0.0.1:9' }), queries };
    assert.throws(
      () => new PrometheusMetrics(unchecked),
      /^Error: metrics\.prometheus\.queries\.errors: unknown placeholder \{\{pod\}\}: use/,
    );
  });
});

describe('prometheus answers', () => {
  const vector = (...values: string[]) => ({
    status: 'success',
    data: { resultType: 'vector', result: values.map((v, i) => ({ metric: { i: String(i) }, value: [1.5, v] })) },
  });
  const cases: [string, unknown, number | null | RegExp][] = [
    ['one series', vector('42.5'), 42.5],
    ['no series: nothing recorded', vector(), null],
    ['NaN (0/0 over an idle window)', vector('NaN'), null],
    ['+Inf', vector('+Inf'), null],
    ['a scalar', { status: 'success', data: { resultType: 'scalar', result: [1.5, '7'] } }, 7],
    ['several series', vector('1', '2'), /returned 2 series .* aggregate it into one, e\.g\. with sum\(\)/],
    ['a range vector', { status: 'success', data: { resultType: 'matrix', result: [] } }, /returned a matrix/],
    ['an error', { status: 'error', errorType: 'bad_data', error: 'parse error' }, /bad_data: parse error/],
  ];
  for (const [name, body, expected] of cases) {
    it(name, () => {
      const parsed = queryResponseSchema.parse(body);
      if (expected instanceof RegExp) assert.throws(() => instantValue(parsed), expected);
      else assert.equal(instantValue(parsed), expected);
    });
  }

  it('rejects bodies that are not Prometheus answers', () => {
    for (const body of [
      {},
      { status: 'success' },
      { status: 'success', data: { resultType: 'vector', result: [{}] } },
    ]) {
      assert.equal(queryResponseSchema.safeParse(body).success, false, JSON.stringify(body));
    }
  });
});

describe('prometheus transport failures name the URL and the query', () => {
  // A loopback server that accepts and never answers, to exercise the timeout (no Prometheus can be made that slow).
  let silent: http.Server;
  let port: number;
  before(async () => {
    silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as AddressInfo).port;
  });
  after(async () => {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  const query = { environment: 'production', service: 'hello', version: '1.2.0', windowMs: 1_000 };

  it('times out', async () => {
    const provider = new PrometheusMetrics(
      prometheusConfigSchema.parse({ url: `http://127.0.0.1:${port}`, timeout: 300 }),
    );
    await assert.rejects(
      provider.window(query),
      new RegExp(
        `^Error: Prometheus http://127\\.0\\.0\\.1:${port}/api/v1/query query "sum\\(increase\\(opsflow_requests_total.*\\[2s\\].*: no answer within 300 ms$`,
      ),
    );
  });

  it('says when nothing listens', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const provider = new PrometheusMetrics(prometheusConfigSchema.parse({ url: `http://127.0.0.1:${closedPort}/` }));
    await assert.rejects(
      provider.window(query),
      /Prometheus http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query query ".*": ECONNREFUSED/,
    );
  });
});
