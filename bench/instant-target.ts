import type { MetricsProvider, MetricsQuery } from '../src/activities/metrics/provider';
import type { DeployTarget } from '../src/activities/platform/target';
import type { ReleaseRef, RollbackResult, StartReleaseResult, TrafficResult } from '../src/activities/types';
import type { MetricsWindow } from '../src/shared/analysis';

/** The releases the instant target pretends to hold; the benchmark deploys the second over the first. */
export const INSTANT_RELEASES = ['1.0.0', '1.1.0'] as const;

/**
 * A deploy target that answers at once, so a benchmark measures orchestration and nothing else. It keeps no
 * state: every call is trivially idempotent and hundreds of concurrent deploys cannot get in each other's way.
 */
export class InstantTarget implements DeployTarget {
  constructor(private readonly environments: readonly string[]) {}

  async releases(): Promise<string[]> {
    return [...INSTANT_RELEASES];
  }

  async currentVersions(): Promise<Record<string, string>> {
    return Object.fromEntries(this.environments.map((env) => [env, INSTANT_RELEASES[0]]));
  }

  async startRelease(): Promise<StartReleaseResult> {
    return { pid: process.pid, port: 0, alreadyPromoted: false };
  }

  async setWeight(ref: Omit<ReleaseRef, 'version'> & { weight: number }): Promise<TrafficResult> {
    return { weight: ref.weight, changedAt: Date.now() };
  }

  async promote(): Promise<void> {}

  async rollback(): Promise<RollbackResult> {
    return { rolledBack: true, weightZeroAt: Date.now(), detail: 'instant target: nothing ran' };
  }
}

/** Metrics that always report a healthy, well-trafficked window (above any sane minRequests). */
export class InstantMetrics implements MetricsProvider {
  async window(query: MetricsQuery): Promise<MetricsWindow> {
    return { version: query.version, requests: 1_000, errors: 0, p95Ms: 20, p99Ms: 30 };
  }
}
