/**
 * The cost source contract: what a version of a service cost over a window. One source per worker (`cost.kind` in
 * opsflow.yaml, built by registry.ts): `opencost` (OpenCost's Prometheus metrics), `usage` (CPU and memory the
 * processes or pods used, times a price sheet) or `price-sheet` (any usage query times its unit price). The deploy's
 * canary and the agent's daily review read the same source.
 */
import type { MetricLabels } from '../metrics/contract';

/** One version of one service in one environment, over the last `windowMs`. */
export interface CostQuery {
  environment: string;
  service: string;
  version: string;
  windowMs: number;
  /** Requests the version served in the window (from the metrics provider): a price per request multiplies them. */
  requests: number;
  /** The target's labels for the version ({{namespace}}, {{workload}}), when its kind has them. */
  labels?: MetricLabels;
}

/** What a version cost over the window, in the source's currency; null parts had no figure. */
export interface CostAnswer {
  usage: number | null;
  capacity: number | null;
}

/**
 * Where cost figures come from. Every call is a read; a source that cannot answer throws, and the caller records the
 * window as not measured (cost never blocks a deploy unless its analysis requires it).
 */
export interface CostSource {
  /** For people: the kind and where its figures come from. */
  readonly description: string;
  readonly currency: string;
  window(query: CostQuery): Promise<CostAnswer>;
}
