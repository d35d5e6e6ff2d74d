/**
 * `cost` in opsflow.yaml: the worker's cost source, a discriminated union on `kind`. Prices are per environment
 * (`default` for the others), in `currency`; PromQL templates take the placeholders of the metrics queries.
 */
import { z } from 'zod';
import { durationBetween, promqlTemplateSchema } from '../../shared/analysis-config';
import { nameSchema } from '../../shared/validation';

/** A price: one figure for every environment, or per environment with `default` for the rest. */
const priceSchema = z.union([
  z.number().min(0),
  z
    .record(z.union([nameSchema, z.literal('default')]), z.number().min(0))
    .refine((r) => Object.keys(r).length > 0, 'name at least one environment, or default'),
]);
export type Price = z.infer<typeof priceSchema>;

/** Where the queries run: a Prometheus (unset: metrics.prometheus.url). */
const prometheusSchema = z
  .object({ url: z.string().url(), timeout: durationBetween(100, 300_000).default(5_000) })
  .strict()
  .optional();

const common = {
  currency: z.string().min(1).max(10).default('USD'),
  prometheus: prometheusSchema,
};

/** Per vCPU-hour and GB-hour, per environment. */
const resourcePricesSchema = z.record(
  z.union([nameSchema, z.literal('default')]),
  z.object({ vcpuHour: z.number().min(0), gbHour: z.number().min(0).default(0) }).strict(),
);

/** The queries of the usage kind against the local platform's /metrics (opsflow_process_*). */
export const LOCAL_USAGE_QUERIES = {
  cpuSeconds:
    'sum(increase(opsflow_process_cpu_seconds_total{environment="{{environment}}",service="{{service}}",version="{{version}}"}[{{window}}]))',
  memoryBytes:
    'sum(avg_over_time(opsflow_process_resident_memory_bytes{environment="{{environment}}",service="{{service}}",version="{{version}}"}[{{window}}]))',
};

/** The same against cAdvisor's container metrics on Kubernetes (the pods of the version's Deployment). */
export const CADVISOR_USAGE_QUERIES = {
  cpuSeconds:
    'sum(increase(container_cpu_usage_seconds_total{namespace="{{namespace}}",pod=~"{{workload}}-[a-z0-9]+-[a-z0-9]+",container!=""}[{{window}}]))',
  memoryBytes:
    'sum(avg_over_time(container_memory_working_set_bytes{namespace="{{namespace}}",pod=~"{{workload}}-[a-z0-9]+-[a-z0-9]+",container!=""}[{{window}}]))',
};

/**
 * OpenCost's metrics (https://opencost.io/docs/integrations/metrics): the CPU a version's pods used, priced at the
 * cluster's average node_cpu_hourly_cost (usage), and what OpenCost allocates them, container_cpu_allocation and
 * container_memory_allocation_bytes, priced per node at node_cpu_hourly_cost and node_ram_hourly_cost (capacity). Both
 * answer a cost per hour over the window.
 */
export const OPENCOST_QUERIES = {
  usagePerHour:
    'sum(rate(container_cpu_usage_seconds_total{namespace="{{namespace}}",pod=~"{{workload}}-[a-z0-9]+-[a-z0-9]+",container!=""}[{{window}}])) * scalar(avg(avg_over_time(node_cpu_hourly_cost[{{window}}])))',
  capacityPerHour:
    'sum(avg_over_time(container_cpu_allocation{namespace="{{namespace}}",pod=~"{{workload}}-[a-z0-9]+-[a-z0-9]+"}[{{window}}]) * on(node) group_left() avg by (node) (avg_over_time(node_cpu_hourly_cost[{{window}}]))) + ' +
    'sum(avg_over_time(container_memory_allocation_bytes{namespace="{{namespace}}",pod=~"{{workload}}-[a-z0-9]+-[a-z0-9]+"}[{{window}}]) / 1024 / 1024 / 1024 * on(node) group_left() avg by (node) (avg_over_time(node_ram_hourly_cost[{{window}}])))',
};

const opencostSchema = z
  .object({
    kind: z.literal('opencost'),
    ...common,
    queries: z
      .object({ usagePerHour: promqlTemplateSchema, capacityPerHour: promqlTemplateSchema })
      .strict()
      .default(OPENCOST_QUERIES),
  })
  .strict();

const usageSchema = z
  .object({
    kind: z.literal('usage'),
    ...common,
    /** Where usage is read: Prometheus (the queries below), or the local platform's own per-version figures. */
    from: z.enum(['prometheus', 'local']).default('prometheus'),
    prices: resourcePricesSchema.refine((r) => Object.keys(r).length > 0, 'name at least one environment, or default'),
    /** `local`: the local platform's opsflow_process_* series; `cadvisor`: container_* of the version's pods. */
    queries: z
      .union([
        z.enum(['local', 'cadvisor']),
        z.object({ cpuSeconds: promqlTemplateSchema, memoryBytes: promqlTemplateSchema.optional() }).strict(),
      ])
      .default('local'),
  })
  .strict();

/** One priced usage: a query answering the quantity used in the window (none: the window's requests). */
const itemSchema = z
  .object({
    name: nameSchema,
    unit: z.string().min(1).max(40),
    query: promqlTemplateSchema.optional(),
    price: priceSchema,
    /** requests: grows with traffic, compared per request; capacity: held whatever the traffic, reported only. */
    scales: z.enum(['requests', 'capacity']).default('requests'),
  })
  .strict();

const priceSheetSchema = z
  .object({ kind: z.literal('price-sheet'), ...common, items: z.array(itemSchema).min(1) })
  .strict()
  .refine((s) => new Set(s.items.map((i) => i.name)).size === s.items.length, 'item names must differ');

export const costConfigSchema = z.discriminatedUnion('kind', [opencostSchema, usageSchema, priceSheetSchema], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'unknown cost kind: use opencost, usage or price-sheet' : undefined,
});
export type CostConfig = z.infer<typeof costConfigSchema>;
export type PriceSheetItem = z.infer<typeof itemSchema>;
export type ResourcePrices = z.infer<typeof resourcePricesSchema>;

/** An environment's entry of a per-environment table: its own, else `default`. */
export function forEnvironment<T>(table: Partial<Record<string, T>>, environment: string): T | undefined {
  return (Object.hasOwn(table, environment) ? table[environment] : undefined) ?? table['default'];
}
