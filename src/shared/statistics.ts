/** A latency distribution: counts per bucket (NOT cumulative); boundsMs[i] is bucket i's upper bound (inclusive); the last bucket may be Infinity. */
export interface LatencyHistogram {
  boundsMs: number[];
  counts: number[];
}
