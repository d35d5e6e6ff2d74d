/**
 * Builds the worker's cost source from `cost` in opsflow.yaml: one entry per kind in {@link KINDS}, each a list of priced
 * quantities (priced.ts). Adding a kind is its schema in config.ts and one entry here.
 */
import type { OpsflowConfig } from '../../config/schema';
import { localPlatformClient } from '../../local-platform/client';
import { CADVISOR_USAGE_QUERIES, forEnvironment, LOCAL_USAGE_QUERIES, type CostConfig } from './config';
import type { CostSource } from './contract';
import { PricedCost, type PricedItem, type PromqlEndpoint } from './priced';

type Kind<K extends CostConfig['kind']> = Extract<CostConfig, { kind: K }>;

const GB = 1e9;

/** The priced quantities and a description of each kind. */
const KINDS: { [K in CostConfig['kind']]: (cost: Kind<K>) => { description: string; items: PricedItem[] } } = {
  opencost: (cost) => ({
    description: 'OpenCost (Prometheus)',
    items: [
      { name: 'cpu', quantity: { promql: cost.queries.usagePerHour }, price: () => 1, per: 'hour', scales: 'requests' },
      {
        name: 'allocation',
        quantity: { promql: cost.queries.capacityPerHour },
        price: () => 1,
        per: 'hour',
        scales: 'capacity',
      },
    ],
  }),
  usage: (cost) => {
    const queries =
      cost.queries === 'local'
        ? LOCAL_USAGE_QUERIES
        : cost.queries === 'cadvisor'
          ? CADVISOR_USAGE_QUERIES
          : cost.queries;
    const local = cost.from === 'local';
    const prices = (environment: string) => forEnvironment(cost.prices, environment);
    return {
      description: `usage × price sheet (${local ? 'local platform' : 'Prometheus'})`,
      items: [
        {
          name: 'cpu',
          quantity: local ? { local: 'cpuSeconds' } : { promql: queries.cpuSeconds },
          // Per vCPU-second.
          price: (env) => (prices(env) ? prices(env)!.vcpuHour / 3_600 : undefined),
          per: 'window',
          scales: 'requests',
        },
        ...(local || queries.memoryBytes
          ? [
              {
                name: 'memory',
                quantity: local ? { local: 'memoryBytes' as const } : { promql: queries.memoryBytes! },
                // Per byte held for an hour.
                price: (env: string) => (prices(env) ? prices(env)!.gbHour / GB : undefined),
                per: 'hour' as const,
                scales: 'capacity' as const,
              },
            ]
          : []),
      ],
    };
  },
  'price-sheet': (cost) => ({
    description: 'price sheet',
    items: cost.items.map((item) => ({
      name: item.name,
      quantity: item.query ? { promql: item.query } : 'requests',
      price: (env) => (typeof item.price === 'number' ? item.price : forEnvironment(item.price, env)),
      per: 'window',
      scales: item.scales,
    })),
  }),
};

/** The worker's cost source; undefined when `cost` is not configured. */
export function costFromConfig(config: OpsflowConfig): CostSource | undefined {
  const { cost } = config;
  if (!cost) return undefined;
  const { description, items } = (KINDS[cost.kind] as (c: CostConfig) => ReturnType<(typeof KINDS)['usage']>)(cost);
  const endpoint: PromqlEndpoint | undefined =
    cost.prometheus ??
    (config.metrics.prometheus && { url: config.metrics.prometheus.url, timeout: config.metrics.prometheus.timeout });
  const local = cost.kind === 'usage' && cost.from === 'local' ? localPlatformClient(config.platform.local) : undefined;
  return new PricedCost(`${description}, ${cost.currency}`, cost.currency, items, endpoint, local);
}
