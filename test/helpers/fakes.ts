import type { ActivityDeps } from '../../src/activities';
import type { MetricsProvider, MetricsQuery } from '../../src/activities/metrics/contract';
import { MetricsRegistry } from '../../src/activities/metrics/registry';
import {
  InvalidTargetRequest,
  isWeight,
  TargetConflict,
  UnknownRelease,
  type DeployRef,
  type DeployTarget,
  type PromoteResult,
  type ReleaseRef,
  type RollbackRef,
  type RollbackResult,
  type StartResult,
  type TargetStatus,
  type TrackRef,
  type WeightRef,
  type WeightResult,
} from '../../src/activities/targets/contract';
import { TargetRegistry } from '../../src/activities/targets/registry';
import type { MetricsWindow } from '../../src/shared/analysis';
import type { DeployPolicy } from '../../src/shared/deploy';

/** Behaviour of one version as the fake metrics report it. */
export interface VersionProfile {
  requests: number;
  errorRate: number;
  p95Ms: number;
}

export const HEALTHY: VersionProfile = { requests: 200, errorRate: 0, p95Ms: 40 };

/** One environment of the fake: the stable release, the one before it, and at most one canary. */
export interface FakeTrack {
  stable: string;
  /** The deploy that promoted `stable`; null for the initial release. */
  stableDeployId: string | null;
  previous?: { version: string; deployId: string | null };
  canary?: { version: string; weight: number; deployId: string; changedAt: number };
  /** The fake's own record of the rollbacks it did, newest last, as a platform's event log keeps them. */
  rollbacks?: { deployId: string; rollbackId: string; version: string; weightZeroAt: number; detail: string }[];
}

/**
 * An in-memory deploy target that follows the same contract as the local platform (it passes the target contract
 * suite) and records every call, so tests can assert what was done and how often.
 */
export class FakeTarget implements DeployTarget {
  readonly kind = 'fake';
  readonly calls: { op: string; environment: string; weight?: number; version?: string; deployId?: string }[] = [];
  /** Errors to throw from an operation (start, weight, promote, rollback), to test how the workflow copes. */
  readonly failures = new Map<string, Error>();
  /**
   * Operations whose next call takes effect and then fails, once each, as when the worker running it dies before the
   * answer reaches Temporal: the retry finds the work done.
   */
  readonly lostAnswers = new Set<string>();
  readonly state = new Map<string, FakeTrack>();

  /** `versions` undefined: a target that cannot list its releases. */
  constructor(
    private readonly versions: readonly string[] | undefined,
    initial: Record<string, string>,
  ) {
    for (const [env, version] of Object.entries(initial))
      this.state.set(env, { stable: version, stableDeployId: null });
  }

  async releases(): Promise<readonly string[] | undefined> {
    return this.versions;
  }

  async status(ref: TrackRef): Promise<TargetStatus> {
    const t = this.track(ref.environment);
    const { canary } = t;
    return {
      stable: { version: t.stable, deployId: t.stableDeployId },
      canary: canary ? { version: canary.version, weight: canary.weight, deployId: canary.deployId } : null,
    };
  }

  async startRelease(ref: ReleaseRef): Promise<StartResult> {
    this.record('start', ref, { version: ref.version });
    this.requireRelease(ref.version);
    const t = this.track(ref.environment);
    if (t.stable === ref.version) {
      if (t.stableDeployId === ref.deployId) return { alreadyPromoted: true, detail: `${ref.version} already stable` };
      throw new TargetConflict('already-stable', `${ref.environment} already runs ${ref.version} as stable`);
    }
    if (t.canary) {
      this.requireOwner(t.canary, ref);
      if (t.canary.version !== ref.version) {
        throw new TargetConflict('version-mismatch', `deploy ${ref.deployId} runs canary ${t.canary.version}`);
      }
    } else {
      t.canary = { version: ref.version, weight: 0, deployId: ref.deployId, changedAt: Date.now() };
    }
    return { alreadyPromoted: false, detail: `${ref.version} beside ${t.stable} at ${t.canary.weight} %` };
  }

  async setWeight(ref: WeightRef): Promise<WeightResult> {
    this.record('weight', ref, { weight: ref.weight });
    if (!isWeight(ref.weight)) throw new InvalidTargetRequest(`weight ${ref.weight} is not a whole 0 to 100`);
    const canary = this.requireCanary(ref);
    if (canary.weight !== ref.weight) {
      canary.weight = ref.weight;
      canary.changedAt = Date.now();
    }
    return { weight: canary.weight, changedAt: canary.changedAt };
  }

  async promote(ref: ReleaseRef): Promise<PromoteResult> {
    this.record('promote', ref, { version: ref.version });
    this.requireRelease(ref.version);
    const t = this.track(ref.environment);
    if (!t.canary && t.stable === ref.version && t.stableDeployId === ref.deployId) {
      return { detail: `${ref.version} already stable` };
    }
    const canary = this.requireCanary(ref);
    if (canary.version !== ref.version) {
      throw new TargetConflict('version-mismatch', `deploy ${ref.deployId} runs canary ${canary.version}`);
    }
    t.previous = { version: t.stable, deployId: t.stableDeployId };
    t.stable = ref.version;
    t.stableDeployId = ref.deployId;
    delete t.canary;
    return { detail: `${ref.version} stable` };
  }

  async rollback(ref: RollbackRef): Promise<RollbackResult> {
    this.record('rollback', ref);
    const t = this.track(ref.environment);
    const { deployId, rollbackId } = ref;
    const done = (version: string, detail: string): RollbackResult => {
      const weightZeroAt = Date.now();
      (t.rollbacks ??= []).push({ deployId, rollbackId, version, weightZeroAt, detail });
      if (this.lostAnswers.delete('rollback')) throw new Error('the worker died before the answer reached Temporal');
      return { rolledBack: true, by: 'this-attempt', version, weightZeroAt, detail };
    };
    if (t.canary?.deployId === ref.deployId) {
      const { version } = t.canary;
      delete t.canary;
      return done(version, `canary ${version} stopped, back to ${t.stable}`);
    }
    if (t.stableDeployId === ref.deployId && t.previous) {
      const promoted = t.stable;
      t.stable = t.previous.version;
      t.stableDeployId = t.previous.deployId;
      delete t.previous;
      return done(promoted, `${promoted} replaced by ${t.stable}`);
    }
    const earlier = t.rollbacks?.find((r) => r.deployId === deployId && r.rollbackId === rollbackId);
    if (earlier) {
      const { version, weightZeroAt, detail } = earlier;
      return { rolledBack: true, by: 'earlier-attempt', version, weightZeroAt, detail };
    }
    return { rolledBack: false, detail: t.canary ? `canary belongs to ${t.canary.deployId}` : 'no canary' };
  }

  count(op: string, environment?: string): number {
    return this.calls.filter((c) => c.op === op && (!environment || c.environment === environment)).length;
  }

  /** Records the call, then throws the failure set for `op`, if any. */
  private record(op: string, ref: DeployRef, extra: { weight?: number; version?: string } = {}): void {
    this.calls.push({ op, environment: ref.environment, deployId: ref.deployId, ...extra });
    const failure = this.failures.get(op);
    if (failure) throw failure;
  }

  private track(environment: string): FakeTrack {
    const t = this.state.get(environment);
    if (!t) throw new InvalidTargetRequest(`unknown environment ${environment}`);
    return t;
  }

  private requireRelease(version: string): void {
    if (this.versions && !this.versions.includes(version)) throw new UnknownRelease(`no release ${version}`);
  }

  private requireCanary(ref: DeployRef): NonNullable<FakeTrack['canary']> {
    const { canary } = this.track(ref.environment);
    if (!canary) throw new TargetConflict('no-canary', `${ref.environment} has no canary`);
    this.requireOwner(canary, ref);
    return canary;
  }

  private requireOwner(canary: NonNullable<FakeTrack['canary']>, ref: DeployRef): void {
    if (canary.deployId !== ref.deployId) {
      throw new TargetConflict('canary-busy', `${ref.environment} has the canary of deploy ${canary.deployId}`);
    }
  }
}

/** Metrics that answer from a profile per version (and optionally per environment). */
export class FakeMetrics implements MetricsProvider {
  readonly queries: { environment: string; version: string }[] = [];

  constructor(private readonly profiles: Record<string, VersionProfile>) {}

  async window(query: MetricsQuery): Promise<MetricsWindow> {
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

/**
 * The activities' registries holding fakes, as the worker's hold real ones: `target` deploys `service` (hello, the
 * test config's service) and `metrics` answers as the `local` provider.
 */
export function fakeDeps(
  target: DeployTarget,
  metrics: MetricsProvider,
  service = 'hello',
  policy: DeployPolicy = TYPED_NAMES_POLICY,
): Pick<ActivityDeps, 'targets' | 'metrics' | 'policy'> {
  return {
    targets: new TargetRegistry({ [service]: target }),
    metrics: new MetricsRegistry({ local: metrics }),
    policy,
  };
}

/**
 * The policy of tests that are not about trust: typed names count, and each environment's approval is what the
 * request asks for. Tests of signed decisions pass a policy with keys instead.
 */
export const TYPED_NAMES_POLICY: DeployPolicy = {
  trustTypedNames: true,
  people: {},
  environments: {},
  source: 'test: typed names',
};
