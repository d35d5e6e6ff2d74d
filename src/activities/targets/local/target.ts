import type { Track } from '../../../local-platform/api';
import { PlatformError, type LocalPlatformClient } from '../../../local-platform/client';
import {
  InvalidTargetRequest,
  isWeight,
  TargetConflict,
  UnknownRelease,
  type ConflictReason,
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
} from '../contract';

/** The platform's 409 codes, as the contract's conflict reasons. */
const CONFLICTS: Record<string, ConflictReason> = {
  canary_busy: 'canary-busy',
  already_stable: 'already-stable',
  no_canary: 'no-canary',
  version_mismatch: 'version-mismatch',
  rolling_back: 'rolling-back',
};

/** The platform's refusals as the contract's typed errors; anything a retry may fix is rethrown as it is. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof PlatformError) || err.retryable) throw err;
    const message = `${what}: ${err.message}`;
    const reason = CONFLICTS[err.code];
    if (reason) throw new TargetConflict(reason, message);
    if (err.code === 'unknown_release' || err.code === 'unknown_service') throw new UnknownRelease(message);
    throw new InvalidTargetRequest(message);
  }
}

/** The local platform as a deploy target: real processes behind a weighted router (`target.kind: local`). */
export class LocalTarget implements DeployTarget {
  readonly kind = 'local';

  constructor(private readonly client: LocalPlatformClient) {}

  async releases(service: string): Promise<string[]> {
    return (await call(`list releases of ${service}`, () => this.client.releases(service))).versions;
  }

  async status(ref: TrackRef): Promise<TargetStatus> {
    const { environments } = await call('read state', () => this.client.state());
    const track = environments.find((t) => t.environment === ref.environment && t.service === ref.service);
    if (!track) {
      const known = environments.map((t) => `${t.service} in ${t.environment}`).join(', ');
      throw new InvalidTargetRequest(
        `the local platform runs no ${ref.service} in ${ref.environment}: it runs ${known || 'nothing'}`,
      );
    }
    return {
      stable: { version: track.stable.version, deployId: track.stable.deployId },
      canary: track.canary && {
        version: track.canary.version,
        weight: track.canary.weight,
        deployId: track.canary.deployId,
      },
    };
  }

  async startRelease(ref: ReleaseRef): Promise<StartResult> {
    const track = await call(`start ${ref.service} ${ref.version} in ${ref.environment}`, () =>
      this.client.startCanary(ref),
    );
    if (track.alreadyPromoted) {
      return { alreadyPromoted: true, detail: `${ref.version} already runs as stable (${runsAt(track.stable)})` };
    }
    const canary = track.canary;
    return {
      alreadyPromoted: false,
      detail: canary
        ? `${canary.version} runs beside ${track.stable.version} at ${canary.weight} % (${runsAt(canary)})`
        : `${ref.version} started`,
    };
  }

  async setWeight(ref: WeightRef): Promise<WeightResult> {
    if (!isWeight(ref.weight)) {
      throw new InvalidTargetRequest(`route ${ref.weight} % in ${ref.environment}: use a whole number from 0 to 100`);
    }
    const result = await call(`route ${ref.weight} % in ${ref.environment}`, () => this.client.setWeight(ref));
    return { weight: result.canary?.weight ?? ref.weight, changedAt: result.changedAt };
  }

  async promote(ref: ReleaseRef): Promise<PromoteResult> {
    const track = await call(`promote ${ref.version} in ${ref.environment}`, () => this.client.promote(ref));
    return { detail: `${track.stable.version} is stable at 100 % (${runsAt(track.stable)})` };
  }

  async rollback(ref: RollbackRef): Promise<RollbackResult> {
    const { environment, service, deployId, rollbackId } = ref;
    const result = await call(`roll back ${ref.environment}`, () =>
      this.client.rollback({ environment, service, deployId, rollbackId }),
    );
    if (!result.rolledBack) return { rolledBack: false, detail: `nothing to roll back: ${result.reason}` };
    return {
      rolledBack: true,
      // The platform's event log tells a retry whose earlier request (of this rollbackId) did the rollback.
      by: result.by === 'earlier-request' ? 'earlier-attempt' : 'this-attempt',
      version: result.version,
      weightZeroAt: result.weightZeroAt,
      detail: result.restoredVersion
        ? `${result.version} stopped, ${result.restoredVersion} restored as stable`
        : `canary traffic 0 %, ${result.version} stopped, ${result.stable.version} serves`,
    };
  }
}

/** Where a release runs, for people. */
function runsAt(release: Pick<Track['stable'], 'pid' | 'port'>): string {
  return `pid ${release.pid}, port ${release.port}`;
}
