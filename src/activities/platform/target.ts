import type { ReleaseRef, RollbackResult, StartReleaseResult, TrafficResult } from '../types';

/**
 * A deploy target: where releases run and traffic is shifted. Every call is idempotent, keyed by the
 * deploy id, because Temporal retries activities.
 */
export interface DeployTarget {
  /** Versions the target can run for a service (its artifact store). */
  releases(service: string): Promise<string[]>;
  /** The stable version per environment. */
  currentVersions(service: string): Promise<Record<string, string>>;
  /** Starts the new release beside the stable one, at 0 % traffic. */
  startRelease(ref: ReleaseRef): Promise<StartReleaseResult>;
  setWeight(ref: Omit<ReleaseRef, 'version'> & { weight: number }): Promise<TrafficResult>;
  /** Makes the new release the stable one at 100 % and retires the old. */
  promote(ref: ReleaseRef): Promise<void>;
  /** Traffic to 0 % first, then the new release is stopped. */
  rollback(ref: Omit<ReleaseRef, 'version'>): Promise<RollbackResult>;
}
