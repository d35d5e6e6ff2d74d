import type { MetricsWindow } from '../analysis';
import { histogramQuantile, mergeHistograms, type LatencyHistogram } from '../statistics';
import type { WindowTotals } from './checks';
import { addCost, noCost, type CumulativeCost } from './cost';

/**
 * Everything one version served in a step so far: requests and errors summed; latencies as one merged histogram while
 * every sample with requests brought one, else as request-weighted sums of the samples' p95 and p99; custom metrics
 * as the mean of the samples that had a value.
 */
export interface CumulativeWindow {
  requests: number;
  errors: number;
  /** Samples that brought requests. */
  samples: number;
  /** The merged histogram; null once a sample with requests came without one (or before any sample). */
  latency: LatencyHistogram | null;
  p95: { sum: number; weight: number };
  p99: { sum: number; weight: number };
  custom: Record<string, { sum: number; count: number }>;
  /** Cost over the samples that had one (rules revision cost). */
  cost: CumulativeCost;
}

/** Nothing served yet. */
export function emptyWindow(): CumulativeWindow {
  return {
    requests: 0,
    errors: 0,
    samples: 0,
    latency: null,
    p95: { sum: 0, weight: 0 },
    p99: { sum: 0, weight: 0 },
    custom: {},
    cost: noCost(),
  };
}

function addWeighted(acc: { sum: number; weight: number }, value: number | null, weight: number) {
  return value === null || !(weight > 0) ? acc : { sum: acc.sum + value * weight, weight: acc.weight + weight };
}

/**
 * Two counts added. Prometheus extrapolates counts over a window, so they come with two decimals (as the provider
 * rounds them); the sum keeps those two, where floating point would print 83.21 as 83.21000000000001.
 */
function sum(total: number, count: number): number {
  return Math.round((total + Math.max(0, count)) * 100) / 100;
}

/** The window with one more sample of the same version added. Pure: the arguments are not changed. */
export function addSample(acc: CumulativeWindow, w: MetricsWindow): CumulativeWindow {
  const custom = { ...acc.custom };
  for (const [name, value] of Object.entries(w.custom ?? {})) {
    if (value === null || !Number.isFinite(value)) continue;
    const previous = custom[name] ?? { sum: 0, count: 0 };
    custom[name] = { sum: previous.sum + value, count: previous.count + 1 };
  }
  const served = w.requests > 0;
  const latency = !served
    ? acc.latency
    : !w.latency || (acc.samples > 0 && !acc.latency)
      ? null
      : acc.latency
        ? mergeHistograms(acc.latency, w.latency)
        : { boundsMs: [...w.latency.boundsMs], counts: [...w.latency.counts] };
  return {
    requests: sum(acc.requests, w.requests),
    errors: sum(acc.errors, w.errors),
    samples: acc.samples + (served ? 1 : 0),
    latency,
    p95: addWeighted(acc.p95, w.p95Ms, w.requests),
    p99: addWeighted(acc.p99, w.p99Ms, w.requests),
    custom,
    cost: addCost(acc.cost, w),
  };
}

/** The cumulative window as a window to judge. */
export function totalsOf(acc: CumulativeWindow): WindowTotals {
  const weighted = (x: { sum: number; weight: number }) => (x.weight > 0 ? x.sum / x.weight : null);
  const custom: Record<string, number | null> = {};
  for (const [name, { sum, count }] of Object.entries(acc.custom)) custom[name] = count > 0 ? sum / count : null;
  return {
    requests: acc.requests,
    errors: acc.errors,
    p95Ms: (acc.latency && histogramQuantile(acc.latency, 0.95)) ?? weighted(acc.p95),
    p99Ms: (acc.latency && histogramQuantile(acc.latency, 0.99)) ?? weighted(acc.p99),
    ...(acc.latency ? { latency: acc.latency } : {}),
    custom,
  };
}
