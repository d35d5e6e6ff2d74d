import type { MetricsWindow } from '../../shared/analysis';

/** Where samples come from: the local platform's own figures, or (later) Prometheus. */
export interface MetricsProvider {
  window(query: { environment: string; service: string; version: string; windowMs: number }): Promise<MetricsWindow>;
}
