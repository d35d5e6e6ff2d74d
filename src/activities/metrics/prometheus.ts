/**
 * The `prometheus` metrics provider: PromQL instant queries over Prometheus's HTTP API (/api/v1/query), from query
 * templates that get the service, version, environment and window filled in. Every answer is validated with zod.
 */
import { z } from 'zod';
import type { MetricsWindow } from '../../shared/analysis';
import type { LatencyHistogram } from '../../shared/statistics';
import { describeIssue } from '../../shared/validation';
import { DEFAULT_PROMETHEUS_QUERIES, type PrometheusConfig } from '../../config/schema';
import { MetricsQueryError, type MetricsProvider, type MetricsQuery } from './contract';

/** The placeholders a template may use; the last two only with a deploy target that gives them (kubernetes). */
export const TEMPLATE_PLACEHOLDERS = ['service', 'version', 'environment', 'window', 'namespace', 'workload'] as const;
type TargetLabel = 'namespace' | 'workload';
type Placeholder = Exclude<(typeof TEMPLATE_PLACEHOLDERS)[number], TargetLabel>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Escapes a label value for a double-quoted PromQL string (`service="{{service}}"`). */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n\r]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r' })[c] ?? c);
}

/** A PromQL range duration: whole seconds as `30s`, anything finer as `1500ms`. */
export function promDuration(ms: number): string {
  const rounded = Math.max(1, Math.ceil(ms));
  return rounded % 1_000 === 0 ? `${rounded / 1_000}s` : `${rounded}ms`;
}

/** Names the placeholders of a template that the provider does not know; empty when all are known. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)]
    .map((m) => m[1] ?? '')
    .filter((name) => !(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name));
}

/** Fills a template: label values escaped for a PromQL string, the window as a PromQL duration. */
export function renderQuery(
  template: string,
  values: Record<Placeholder, string> & Partial<Record<TargetLabel, string>>,
): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (name === 'window') return values.window;
    if (name === 'service' || name === 'version' || name === 'environment') return escapeLabelValue(values[name]);
    if (name === 'namespace' || name === 'workload') {
      const value = values[name];
      // A template does not fix itself on a retry: the service's target must be one that knows its namespace.
      if (value === undefined) {
        throw new MetricsQueryError(`query template uses ${whole}, which only a kubernetes target fills in`);
      }
      return escapeLabelValue(value);
    }
    throw new Error(`query template has an unknown placeholder ${whole}: use ${describePlaceholders()}`);
  });
}

function describePlaceholders(): string {
  return TEMPLATE_PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ');
}

// A sample is [unix seconds, "value"]; the value is a string so that NaN and ±Inf survive JSON.
const sampleSchema = z.tuple([z.number(), z.string()]);

/** The body of /api/v1/query, success or error (https://prometheus.io/docs/prometheus/latest/querying/api/). */
export const queryResponseSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.discriminatedUnion('resultType', [
      z.object({
        resultType: z.literal('vector'),
        result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: sampleSchema })),
      }),
      z.object({ resultType: z.literal('scalar'), result: sampleSchema }),
      z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
      z.object({ resultType: z.literal('string'), result: sampleSchema }),
    ]),
    warnings: z.array(z.string()).optional(),
  }),
  z.object({ status: z.literal('error'), errorType: z.string(), error: z.string() }),
]);
export type QueryResponse = z.infer<typeof queryResponseSchema>;

/**
 * The one number an instant query answered: null for no series (nothing recorded) or a value that is not a finite
 * number (NaN from 0/0 when nothing happened in the window). Throws on an error answer, a range vector, or several
 * series, which a template must aggregate (sum, max, ...) into one.
 */
export function instantValue(response: QueryResponse): number | null {
  if (response.status === 'error') throw new Error(`${response.errorType}: ${response.error}`);
  const { data } = response;
  let text: string;
  if (data.resultType === 'scalar') text = data.result[1];
  else if (data.resultType === 'vector') {
    if (data.result.length === 0) return null;
    if (data.result.length > 1) {
      const labels = data.result.slice(0, 2).map((s) => JSON.stringify(s.metric));
      throw new Error(
        `returned ${data.result.length} series (${labels.join(', ')}...): aggregate it into one, e.g. with sum()`,
      );
    }
    text = data.result[0]!.value[1];
  } else {
    throw new Error(`returned a ${data.resultType}, not one number: write an instant query`);
  }
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** Counts are extrapolated by increase() and rarely whole; two decimals keep them readable and honest. */
function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * Per-bucket latency counts of the local platform router's duration histogram over the window: one series per `le`
 * (cumulative, in seconds). Its 13 buckets are what each sample carries in history.
 */
export const LATENCY_HISTOGRAM_QUERY =
  'sum by (le) (increase(opsflow_request_duration_seconds_bucket{environment="{{environment}}",service="{{service}}",version="{{version}}"}[{{window}}]))';

/**
 * The histogram of a `sum by (le) (increase(..._bucket[...]))` answer: the cumulative counts per `le`, sorted, made
 * monotonic (as histogram_quantile does: increase() extrapolates each series on its own) and differenced into counts
 * per bucket, rounded to hundredths; bounds are `le` times `leToMs` (1 000 for seconds), `+Inf` is Infinity.
 * undefined for no series (nothing recorded). Throws on an error answer, a result that is not a vector, or a series
 * without a numeric `le` label (the query must aggregate `by (le)`).
 */
export function latencyHistogramFrom(response: QueryResponse, leToMs = 1_000): LatencyHistogram | undefined {
  if (response.status === 'error') throw new Error(`${response.errorType}: ${response.error}`);
  const { data } = response;
  if (data.resultType !== 'vector') throw new Error(`returned a ${data.resultType}, not one series per le`);
  if (data.result.length === 0) return undefined;
  const buckets = data.result.map(({ metric, value }) => {
    const le = metric.le === '+Inf' ? Infinity : Number(metric.le ?? Number.NaN);
    if (Number.isNaN(le)) {
      throw new Error(`returned a series without a numeric le label (${JSON.stringify(metric)}): aggregate by (le)`);
    }
    const cumulative = Number(value[1]);
    return { le, cumulative: Number.isFinite(cumulative) ? Math.max(0, cumulative) : 0 };
  });
  buckets.sort((a, b) => a.le - b.le || 0);
  const boundsMs: number[] = [];
  const counts: number[] = [];
  let below = 0;
  for (const { le, cumulative } of buckets) {
    const atOrBelow = Math.max(below, cumulative);
    boundsMs.push(le === Infinity ? le : Math.round(le * leToMs * 1e6) / 1e6);
    counts.push(round(atOrBelow - below));
    below = atOrBelow;
  }
  return { boundsMs, counts };
}

/** Reads sample figures from Prometheus with the configured PromQL templates. */
export class PrometheusMetrics implements MetricsProvider {
  private readonly endpoint: URL;

  /** Throws with a one-line message when a template uses a placeholder the provider cannot fill. */
  constructor(private readonly config: PrometheusConfig) {
    const base = config.url.endsWith('/') ? config.url : `${config.url}/`;
    this.endpoint = new URL('api/v1/query', base);
    for (const [name, template] of Object.entries(config.queries)) {
      const unknown = unknownPlaceholders(template);
      if (unknown.length) {
        throw new Error(
          `metrics.prometheus.queries.${name}: unknown placeholder {{${unknown[0]}}}: use ${describePlaceholders()}`,
        );
      }
    }
  }

  /** The Prometheus URL queries go to, for messages. */
  get url(): string {
    return this.endpoint.href;
  }

  async window(query: MetricsQuery): Promise<MetricsWindow> {
    const values: Record<Placeholder, string> & Partial<Record<TargetLabel, string>> = {
      ...query.labels,
      service: query.service,
      version: query.version,
      environment: query.environment,
      window: promDuration(Math.max(query.windowMs, this.config.minWindow)),
    };
    // Every query of a sample is evaluated at the same instant, so the figures describe one window.
    const time = Date.now() / 1_000;
    const { queries } = this.config;
    const render = (template: string, name: string) => {
      try {
        return renderQuery(template, values);
      } catch (err) {
        // A template does not fix itself on a retry.
        throw new MetricsQueryError(`custom metric ${name}: ${(err as Error).message}`);
      }
    };
    const [requests, errors, p95, p99, latency, ...custom] = await Promise.all([
      this.evaluate(renderQuery(queries.requests, values), time),
      this.evaluate(renderQuery(queries.errors, values), time),
      this.evaluate(renderQuery(queries.latencyP95Ms, values), time),
      this.evaluate(renderQuery(queries.latencyP99Ms, values), time),
      this.readsRouterLatency ? this.histogram(renderQuery(LATENCY_HISTOGRAM_QUERY, values), time) : undefined,
      ...(query.custom ?? []).map((c) => this.evaluate(render(c.query, c.name), time, c.name)),
    ]);
    // No series means nothing was recorded: 0 requests, so the sample is inconclusive and never a success.
    const requestCount = round(Math.max(0, requests ?? 0));
    const window: MetricsWindow = {
      version: query.version,
      requests: requestCount,
      // Errors and requests are extrapolated separately; errors cannot outnumber the requests they belong to.
      errors: Math.min(requestCount, round(Math.max(0, errors ?? 0))),
      p95Ms: requestCount > 0 && p95 !== null ? round(p95) : null,
      p99Ms: requestCount > 0 && p99 !== null ? round(p99) : null,
    };
    if (query.custom?.length) {
      window.custom = Object.fromEntries(query.custom.map((c, i) => [c.name, custom[i] ?? null]));
    }
    if (latency) window.latency = latency;
    return window;
  }

  /**
   * Whether the latency queries are the defaults, which read the router's duration histogram: only then is it known
   * which bucket series to read. Custom latency queries read another metric, so their samples carry no histogram.
   */
  private get readsRouterLatency(): boolean {
    const { queries } = this.config;
    return (
      queries.latencyP95Ms === DEFAULT_PROMETHEUS_QUERIES.latencyP95Ms &&
      queries.latencyP99Ms === DEFAULT_PROMETHEUS_QUERIES.latencyP99Ms
    );
  }

  /**
   * One instant query; errors name the URL and the query, and a query Prometheus refuses is not retried. `fix` names
   * the setting to change when Prometheus refuses it (default: the custom metric `name`, or the metrics queries).
   */
  async evaluate(promql: string, time: number, name?: string, fix?: string): Promise<number | null> {
    fix ??= name ? `the analysis's custom metric ${name}` : 'metrics.prometheus.queries';
    const { where, response } = await this.query(promql, time, name, fix);
    try {
      return instantValue(response);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  }

  /** The latency histogram query; errors as {@link evaluate}'s. */
  async histogram(promql: string, time: number): Promise<LatencyHistogram | undefined> {
    const { where, response } = await this.query(promql, time, 'latency histogram', 'metrics.prometheus.queries');
    try {
      return latencyHistogramFrom(response);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  }

  /** Sends one instant query and validates the answer; `fix` names the setting to change when Prometheus refuses it. */
  private async query(
    promql: string,
    time: number,
    name: string | undefined,
    fix: string,
  ): Promise<{ where: string; response: QueryResponse }> {
    const where = `Prometheus ${this.endpoint.href} query ${name ? `${name} ` : ''}${JSON.stringify(promql)}`;
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          query: promql,
          time: time.toFixed(3),
          timeout: `${Math.max(1, Math.floor(this.config.timeout / 1_000))}s`,
        }),
        signal: AbortSignal.timeout(this.config.timeout),
      });
    } catch (err) {
      const cause = err as Error & { cause?: { code?: string } };
      const reason =
        cause.name === 'TimeoutError'
          ? `no answer within ${this.config.timeout} ms`
          : (cause.cause?.code ?? cause.message);
      throw new Error(`${where}: ${reason}`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`${where}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
    }
    const parsed = queryResponseSchema.safeParse(body);
    if (!parsed.success) {
      throw new Error(`${where}: HTTP ${response.status}, unexpected answer: ${describeIssue(parsed.error)}`);
    }
    if (parsed.data.status === 'error' && parsed.data.errorType === 'bad_data') {
      // A query Prometheus cannot parse will not parse on a retry: fix the template.
      throw new MetricsQueryError(`${where}: ${parsed.data.error}: fix ${fix} in opsflow.yaml`);
    }
    return { where, response: parsed.data };
  }
}
