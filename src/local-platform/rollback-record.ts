/**
 * What a track's event log says of a deploy's rollback, so a rollback request that finds nothing left can tell a retry
 * (an earlier request of the same rollback step took the release out, and its answer was lost) from another rollback
 * of the same deploy id, or from a deploy that had nothing here. The log is the platform's own record, kept per track
 * (service and environment) with each event's deploy id and, on `rolled-back`, the rollback step's id; it is persisted
 * in state.json and trimmed to its newest events.
 */
import type { PlatformEvent, PlatformEventKind } from './api';

/** This deploy's last rollback, as its events tell it. */
export interface RollbackRecord {
  /** The version taken out. */
  version: string;
  /** When it stopped getting traffic. */
  weightZeroAt: number;
  /** The stable release brought back, when the rollback undid a promotion. */
  restoredVersion: string | null;
  /** The rollback step that did it, when its request named one. */
  rollbackId: string | undefined;
}

/** Events that begin or end a deploy's release on a track: the newest of them says where the deploy's release stands. */
const LIFECYCLE: ReadonlySet<PlatformEventKind> = new Set([
  'canary-started',
  'promoted',
  'rolled-back',
  'canary-stopped',
  'stable-restored',
  'canary-lost',
]);
const ENDED_BY_ROLLBACK: ReadonlySet<PlatformEventKind> = new Set(['rolled-back', 'canary-stopped', 'stable-restored']);

/**
 * The rollback of `deployId` that the log shows as the last thing to happen to its release on this track, or undefined
 * when its last such event is something else (started again, promoted, lost in a restart) or the log holds none.
 */
export function lastRollback(events: readonly PlatformEvent[], deployId: string): RollbackRecord | undefined {
  const own = events.filter((e) => e.deployId === deployId && LIFECYCLE.has(e.kind));
  const last = own.at(-1);
  if (!last || !ENDED_BY_ROLLBACK.has(last.kind)) return undefined;
  // A rollback writes `rolled-back` (at weight 0), then `canary-stopped` or `stable-restored`.
  const index = own.map((e) => e.kind).lastIndexOf('rolled-back');
  const rolledBack = own[index];
  if (!rolledBack?.version) return undefined;
  const restored = own.slice(index + 1).find((e) => e.kind === 'stable-restored');
  return {
    version: rolledBack.version,
    weightZeroAt: rolledBack.at,
    restoredVersion: restored?.version ?? null,
    rollbackId: rolledBack.rollbackId,
  };
}

/** The answer of a retried rollback whose earlier request did the work: what that request did, and that it did. */
export function answeredBefore(record: RollbackRecord) {
  const { version, weightZeroAt, restoredVersion } = record;
  return { rolledBack: true as const, version, weightZeroAt, restoredVersion, by: 'earlier-request' as const };
}

/** Why a rollback has nothing to do, for people: another rollback of its deploy took the release out, or nothing ran. */
export function rolledBackBefore(record: RollbackRecord | undefined): string {
  if (!record) return 'no canary';
  const at = new Date(record.weightZeroAt).toISOString();
  // A record without a step is from a platform that kept none: whose rollback it was is not known.
  const by = record.rollbackId === undefined ? 'a rollback' : 'another rollback';
  return `${record.version} was rolled back at ${at} by ${by} of this deploy`;
}
