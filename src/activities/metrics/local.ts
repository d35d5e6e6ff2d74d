import type { LocalPlatformClient } from '../../local-platform/client';
import type { MetricsWindow } from '../../shared/analysis';
import type { MetricsProvider, MetricsQuery } from './contract';

/**
 * The `local` provider: the local platform's own per-version figures, as recorded by its router, with the latency
 * histogram in the platform's 13 fixed buckets.
 */
export class LocalMetrics implements MetricsProvider {
  constructor(private readonly client: LocalPlatformClient) {}

  async window(query: MetricsQuery): Promise<MetricsWindow> {
    const { environment, service, version } = query;
    const stats = await this.client.stats({ environment, service, version, windowMs: Math.max(1_000, query.windowMs) });
    return {
      version: stats.version,
      requests: stats.requests,
      errors: stats.errors,
      p95Ms: stats.p95Ms,
      p99Ms: stats.p99Ms,
      ...(stats.latency ? { latency: stats.latency } : {}),
    };
  }
}
