/**
 * The metrics provider contract: where the canary analysis gets its samples. Each provider (`local`, `prometheus`) is
 * one file here, picked per environment by `analysis.provider` through `registry.ts`.
 */
import type { MetricsWindow } from '../../shared/analysis';

/** A custom metric of an analysis: a query in the provider's own language, evaluated per version. */
export interface CustomMetricQuery {
  name: string;
  /**
   * A template: {{service}}, {{version}}, {{environment}} and {{window}} are filled in by the provider, and
   * {{namespace}} and {{workload}} when the deploy target gives them ({@link MetricLabels}).
   */
  query: string;
}

/** Where a version's metrics are, in the deploy target's own terms (kubernetes: its namespace and Deployment). */
export interface MetricLabels {
  namespace?: string;
  workload?: string;
}

/** One version of one service in one environment, over the last `windowMs`. */
export interface MetricsQuery {
  environment: string;
  service: string;
  version: string;
  windowMs: number;
  /** Custom metrics to evaluate too; their values land in `MetricsWindow.custom` by name. */
  custom?: CustomMetricQuery[];
  /** The target's labels for this version, when its kind has them. */
  labels?: MetricLabels;
}

/**
 * Where samples come from. Every call is a read. A provider that cannot answer now throws a plain Error: the sample is
 * retried once, then counted as unmeasured. A query that can never be answered as written (a template the provider
 * refuses) throws {@link MetricsQueryError}, which is not retried. No requests in the window is an answer (0 requests,
 * null latencies), never an error: the analysis judges it inconclusive.
 */
export interface MetricsProvider {
  window(query: MetricsQuery): Promise<MetricsWindow>;
}

/** A query the provider refuses as written (a bad template, a query its backend cannot parse): fix the config. */
export class MetricsQueryError extends Error {
  override name = 'MetricsQueryError';
}

/** `analysis.provider` names a provider this worker has no configuration for; the message names the setting. */
export class MetricsProviderMissing extends Error {
  override name = 'MetricsProviderMissing';
}
