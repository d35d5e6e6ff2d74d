import { ApplicationFailure } from '@temporalio/activity';
import type { LocalPlatformClient } from '../../local-platform/client';
import { PlatformError } from '../../local-platform/client';
import type { MetricsWindow } from '../../shared/analysis';
import type { MetricsProvider } from '../metrics/provider';
import type { ReleaseRef, RollbackResult, StartReleaseResult, TrafficResult } from '../types';
import type { DeployTarget } from './target';

const ERROR_TYPES: Record<string, string> = {
  unknown_release: 'UnknownRelease',
  unknown_service: 'UnknownRelease',
  unknown_environment: 'InvalidRequest',
  canary_busy: 'PlatformConflict',
  already_stable: 'PlatformConflict',
  no_canary: 'PlatformConflict',
  version_mismatch: 'PlatformConflict',
  rolling_back: 'PlatformConflict',
  invalid_request: 'InvalidRequest',
};

/** Turns the platform's refusals into non-retryable failures; anything else stays retryable. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PlatformError && !err.retryable) {
      throw ApplicationFailure.nonRetryable(`${what}: ${err.message}`, ERROR_TYPES[err.code] ?? 'InvalidRequest');
    }
    throw err;
  }
}

/** The local platform as a deploy target: real processes behind a weighted router. */
export class LocalTarget implements DeployTarget {
  constructor(private readonly client: LocalPlatformClient) {}

  async releases(service: string): Promise<string[]> {
    return (await call('list releases', () => this.client.releases(service))).versions;
  }

  async currentVersions(service: string): Promise<Record<string, string>> {
    const state = await call('read state', () => this.client.state());
    return Object.fromEntries(
      state.environments.filter((t) => t.service === service).map((t) => [t.environment, t.stable.version]),
    );
  }

  async startRelease(ref: ReleaseRef): Promise<StartReleaseResult> {
    const track = await call(`start ${ref.service} ${ref.version} in ${ref.environment}`, () =>
      this.client.startCanary(ref),
    );
    const running = track.canary ?? track.stable;
    return { pid: running.pid, port: running.port, alreadyPromoted: track.alreadyPromoted };
  }

  async setWeight(ref: Omit<ReleaseRef, 'version'> & { weight: number }): Promise<TrafficResult> {
    const result = await call(`route ${ref.weight} % in ${ref.environment}`, () => this.client.setWeight(ref));
    return { weight: result.canary?.weight ?? ref.weight, changedAt: result.changedAt };
  }

  async promote(ref: ReleaseRef): Promise<void> {
    await call(`promote ${ref.version} in ${ref.environment}`, () => this.client.promote(ref));
  }

  async rollback(ref: Omit<ReleaseRef, 'version'>): Promise<RollbackResult> {
    const result = await call(`roll back ${ref.environment}`, () =>
      this.client.rollback({ environment: ref.environment, service: ref.service, deployId: ref.deployId }),
    );
    if (!result.rolledBack) return { rolledBack: false, detail: `nothing to roll back: ${result.reason}` };
    return {
      rolledBack: true,
      weightZeroAt: result.weightZeroAt,
      detail: `canary traffic 0 %, ${result.version} stopped, ${result.stable.version} serves`,
    };
  }
}

/** The local platform's own per-version figures, as recorded by its router. */
export class LocalMetrics implements MetricsProvider {
  constructor(private readonly client: LocalPlatformClient) {}

  async window(query: {
    environment: string;
    service: string;
    version: string;
    windowMs: number;
  }): Promise<MetricsWindow> {
    const stats = await this.client.stats({ ...query, windowMs: Math.max(1_000, query.windowMs) });
    return {
      version: stats.version,
      requests: stats.requests,
      errors: stats.errors,
      p95Ms: stats.p95Ms,
      p99Ms: stats.p99Ms,
    };
  }
}
