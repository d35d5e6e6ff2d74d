import type { MetricsProvider, MetricsQuery } from '../src/activities/metrics/contract';
import type {
  DeployTarget,
  PromoteResult,
  RollbackResult,
  StartResult,
  TargetStatus,
  WeightRef,
  WeightResult,
} from '../src/activities/targets/contract';
import type { MetricsWindow } from '../src/shared/analysis';

/** The releases the instant target pretends to hold; the benchmark deploys the second over the first. */
export const INSTANT_RELEASES = ['1.0.0', '1.1.0'] as const;

/**
 * A deploy target that answers at once, so a benchmark measures orchestration and nothing else. It keeps no
 * state: every call is trivially idempotent and hundreds of concurrent deploys cannot get in each other's way.
 */
export class InstantTarget implements DeployTarget {
  readonly kind = 'instant';

  async releases(): Promise<string[]> {
    return [...INSTANT_RELEASES];
  }

  async status(): Promise<TargetStatus> {
    return { stable: { version: INSTANT_RELEASES[0], deployId: null }, canary: null };
  }

  async startRelease(): Promise<StartResult> {
    return { alreadyPromoted: false, detail: 'instant target: nothing runs' };
  }

  async setWeight(ref: WeightRef): Promise<WeightResult> {
    return { weight: ref.weight, changedAt: Date.now() };
  }

  async promote(): Promise<PromoteResult> {
    return { detail: 'instant target: nothing runs' };
  }

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
