import type { MetricsProvider } from '../../src/activities/metrics/provider';
import type { DeployTarget } from '../../src/activities/platform/target';
import type { ReleaseRef, RollbackResult, StartReleaseResult, TrafficResult } from '../../src/activities/types';
import type { MetricsWindow } from '../../src/shared/analysis';

/** Behaviour of one version as the fake metrics report it. */
export interface VersionProfile {
  requests: number;
  errorRate: number;
  p95Ms: number;
}

export const HEALTHY: VersionProfile = { requests: 200, errorRate: 0, p95Ms: 40 };

/**
 * An in-memory deploy target that keeps the same state the local platform keeps (stable, canary,
 * weight per environment) and records every call, so tests can assert what was done and how often.
 */
export class FakeTarget implements DeployTarget {
  readonly calls: { op: string; environment: string; weight?: number; version?: string }[] = [];
  /** Errors to throw from an operation (by name), to test how the workflow copes with a failing target. */
  readonly failures = new Map<string, Error>();
  readonly state = new Map<
    string,
    { stable: string; canary?: { version: string; weight: number; deployId: string } }
  >();

  constructor(
    private readonly versions: string[],
    initial: Record<string, string>,
  ) {
    for (const [env, version] of Object.entries(initial)) this.state.set(env, { stable: version });
  }

  private track(environment: string) {
    const t = this.state.get(environment);
    if (!t) throw new Error(`unknown environment ${environment}`);
    return t;
  }

  async releases(): Promise<string[]> {
    return this.versions;
  }

  async currentVersions(): Promise<Record<string, string>> {
    return Object.fromEntries([...this.state].map(([env, t]) => [env, t.stable]));
  }

  async startRelease(ref: ReleaseRef): Promise<StartReleaseResult> {
    this.calls.push({ op: 'start', environment: ref.environment, version: ref.version });
    const t = this.track(ref.environment);
    if (!t.canary) t.canary = { version: ref.version, weight: 0, deployId: ref.deployId };
    return { pid: 1, port: 1, alreadyPromoted: false };
  }

  async setWeight(ref: Omit<ReleaseRef, 'version'> & { weight: number }): Promise<TrafficResult> {
    this.calls.push({ op: 'weight', environment: ref.environment, weight: ref.weight });
    const t = this.track(ref.environment);
    if (!t.canary) throw new Error('no canary');
    t.canary.weight = ref.weight;
    return { weight: ref.weight, changedAt: Date.now() };
  }

  async promote(ref: ReleaseRef): Promise<void> {
    this.calls.push({ op: 'promote', environment: ref.environment, version: ref.version });
    const t = this.track(ref.environment);
    t.stable = ref.version;
    delete t.canary;
  }

  async rollback(ref: Omit<ReleaseRef, 'version'>): Promise<RollbackResult> {
    this.calls.push({ op: 'rollback', environment: ref.environment });
    const failure = this.failures.get('rollback');
    if (failure) throw failure;
    const t = this.track(ref.environment);
    const had = Boolean(t.canary);
    delete t.canary;
    return { rolledBack: had, detail: had ? `back to ${t.stable}` : 'no canary' };
  }

  count(op: string, environment?: string): number {
    return this.calls.filter((c) => c.op === op && (!environment || c.environment === environment)).length;
  }
}

/** Metrics that answer from a profile per version (and optionally per environment). */
export class FakeMetrics implements MetricsProvider {
  readonly queries: { environment: string; version: string }[] = [];

  constructor(private readonly profiles: Record<string, VersionProfile>) {}

  async window(query: {
    environment: string;
    service: string;
    version: string;
    windowMs: number;
  }): Promise<MetricsWindow> {
    this.queries.push({ environment: query.environment, version: query.version });
    const p = this.profiles[`${query.environment}/${query.version}`] ?? this.profiles[query.version] ?? HEALTHY;
    return {
      version: query.version,
      requests: p.requests,
      errors: Math.round(p.requests * p.errorRate),
      p95Ms: p.requests > 0 ? p.p95Ms : null,
      p99Ms: p.requests > 0 ? p.p95Ms * 1.2 : null,
    };
  }
}
