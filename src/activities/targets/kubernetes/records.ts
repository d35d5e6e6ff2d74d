/**
 * What opsflow keeps on the stable Deployment, the one object of a service that outlives every canary in each routing
 * mode, besides its image: why a deploy's promotion failed and was undone, and the rollbacks that took a canary out or
 * put a promoted image back, each with the rollback step's id. A retried rollback that finds nothing left reads the
 * record to answer as its first attempt did (whose answer was lost), instead of "nothing to roll back"; another
 * rollback of the same deploy id (a rolled-back change deployed again) finds no record of its own and claims nothing.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { z } from 'zod';
import { InvalidTargetRequest, type RollbackRef, type RollbackResult } from '../contract';
import { KubeConflict } from './client';
import { ANNOTATION } from './labels';
import type { KubeEnvironment } from './traffic';

/** How many rollbacks the record keeps, newest last: far more than can happen while one step is retried. */
export const ROLLBACKS_KEPT = 10;

const rollbackRecordSchema = z.object({
  deployId: z.string().min(1),
  /** The rollback step, the same on each of its retries. */
  rollbackId: z.string().min(1),
  /** The version taken out: the canary's, or the one a promotion had put on the stable Deployment. */
  version: z.string(),
  /** Epoch ms at which its traffic went to 0 (for a restored image: when the image was set back). */
  weightZeroAt: z.number(),
  /** The canary Deployment was deleted. */
  canary: z.boolean(),
  /** The image put back on the stable Deployment, when the rollback undid a promotion. */
  restored: z.string().optional(),
});
/** One rollback, written in the same patch as a restored image, or before the canary is deleted. */
export type RollbackRecord = z.infer<typeof rollbackRecordSchema>;

/** The rollbacks recorded on the stable Deployment, oldest first; an annotation someone broke reads as none. */
export function recordedRollbacks(stable: V1Deployment): RollbackRecord[] {
  const text = stable.metadata?.annotations?.[ANNOTATION.rollbacks];
  if (!text) return [];
  try {
    const parsed = z.array(rollbackRecordSchema).safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

/**
 * The annotation's value with `record` added: an older record of the same step is merged into it (a canary removed
 * after the promoted image was put back is one rollback), the oldest dropped beyond {@link ROLLBACKS_KEPT}.
 */
export function withRollback(stable: V1Deployment, record: RollbackRecord): string {
  const all = recordedRollbacks(stable);
  const same = all.find((r) => r.rollbackId === record.rollbackId && r.deployId === record.deployId);
  const merged = same?.restored && !record.restored ? { ...record, restored: same.restored } : record;
  return JSON.stringify([...all.filter((r) => r !== same), merged].slice(-ROLLBACKS_KEPT));
}

/** The annotation's value with the rollback `ref` putting `image` back in place of the version its deploy promoted. */
export function withRestore(stable: V1Deployment, ref: RollbackRef, image: string): string {
  const { deployId, rollbackId } = ref;
  const version = stable.metadata?.annotations?.[ANNOTATION.version] ?? '';
  return withRollback(stable, {
    deployId,
    rollbackId,
    version,
    weightZeroAt: Date.now(),
    canary: false,
    restored: image,
  });
}

/**
 * Adds `record` to the stable Deployment's rollback record in one write conditional on its resourceVersion, read
 * again on a conflict. Only metadata changes: no rollout.
 */
export async function recordRollback(env: KubeEnvironment, record: RollbackRecord): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const stable = await env.client.getDeployment(env.namespace, env.deployment, `${env.setting}.deployment`);
    if (!stable) throw new InvalidTargetRequest(`Deployment ${env.namespace}/${env.deployment} not found`);
    const annotations = { [ANNOTATION.rollbacks]: withRollback(stable, record) };
    const metadata = { resourceVersion: stable.metadata?.resourceVersion, annotations };
    try {
      await env.client.patchDeployment(env.namespace, env.deployment, { metadata }, 'merge');
      return;
    } catch (err) {
      if (!(err instanceof KubeConflict) || attempt >= 5) throw err;
    }
  }
}

/**
 * What a rollback step that found nothing of its deploy live answers, from the record: what its own earlier attempt
 * did, or that nothing was left to do, naming another rollback of the deploy if one took the release out.
 */
export function answerFromRecord(stable: V1Deployment, ref: RollbackRef): RollbackResult {
  const records = recordedRollbacks(stable).filter((r) => r.deployId === ref.deployId);
  const own = records.find((r) => r.rollbackId === ref.rollbackId);
  if (own) {
    const { version, weightZeroAt } = own;
    return { rolledBack: true, by: 'earlier-attempt', version, weightZeroAt, detail: describe(own) };
  }
  const other = records.at(-1);
  const before = other
    ? `: another rollback did ${describe(other)} at ${new Date(other.weightZeroAt).toISOString()}`
    : '';
  return { rolledBack: false, detail: `nothing of ${ref.deployId} runs in ${ref.environment}${before}` };
}

/** What a recorded rollback did, for people. */
function describe(record: RollbackRecord): string {
  const done = [
    record.canary && `canary ${record.version} at 0 % and deleted`,
    record.restored && `stable image back to ${record.restored}`,
  ];
  return done.filter(Boolean).join('; ');
}

/**
 * Why `deployId`'s promotion failed and was undone (by the promotion itself, not a rollback), when the stable
 * Deployment says it was.
 */
export function promotionFailure(stable: V1Deployment, deployId: string): string | undefined {
  const text = stable.metadata?.annotations?.[ANNOTATION.promotionFailed];
  if (!text) return undefined;
  try {
    const failed = JSON.parse(text) as { deployId?: string; reason?: string };
    return failed.deployId === deployId ? `${failed.reason}; undone before` : undefined;
  } catch {
    return undefined;
  }
}
