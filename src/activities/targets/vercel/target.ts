import path from 'node:path';
import type { OpsflowConfig } from '../../../config/schema';
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
} from '../contract';
import { DEPLOYMENT_PAGE, VercelApi, VercelUnavailable, type Deployment } from './api';
import type { VercelEnvironment, VercelTargetConfig } from './config';
import { VercelRecord, type TrackRecord } from './record';
import { stagesOf, Traffic } from './traffic';

/** What the target gets besides its own config. */
export interface VercelTargetOptions {
  /** Each opsflow environment's canary step weights, which a rolling release takes as its stages. */
  canarySteps: Readonly<Record<string, readonly number[]>>;
  /** The environment the token is read from (default: the process's). */
  env?: NodeJS.ProcessEnv;
  /** What `record` is relative to (default: the process's working directory). */
  baseDir?: string;
  /** Bounds each call to Vercel. */
  timeoutMs?: number;
}

type OwnCanary = NonNullable<TrackRecord['canary']>;

/**
 * A deploy target on Vercel (`target.kind: vercel`). A release is a deployment the team's build made (opsflow never
 * builds), found by its meta `opsflow.version` or its git commit; starting it changes nothing on Vercel (a deployment
 * already runs, at 0 % of the environment's traffic), routing traffic is the environment's kind of release (see
 * traffic.ts), and which deploy owns what is the target's record (record.ts). Every share it reports is Vercel's.
 */
export class VercelTarget implements DeployTarget {
  readonly kind = 'vercel';
  private readonly api: VercelApi;
  private readonly record: VercelRecord;

  constructor(
    private readonly config: VercelTargetConfig,
    private readonly options: VercelTargetOptions,
  ) {
    this.api = new VercelApi(config, options.env, options.timeoutMs);
    this.record = new VercelRecord(path.resolve(options.baseDir ?? process.cwd(), config.record), config.project);
  }

  /** The target of opsflow.yaml's `target: { kind: vercel }`, with each environment's canary steps as stages. */
  static fromConfig(target: VercelTargetConfig, config: OpsflowConfig, timeoutMs?: number): VercelTarget {
    const canarySteps = Object.fromEntries(
      Object.entries(config.environments).map(([name, env]) => [name, env.canary.steps.map((s) => s.weight)]),
    );
    return new VercelTarget(target, { canarySteps, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  }

  /**
   * The versions every environment of the target can start: a READY deployment (a production one where the environment
   * is production) with that meta version or commit. A version some environment lacks is refused by the deploy's plan
   * before anything changes anywhere, not after staging took it.
   */
  async releases(): Promise<readonly string[]> {
    const environments = Object.values(this.config.environments);
    const production = environments.some((env) => env.release !== 'alias');
    const [any, productionOnly] = await Promise.all([
      this.api.deployments(),
      production ? this.api.deployments('production') : Promise.resolve([]),
    ]);
    const names = (list: Deployment[]) =>
      new Set(list.filter((d) => d.readyState === 'READY').flatMap((d) => [d.version, d.sha]));
    const everywhere = names(productionOnly);
    const anywhere = names([...any, ...productionOnly]);
    const scopes = environments.map((env) => (env.release === 'alias' ? anywhere : everywhere));
    const [first, ...rest] = scopes;
    const common = [...(first ?? [])].filter((v) => rest.every((scope) => scope.has(v)));
    return common.filter((v): v is string => v !== undefined);
  }

  async status(ref: TrackRef): Promise<TargetStatus> {
    const traffic = this.traffic(ref);
    const [track, view] = await Promise.all([this.record.read(key(ref)), traffic.view()]);
    if (track.canary) {
      const { canary } = track;
      const stable = canary.stable
        ? { version: canary.stable.version, deployId: promoterOf(track, canary.stable.deploymentId) }
        : null;
      const { weight } = traffic.shareOf(canary, view);
      return { stable, canary: { version: canary.version, weight, deployId: canary.deployId } };
    }
    const serving = view.serving ? await this.versionOf(ref, view.serving) : null;
    return {
      stable: serving && view.serving ? { version: serving, deployId: promoterOf(track, view.serving) } : null,
      canary: null,
    };
  }

  async startRelease(ref: ReleaseRef): Promise<StartResult> {
    const traffic = this.traffic(ref);
    const deployment = await this.deploymentOf(ref);
    const track = await this.record.read(key(ref));
    const view = await traffic.view();
    if (track.canary) {
      const canary = this.ownCanary(track, ref);
      if (canary.version !== ref.version) {
        throw new TargetConflict('version-mismatch', `${where(ref)}: this deploy's canary is ${canary.version}`);
      }
      const { weight } = traffic.shareOf(canary, view);
      return {
        alreadyPromoted: false,
        detail: `${canary.version} (${canary.deploymentId}) takes ${weight} % on Vercel`,
      };
    }
    const { promoted } = track;
    if (
      promoted?.deployId === ref.deployId &&
      promoted.version === ref.version &&
      view.serving === promoted.deploymentId
    ) {
      return { alreadyPromoted: true, detail: `${ref.version} already serves ${ref.environment} on Vercel` };
    }
    const stable = view.serving
      ? { version: await this.versionOf(ref, view.serving), deploymentId: view.serving }
      : null;
    if (stable && (stable.deploymentId === deployment.id || stable.version === ref.version)) {
      throw new TargetConflict('already-stable', `${where(ref)}: ${ref.version} already serves it`);
    }
    const busy = traffic.busyWith(view);
    if (busy) {
      throw new TargetConflict('canary-busy', `${where(ref)}: a rolling release of ${busy} is in progress on Vercel`);
    }
    const canary = {
      deployId: ref.deployId,
      version: ref.version,
      deploymentId: deployment.id,
      stable,
      startedAt: Date.now(),
    };
    await this.record.update(key(ref), (t) => (t.canary ? undefined : { ...t, canary }));
    const after = await this.record.read(key(ref));
    if (after.canary?.deployId !== ref.deployId) return this.startRelease(ref);
    return {
      alreadyPromoted: false,
      detail: `${ref.version} is ${deployment.url}, beside ${stable?.version ?? 'nothing'} at 0 %`,
    };
  }

  async setWeight(ref: WeightRef): Promise<WeightResult> {
    if (!isWeight(ref.weight)) {
      throw new InvalidTargetRequest(`route ${ref.weight} % in ${ref.environment}: use a whole number from 0 to 100`);
    }
    const traffic = this.traffic(ref);
    const canary = this.ownCanary(await this.record.read(key(ref)), ref);
    const share = await traffic.setWeight(canary, ref.weight);
    return share.changedAt === undefined
      ? { weight: share.weight }
      : { weight: share.weight, changedAt: share.changedAt };
  }

  async promote(ref: ReleaseRef): Promise<PromoteResult> {
    const traffic = this.traffic(ref);
    await this.deploymentOf(ref);
    const track = await this.record.read(key(ref));
    const { promoted } = track;
    if (promoted?.deployId === ref.deployId && promoted.version === ref.version) {
      return { detail: `${ref.version} serves ${ref.environment} on Vercel (promoted before)` };
    }
    const canary = this.ownCanary(track, ref);
    if (canary.version !== ref.version) {
      throw new TargetConflict('version-mismatch', `${where(ref)}: this deploy's canary is ${canary.version}`);
    }
    await traffic.promote(canary);
    await this.record.update(key(ref), (t) => ({
      ...t,
      canary: undefined,
      promoted: {
        deployId: ref.deployId,
        version: ref.version,
        deploymentId: canary.deploymentId,
        previous: canary.stable,
      },
    }));
    return { detail: `${ref.version} serves ${ref.environment} on Vercel at 100 %` };
  }

  async rollback(ref: RollbackRef): Promise<RollbackResult> {
    const traffic = this.traffic(ref);
    const track = await this.record.read(key(ref));
    const calledAt = Date.now();
    // The step is written down before Vercel is asked, so a retry after a lost answer knows its own work.
    const earlier = track.rollbacks.find((r) => r.deployId === ref.deployId && r.rollbackId === ref.rollbackId);
    if (track.canary?.deployId === ref.deployId) {
      const { canary } = track;
      const view = await traffic.view();
      const before = traffic.shareOf(canary, view).weight;
      if (!earlier) await this.noteRollback(ref, canary.version, calledAt);
      if (before > 0) await traffic.restore(canary.deploymentId, canary.stable, view);
      const share = traffic.shareOf(canary, await traffic.view());
      if (share.weight > 0) {
        throw new VercelUnavailable(`${where(ref)}: ${canary.deploymentId} still takes ${share.weight} % on Vercel`);
      }
      const changedAt = share.changedAt !== undefined && share.changedAt >= calledAt ? share.changedAt : Date.now();
      const weightZeroAt = before > 0 ? changedAt : (earlier?.at ?? calledAt);
      await this.finishRollback(ref, 'canary', weightZeroAt);
      return {
        rolledBack: true,
        by: before === 0 && earlier ? 'earlier-attempt' : 'this-attempt',
        version: canary.version,
        weightZeroAt,
        detail: `${canary.version} takes 0 % on Vercel, ${canary.stable?.version ?? 'nothing'} serves`,
      };
    }
    const { promoted } = track;
    if (promoted?.deployId === ref.deployId) {
      const view = await traffic.view();
      if (view.serving === promoted.deploymentId) {
        const busy = traffic.busyWith(view);
        if (busy) {
          throw new TargetConflict(
            'canary-busy',
            `${where(ref)}: a rolling release of ${busy} is in progress on Vercel`,
          );
        }
        if (!earlier) await this.noteRollback(ref, promoted.version, calledAt);
        await traffic.restore(promoted.deploymentId, promoted.previous, view);
        const weightZeroAt = Date.now();
        await this.finishRollback(ref, 'promoted', weightZeroAt);
        const back = promoted.previous?.version ?? 'nothing';
        const detail = `${promoted.version} replaced by ${back} on Vercel (instant rollback)`;
        return { rolledBack: true, by: 'this-attempt', version: promoted.version, weightZeroAt, detail };
      }
    }
    return rolledBackBefore(track, ref);
  }

  /** The deployment of `ref.version`: refused in one line when there is none, or it cannot serve yet. */
  private async deploymentOf(ref: ReleaseRef): Promise<Deployment> {
    const env = this.environment(ref);
    const production = env.release !== 'alias';
    const deployments = await this.api.deployments(production ? 'production' : undefined);
    const byMeta = deployments.filter((d) => d.version === ref.version);
    const matches = byMeta.length ? byMeta : deployments.filter((d) => d.sha === ref.version);
    // A newer build of the same version still running does not hide a READY one.
    const found = matches.find((d) => d.readyState === 'READY') ?? matches[0];
    if (!found) {
      throw new UnknownRelease(
        `${this.config.project} has no ${production ? 'production ' : ''}deployment with meta opsflow.version ` +
          `or git commit ${ref.version} among its newest ${DEPLOYMENT_PAGE}: deploy it with --meta opsflow.version=${ref.version}`,
      );
    }
    if (found.readyState !== 'READY') {
      throw new InvalidTargetRequest(
        `${ref.service} ${ref.version} is Vercel deployment ${found.id}, which is ${found.readyState}, not READY: ` +
          'wait for its build to finish, or deploy another version',
      );
    }
    return found;
  }

  /** The version a deployment is (its meta, else its commit, else its id). */
  private async versionOf(ref: TrackRef, deploymentId: string): Promise<string> {
    const production = this.environment(ref).release !== 'alias';
    const found = (await this.api.deployments(production ? 'production' : undefined)).find(
      (d) => d.id === deploymentId,
    );
    return found?.version ?? found?.sha ?? deploymentId;
  }

  private async noteRollback(ref: RollbackRef, version: string, at: number): Promise<void> {
    const entry = { deployId: ref.deployId, version, rollbackId: ref.rollbackId, at };
    await this.record.update(key(ref), (t) => ({ ...t, rollbacks: [...t.rollbacks, entry] }));
  }

  /** The release is out: the record forgets it, and the step's entry takes the time its traffic went to 0. */
  private async finishRollback(ref: RollbackRef, what: 'canary' | 'promoted', at: number): Promise<void> {
    await this.record.update(key(ref), (t) => ({
      ...t,
      [what]: t[what]?.deployId === ref.deployId ? undefined : t[what],
      rollbacks: t.rollbacks.map((r) =>
        r.deployId === ref.deployId && r.rollbackId === ref.rollbackId ? { ...r, at } : r,
      ),
    }));
  }

  /** This deploy's canary in the record, or the conflict that says why there is none to act on. */
  private ownCanary(track: TrackRecord, ref: DeployRef): OwnCanary {
    if (!track.canary) throw new TargetConflict('no-canary', `${where(ref)}: no release of ${ref.deployId} runs`);
    if (track.canary.deployId !== ref.deployId) {
      throw new TargetConflict(
        'canary-busy',
        `${where(ref)}: the release is deploy ${track.canary.deployId}'s, not ${ref.deployId}'s`,
      );
    }
    return track.canary;
  }

  private environment(ref: TrackRef): VercelEnvironment {
    const env = Object.hasOwn(this.config.environments, ref.environment)
      ? this.config.environments[ref.environment]
      : undefined;
    if (!env) {
      const known = Object.keys(this.config.environments).join(', ');
      throw new InvalidTargetRequest(
        `${ref.service} has no Vercel environment ${ref.environment}: its target defines ${known}`,
      );
    }
    return env;
  }

  private traffic(ref: TrackRef): Traffic {
    const env = this.environment(ref);
    return new Traffic(this.api, env, stagesOf(this.options.canarySteps[ref.environment] ?? []));
  }
}

/**
 * Nothing of this deploy serves: the record tells whether an earlier attempt of this rollback step took it out (a
 * retry whose first answer was lost), another rollback of the deploy did, or nothing ran.
 */
function rolledBackBefore(track: TrackRecord, step: RollbackRef): RollbackResult {
  const nothing = `nothing of ${step.deployId} serves ${step.environment} on Vercel`;
  const own = track.rollbacks.find((r) => r.deployId === step.deployId && r.rollbackId === step.rollbackId);
  if (own) {
    const detail = `${own.version} was rolled back at ${new Date(own.at).toISOString()}`;
    return { rolledBack: true, by: 'earlier-attempt', version: own.version, weightZeroAt: own.at, detail };
  }
  const other = track.rollbacks.filter((r) => r.deployId === step.deployId).at(-1);
  return { rolledBack: false, detail: other ? `${nothing}: another rollback took ${other.version} out` : nothing };
}

/** The deploy that promoted the deployment, when the record says one did. */
function promoterOf(track: TrackRecord, deploymentId: string): string | null {
  return track.promoted?.deploymentId === deploymentId ? track.promoted.deployId : null;
}

function key(ref: TrackRef): string {
  return `${ref.service}/${ref.environment}`;
}

function where(ref: TrackRef): string {
  return `${ref.service} in ${ref.environment}`;
}
