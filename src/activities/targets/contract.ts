/**
 * The deploy target contract: what the deploy workflow needs from anything that can run two versions of a service
 * and split traffic between them. Each kind (`local`, and later `kubernetes`, `command`) implements it in a folder of
 * its own; `registry.ts` picks one per service from opsflow.yaml; `test/helpers/target-contract.ts` checks the rules.
 */
import type { DoneBy } from '../../shared/deploy';
import type { MetricLabels } from '../metrics/contract';

/** One service in one environment. */
export interface TrackRef {
  environment: string;
  service: string;
}

/** What one deploy owns in one environment: every change is keyed by `deployId` (the deploy workflow's id). */
export interface DeployRef extends TrackRef {
  deployId: string;
}

/** One release of a service in one environment, owned by one deploy. */
export interface ReleaseRef extends DeployRef {
  version: string;
}

/**
 * One rollback step of one deploy. `rollbackId` is the same on every retry of the step and differs for any other
 * rollback (the activity gives its Temporal run id and activity id): the record a target keeps of a rollback carries
 * it, so a retry knows the work of its own earlier attempt from that of another rollback of the same deploy id (a
 * rolled-back change may be deployed again under its id).
 */
export interface RollbackRef extends DeployRef {
  rollbackId: string;
}

/** A traffic share for the deploy's new release: a whole percentage, 0 to 100. */
export interface WeightRef extends DeployRef {
  weight: number;
}

export interface StartResult {
  /** This deploy already promoted the version here: nothing was started and there is nothing to ramp. */
  alreadyPromoted: boolean;
  /** For people: what runs now (the workflow shows it, never parses it). */
  detail: string;
}

export interface WeightResult {
  /** The share the new release gets now. */
  weight: number;
  /** Epoch ms at which this weight took effect (unchanged when the same weight is set again), when the target knows. */
  changedAt?: number;
  /** True when the target splits by replica counts (no traffic router): the share is near `weight`, not exact. */
  approximate?: boolean;
}

export interface PromoteResult {
  detail: string;
}

export interface RollbackResult {
  /**
   * True when this rollback step took this deploy's release out here: in this call, or in an earlier attempt of the
   * step (see `by`). False when nothing of this deploy is live here and the step's record shows no earlier attempt did
   * anything (or, `by: 'unknown'`, the target cannot tell): not an error.
   */
  rolledBack: boolean;
  /**
   * Who did it, from the target's own record, never from the caller: `this-attempt` (this call); `earlier-attempt` (an
   * earlier call with the same rollbackId did, and its answer was lost, as when the worker running it died: this call
   * found nothing left and changed nothing); `unknown` (nothing of this deploy is live, and the target keeps no record
   * that tells whether an earlier attempt took it out or nothing ran). Absent with `rolledBack: false` when the record
   * shows no rollback by this step, and in results recorded before this field.
   */
  by?: DoneBy;
  /** The version taken out, when the target knows. */
  version?: string;
  /** Epoch ms at which the new release stopped receiving traffic, when the target knows (an earlier call's time). */
  weightZeroAt?: number;
  /** For people: what was done or found, without who did it (that is `by`, rendered beside it). */
  detail: string;
}

/** What runs in one environment now; `deployId` is the deploy that put it there (null: not opsflow, or unknown). */
export interface TargetStatus {
  stable: { version: string; deployId: string | null } | null;
  canary: { version: string; weight: number; deployId: string } | null;
  /** True when the target splits by replica counts (no traffic router): the canary's share is near its weight. */
  approximate?: boolean;
}

/**
 * A deploy target.
 *
 * Every operation is idempotent, keyed by the deploy id, because Temporal retries activities: a retry of a call that
 * already took effect answers as the first call did and changes nothing. At most one new release (the "canary", also
 * green in blue-green) runs beside the stable one per service and environment, owned by one deploy. The rules:
 *
 * - `startRelease` starts `version` beside the stable release at 0 % traffic. The same deploy asking again gets the
 *   running release as it is (its weight untouched). If this deploy already promoted `version` here, it answers
 *   `alreadyPromoted: true` and starts nothing. A version that is stable by another deploy (or initially), another
 *   deploy's release in the way, or this deploy's release of another version: {@link TargetConflict}.
 * - `setWeight` routes `weight` % to the deploy's release; the same weight again changes nothing (`changedAt` stays).
 *   No release of this deploy (never started, promoted, rolled back or being rolled back), or another deploy's:
 *   {@link TargetConflict}. The rollback saga relies on this: `setWeight(0)` failing with TargetConflict means
 *   "nothing of this deploy takes traffic". A weight that is not a whole number from 0 to 100:
 *   {@link InvalidTargetRequest}.
 * - `promote` makes the deploy's release the stable one at 100 % and retires the old stable release, remembering it so
 *   the promotion can be rolled back. Promoting again what this deploy promoted is a no-op. Nothing of this deploy to
 *   promote: {@link TargetConflict}.
 * - `rollback` undoes what this deploy changed: its release goes to 0 % traffic first, then is stopped; a version this
 *   deploy promoted is replaced by the previous stable release. Nothing of this deploy live here answers
 *   `rolledBack: false`, never an error, and never touches another deploy's release — unless the target's own record
 *   shows that an earlier call of the same rollback step (its `rollbackId`) took it out (a retry whose first attempt
 *   did the work): then it answers as that call did, `rolledBack: true` with `by: 'earlier-attempt'`. Another
 *   rollback of the same deploy (another rollbackId) is not this step's work: `rolledBack: false`. A target that keeps
 *   no such record says `by: 'unknown'` rather than claim either. The record is the target's own (a platform's event
 *   log, an annotation on what survives the canary, what the status command prints), kept per environment.
 * - A version the target does not hold: {@link UnknownRelease}. An environment or argument the target cannot act on:
 *   {@link InvalidTargetRequest}. These three errors are final; anything else a target throws is taken as transient
 *   and retried, so a target must not throw a plain Error for what a retry cannot fix.
 */
export interface DeployTarget {
  /** The kind in opsflow.yaml (`target.kind`), for messages. */
  readonly kind: string;
  /**
   * Versions the target can run for the service (its artifact store), or `undefined` when it cannot tell (a container
   * registry it does not list): then no release check is made before the deploy starts.
   */
  releases(service: string): Promise<readonly string[] | undefined>;
  /** What runs in one environment now. */
  status(ref: TrackRef): Promise<TargetStatus>;
  /** Where a version's metrics are in the target's terms (kubernetes: namespace, Deployment), for PromQL templates. */
  metricLabels?(ref: TrackRef, version: string): Promise<MetricLabels>;
  startRelease(ref: ReleaseRef): Promise<StartResult>;
  setWeight(ref: WeightRef): Promise<WeightResult>;
  promote(ref: ReleaseRef): Promise<PromoteResult>;
  rollback(ref: RollbackRef): Promise<RollbackResult>;
}

/** Why a target refused an operation that conflicts with what runs (data for programs; the message is for people). */
export type ConflictReason =
  /** Another deploy's release runs beside the stable one. */
  | 'canary-busy'
  /** This deploy's release is another version. */
  | 'version-mismatch'
  /** The version already runs as the stable release, not by this deploy. */
  | 'already-stable'
  /** This deploy has no release here to act on. */
  | 'no-canary'
  /** This deploy's release is being rolled back. */
  | 'rolling-back';

/** The base of the errors a target throws for what a retry cannot fix. */
export abstract class TargetError extends Error {}

/** The request is valid but conflicts with what runs; see {@link ConflictReason}. */
export class TargetConflict extends TargetError {
  override name = 'TargetConflict';

  constructor(
    readonly reason: ConflictReason,
    message: string,
  ) {
    super(message);
  }
}

/** The target holds no such release of the service. */
export class UnknownRelease extends TargetError {
  override name = 'UnknownRelease';
}

/** A request the target cannot act on as asked: an unknown environment or service, a weight out of range. */
export class InvalidTargetRequest extends TargetError {
  override name = 'InvalidTargetRequest';
}

/** True for a whole percentage from 0 to 100. */
export function isWeight(weight: number): boolean {
  return Number.isInteger(weight) && weight >= 0 && weight <= 100;
}

/**
 * The stable version of `service` in each of `environments` (those where something runs), as the planner and the
 * workflow's rollback read them.
 */
export async function stableVersions(
  target: DeployTarget,
  service: string,
  environments: readonly string[],
): Promise<Record<string, string>> {
  const statuses = await Promise.all(
    environments.map(async (environment) => [environment, await target.status({ environment, service })] as const),
  );
  return Object.fromEntries(
    statuses.flatMap(([environment, s]) => (s.stable ? [[environment, s.stable.version]] : [])),
  );
}
