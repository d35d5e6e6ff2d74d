/**
 * Request statistics per (environment, service, version) in one-second buckets, kept for 15 minutes, so canary
 * analysis can ask for any window up to that long. Raw latencies are kept per bucket: at the platform's rates
 * (at most a few thousand requests per second) exact percentiles cost little.
 */

import { histogramOf, LATENCY_BUCKETS_MS, type LatencyHistogram } from '../shared/statistics';

/** How long buckets are kept; also the longest window a caller may ask for. */
export const RETENTION_MS = 15 * 60_000;

const BUCKET_MS = 1_000;

interface Bucket {
  second: number;
  requests: number;
  errors: number;
  latenciesMs: number[];
}

/** Aggregates over a window; latencies are null when there were no requests. */
export interface WindowSummary {
  from: number;
  to: number;
  requests: number;
  errors: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Latencies in the fixed {@link LATENCY_BUCKETS_MS} buckets, the same as the /metrics histogram. */
  latency: LatencyHistogram;
}

/** A 5xx answer is an error; 4xx is the caller's fault and not the release's. */
export const isError = (statusCode: number) => statusCode >= 500;

/** Per-second request buckets of every series; `now` is injectable for tests. */
export class StatsStore {
  /** Buckets per series key, oldest first. */
  private readonly series = new Map<string, Bucket[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Records one finished request at the current time. */
  record(key: SeriesKey, statusCode: number, latencyMs: number): void {
    const bucket = currentBucket(this.series, seriesId(key), this.now(), (second) => ({
      second,
      requests: 0,
      errors: 0,
      latenciesMs: [],
    }));
    bucket.requests += 1;
    if (isError(statusCode)) bucket.errors += 1;
    bucket.latenciesMs.push(latencyMs);
  }

  /**
   * Stats over the last `windowMs`. Whole buckets are counted, so `from` is rounded down to a second and the window
   * may be up to a second longer than asked.
   */
  window(key: SeriesKey, windowMs: number): WindowSummary {
    const to = this.now();
    const firstSecond = Math.floor((to - windowMs) / BUCKET_MS);
    const buckets = (this.series.get(seriesId(key)) ?? []).filter((b) => b.second >= firstSecond);
    const requests = buckets.reduce((sum, b) => sum + b.requests, 0);
    const errors = buckets.reduce((sum, b) => sum + b.errors, 0);
    const latencies = buckets.flatMap((b) => b.latenciesMs).sort((a, b) => a - b);
    return {
      from: firstSecond * BUCKET_MS,
      to,
      requests,
      errors,
      errorRate: requests === 0 ? 0 : errors / requests,
      p50Ms: nearestRank(latencies, 50),
      p95Ms: nearestRank(latencies, 95),
      p99Ms: nearestRank(latencies, 99),
      latency: histogramOf(latencies, LATENCY_BUCKETS_MS),
    };
  }
}

/** Which series a request belongs to. */
export interface SeriesKey {
  environment: string;
  service: string;
  version: string;
}

export const seriesId = (key: SeriesKey) => `${key.environment}\u0000${key.service}\u0000${key.version}`;

/**
 * The bucket of the current second in a series, made by `make` when the second has none yet; buckets older than
 * {@link RETENTION_MS} are dropped then.
 */
export function currentBucket<B extends { second: number }>(
  series: Map<string, B[]>,
  id: string,
  nowMs: number,
  make: (second: number) => B,
): B {
  const second = Math.floor(nowMs / BUCKET_MS);
  let buckets = series.get(id);
  if (!buckets) series.set(id, (buckets = []));
  let bucket = buckets[buckets.length - 1];
  if (!bucket || bucket.second !== second) {
    bucket = make(second);
    buckets.push(bucket);
    prune(buckets, second);
  }
  return bucket;
}

function prune(buckets: { second: number }[], currentSecond: number): void {
  const oldest = currentSecond - RETENTION_MS / BUCKET_MS;
  let stale = 0;
  while (stale < buckets.length && buckets[stale]!.second < oldest) stale += 1;
  if (stale > 0) buckets.splice(0, stale);
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p % of values at or below it. */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  const value = sorted[rank - 1];
  // Hundredths of a millisecond: finer digits are timer noise.
  return value === undefined ? null : Math.round(value * 100) / 100;
}
