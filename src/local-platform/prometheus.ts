/**
 * The platform's Prometheus metrics (requests, latencies, weights, and each version's CPU and memory), in their own registry so several platforms can run in one process (tests, the
 * benchmark). Names follow what a Flagger or Argo Rollouts analysis query would use for a real mesh.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS_MS } from '../shared/statistics';
import type { SeriesKey } from './stats';

/**
 * Latency buckets in seconds: fine where thresholds sit (2 s warn, 5 s critical), up to 10 s. The same buckets as the
 * stats endpoint's histograms, so the local and prometheus providers report the same distribution.
 */
const DURATION_BUCKETS = LATENCY_BUCKETS_MS.filter(Number.isFinite).map((ms) => ms / 1_000);

/** The router's request counters, latency histogram and canary weight gauge, exposed at GET /metrics. */
export class PlatformMetrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'opsflow_requests_total',
    help: 'Requests answered through the local platform router, by version and HTTP status code.',
    labelNames: ['environment', 'service', 'version', 'code'] as const,
    registers: [this.registry],
  });

  private readonly duration = new Histogram({
    name: 'opsflow_request_duration_seconds',
    help: 'Time from the router receiving a request to the end of the upstream answer.',
    labelNames: ['environment', 'service', 'version'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  private readonly canaryWeight = new Gauge({
    name: 'opsflow_canary_weight',
    help: 'Percent of router traffic sent to the canary (0 when there is none).',
    labelNames: ['environment', 'service'] as const,
    registers: [this.registry],
  });

  /** Reads the processes' usage now (set by the platform), so a scrape sees CPU up to its own instant. */
  onScrape: (() => void) | undefined;

  private readonly cpu = new Counter({
    name: 'opsflow_process_cpu_seconds_total',
    help: "CPU time used by a version's service processes (read from the kernel at each scrape), by version.",
    labelNames: ['environment', 'service', 'version'] as const,
    registers: [this.registry],
    collect: () => this.onScrape?.(),
  });

  private readonly memory = new Gauge({
    name: 'opsflow_process_resident_memory_bytes',
    help: "Resident memory of a version's service processes at the last reading, by version.",
    labelNames: ['environment', 'service', 'version'] as const,
    registers: [this.registry],
  });

  /** Adds the CPU seconds a version's processes used since the last reading, and their resident memory now. */
  observeUsage(key: SeriesKey, cpuSeconds: number, rssBytes: number | null): void {
    const { environment, service, version } = key;
    this.cpu.inc({ environment, service, version }, cpuSeconds);
    if (rssBytes !== null) this.memory.set({ environment, service, version }, rssBytes);
  }

  /** Counts one finished request. */
  observe(key: SeriesKey, statusCode: number, latencyMs: number): void {
    const { environment, service, version } = key;
    this.requests.inc({ environment, service, version, code: String(statusCode) });
    this.duration.observe({ environment, service, version }, latencyMs / 1_000);
  }

  setCanaryWeight(environment: string, service: string, weight: number): void {
    this.canaryWeight.set({ environment, service }, weight);
  }

  /** The exposition text and its content type, for GET /metrics. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
