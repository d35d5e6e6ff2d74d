/**
 * Every cost kind as a list of priced quantities: a quantity the version used or held in the window (a PromQL answer,
 * the local platform's figure, or the window's requests) times its price in the environment. The `opencost`, `usage`
 * and `price-sheet` kinds differ only in their lists (registry.ts builds them).
 */
import type { LocalPlatformClient } from '../../local-platform/client';
import { PrometheusMetrics, promDuration, renderQuery } from '../metrics/prometheus';
import { DEFAULT_PROMETHEUS_QUERIES } from '../../config/schema';
import type { CostAnswer, CostQuery, CostSource } from './contract';

/** One priced quantity. */
export interface PricedItem {
  name: string;
  /** Where the quantity comes from: a PromQL template, the local platform's usage, or the window's requests. */
  quantity: { promql: string } | { local: 'cpuSeconds' | 'memoryBytes' } | 'requests';
  /** Price of one unit in the environment; undefined: not priced there (the item is left out). */
  price(environment: string): number | undefined;
  /** `hour`: the quantity is a rate or a level held (GB, cost per hour) and is multiplied by the window's hours. */
  per: 'window' | 'hour';
  scales: 'requests' | 'capacity';
}

/** Where PromQL quantities are read. */
export interface PromqlEndpoint {
  url: string;
  timeout: number;
}

/** A cost source made of priced items. */
export class PricedCost implements CostSource {
  private readonly prometheus: PrometheusMetrics | undefined;

  constructor(
    readonly description: string,
    readonly currency: string,
    private readonly items: readonly PricedItem[],
    endpoint: PromqlEndpoint | undefined,
    private readonly local?: LocalPlatformClient,
  ) {
    this.prometheus =
      endpoint &&
      new PrometheusMetrics({
        url: endpoint.url,
        timeout: endpoint.timeout,
        queries: DEFAULT_PROMETHEUS_QUERIES,
        minWindow: 2_000,
      });
  }

  async window(query: CostQuery): Promise<CostAnswer> {
    const time = Date.now() / 1_000;
    const hours = query.windowMs / 3_600_000;
    const priced = this.items.flatMap((item) => {
      const price = item.price(query.environment);
      return price === undefined ? [] : [{ item, price }];
    });
    const readsLocal = priced.some(({ item }) => typeof item.quantity === 'object' && 'local' in item.quantity);
    const { environment, service, version } = query;
    const localUsage =
      readsLocal && this.local
        ? this.local.stats({ environment, service, version, windowMs: Math.max(1_000, query.windowMs) })
        : undefined;
    const quantities = await Promise.all(
      priced.map(async ({ item }) => {
        if (item.quantity === 'requests') return query.requests;
        if ('local' in item.quantity) {
          const figures = (await localUsage)?.usage;
          if (!figures)
            throw new Error('the local platform reports no usage: upgrade it, or read usage from Prometheus');
          return figures[item.quantity.local];
        }
        return this.evaluate(item.quantity.promql, query, time);
      }),
    );
    const sum = (scales: PricedItem['scales']): number | null => {
      let total: number | null = null;
      for (const [i, { item, price }] of priced.entries()) {
        if (item.scales !== scales) continue;
        const quantity = quantities[i] ?? null;
        // A part without a figure leaves the whole unknown: a partial sum would understate the cost.
        if (quantity === null) return null;
        total = (total ?? 0) + quantity * price * (item.per === 'hour' ? hours : 1);
      }
      return total;
    };
    return { usage: sum('requests'), capacity: sum('capacity') };
  }

  private evaluate(template: string, query: CostQuery, time: number): Promise<number | null> {
    if (!this.prometheus) {
      throw new Error('cost queries need a Prometheus: set cost.prometheus.url or metrics.prometheus.url');
    }
    const promql = renderQuery(template, {
      ...query.labels,
      service: query.service,
      version: query.version,
      environment: query.environment,
      window: promDuration(Math.max(query.windowMs, 2_000)),
    });
    return this.prometheus.evaluate(promql, time, 'cost', 'the cost queries (cost in opsflow.yaml)');
  }
}
