import type { MetricsWindow } from '../../shared/analysis';

/** A custom metric of an analysis: a query in the provider's own language, evaluated per version. */
export interface CustomMetricQuery {
  name: string;
  /** A template: {{service}}, {{version}}, {{environment}} and {{window}} are filled in by the provider. */
  query: string;
}

/** One version of one service in one environment, over the last `windowMs`. */
export interface MetricsQuery {
  environment: string;
  service: string;
  version: string;
  windowMs: number;
  /** Custom metrics to evaluate too; their values land in `MetricsWindow.custom` by name. */
  custom?: CustomMetricQuery[];
}

/**
 * Where samples come from: the local platform's own recorded figures, or Prometheus. Every call is a read;
 * a provider throws when it cannot answer, and the workflow counts the sample as unmeasured.
 */
export interface MetricsProvider {
  window(query: MetricsQuery): Promise<MetricsWindow>;
}
