/**
 * How traffic moves in one environment, by what a release is there: an alias switched at once, production promoted
 * at once (blue-green, instant rollback), or production through a rolling release whose stages opsflow approves one
 * by one. Every change is read back from Vercel before it is reported.
 */
import { InvalidTargetRequest, TargetConflict } from '../contract';
import type { RollingRelease, VercelApi } from './api';
import { VercelUnavailable } from './api';
import type { VercelEnvironment } from './config';
import type { RecordedRelease } from './record';

/** What serves an environment now, as Vercel says. */
export interface View {
  /** The deployment the alias or the production domain points at (null: none). */
  serving: string | null;
  /** The project's latest rolling release (rolling-release environments only). */
  rollingRelease: RollingRelease | null;
}

/** A canary as the traffic code needs it: its deployment, and what was stable when it started. */
export interface Canary {
  deploymentId: string;
  stable: RecordedRelease | null;
  startedAt: number;
}

export interface Share {
  weight: number;
  changedAt?: number;
}

/** The traffic of one environment. */
export class Traffic {
  constructor(
    private readonly api: VercelApi,
    private readonly env: VercelEnvironment,
    /** The rolling release's stages: the environment's canary steps, then 100. */
    private readonly stages: readonly number[],
  ) {}

  /** What serves now. */
  async view(): Promise<View> {
    const host = this.env.release === 'alias' ? this.env.alias : this.env.domain;
    const [serving, rollingRelease] = await Promise.all([
      this.api.aliasTarget(host),
      this.env.release === 'rolling-release' ? this.api.rollingRelease() : Promise.resolve(null),
    ]);
    return { serving, rollingRelease };
  }

  /** The canary's share of traffic in `view`, and when it took effect where Vercel says. */
  shareOf(canary: Canary, view: View): Share {
    const rr = view.rollingRelease?.canaryDeployment?.id === canary.deploymentId ? view.rollingRelease : null;
    if (rr?.state === 'ACTIVE') return { weight: percentageOf(rr), changedAt: rr.updatedAt };
    if (view.serving === canary.deploymentId) return rr ? { weight: 100, changedAt: rr.updatedAt } : { weight: 100 };
    return { weight: 0, changedAt: rr ? rr.updatedAt : canary.startedAt };
  }

  /** A rolling release of another deployment in progress, which a new release must wait for. */
  busyWith(view: View): string | undefined {
    const rr = view.rollingRelease;
    return rr?.state === 'ACTIVE' ? (rr.canaryDeployment?.id ?? 'another deployment') : undefined;
  }

  /** Routes `weight` % to the canary and reads it back. */
  async setWeight(canary: Canary, weight: number): Promise<Share> {
    const view = await this.view();
    const now = this.shareOf(canary, view);
    if (now.weight === weight) return now;
    if (weight === 0) {
      await this.restore(canary.deploymentId, canary.stable, view);
    } else if (this.env.release !== 'rolling-release') {
      if (weight !== 100) {
        const how = this.env.release === 'alias' ? `alias ${this.env.alias}` : 'promotion';
        throw new InvalidTargetRequest(
          `a Vercel ${how} switches all traffic at once: route 0 or 100 %, not ${weight} % (use blue-green or direct)`,
        );
      }
      await this.pointAt(canary.deploymentId);
    } else {
      await this.ramp(canary, weight, view, now.weight);
    }
    const after = this.shareOf(canary, await this.view());
    if (after.weight !== weight) {
      throw new VercelUnavailable(
        `Vercel does not show ${weight} % on ${canary.deploymentId} yet: it shows ${after.weight} %`,
      );
    }
    return after;
  }

  /** Makes the canary serve all traffic: completes its rolling release, or points the alias or production at it. */
  async promote(canary: Canary): Promise<void> {
    const view = await this.view();
    if (this.env.release === 'rolling-release') {
      if (view.serving !== canary.deploymentId) {
        const rr = view.rollingRelease;
        const active = rr?.state === 'ACTIVE' && rr.canaryDeployment?.id === canary.deploymentId;
        if (!active) await this.startRollingRelease(canary.deploymentId, view);
        await this.api.completeRollingRelease(canary.deploymentId);
      }
    } else if (view.serving !== canary.deploymentId) {
      await this.pointAt(canary.deploymentId);
    }
    const after = await this.view();
    if (after.serving !== canary.deploymentId) {
      throw new VercelUnavailable(`Vercel does not show ${canary.deploymentId} serving yet: ${after.serving} does`);
    }
  }

  /**
   * Takes `leaving` out and puts `release` back serving: aborts `leaving`'s rolling release in progress (Vercel's
   * instant rollback to the deployment serving beside it, as `vercel rolling-release abort` does), or points the
   * alias or production back. Another deployment's rolling release in progress is not aborted for it: a conflict.
   */
  async restore(leaving: string, release: RecordedRelease | null, view: View): Promise<void> {
    const rr = view.rollingRelease;
    if (rr?.state === 'ACTIVE') {
      const canary = rr.canaryDeployment?.id;
      if (canary !== leaving) {
        throw new TargetConflict(
          'canary-busy',
          `a rolling release of ${canary} is in progress on Vercel: it goes first`,
        );
      }
      if (rr.currentDeployment) {
        await this.api.rollbackTo(rr.currentDeployment.id, 'opsflow: the canary failed its judgement');
        return;
      }
    }
    if (!release) {
      throw new InvalidTargetRequest('nothing served here before this release: there is nothing to put back');
    }
    if (view.serving === release.deploymentId) return;
    if (this.env.release === 'alias') await this.api.assignAlias(release.deploymentId, this.env.alias);
    else await this.api.rollbackTo(release.deploymentId, `opsflow: back to ${release.version}`);
  }

  private async pointAt(deploymentId: string): Promise<void> {
    if (this.env.release === 'alias') await this.api.assignAlias(deploymentId, this.env.alias);
    else await this.api.promote(deploymentId);
  }

  /** Approves stages of the canary's rolling release (starting it first) until it is at `weight` %. */
  private async ramp(canary: Canary, weight: number, view: View, from: number): Promise<void> {
    if (weight < from) {
      throw new InvalidTargetRequest(
        `a Vercel rolling release only moves forward: ${canary.deploymentId} is at ${from} %, not back to ${weight} % (0 aborts it)`,
      );
    }
    let rr = view.rollingRelease;
    if (!(rr?.state === 'ACTIVE' && rr.canaryDeployment?.id === canary.deploymentId)) {
      if (!this.stages.includes(weight)) throw this.notAStage(weight, this.stages);
      rr = await this.startRollingRelease(canary.deploymentId, view);
    }
    for (let step = 0; step <= this.stages.length && rr; step++) {
      const at = percentageOf(rr);
      if (at === weight || rr.state !== 'ACTIVE') return;
      const next = rr.nextStage;
      if (at > weight || !next || next.targetPercentage > weight) {
        throw this.notAStage(
          weight,
          rr.stages.map((s) => s.targetPercentage),
        );
      }
      await this.api.approveStage(canary.deploymentId, next.index);
      rr = await this.api.rollingRelease();
    }
  }

  /** Sets the project's stages (manual approval) and starts the deployment's rolling release at the first. */
  private async startRollingRelease(deploymentId: string, view: View): Promise<RollingRelease | null> {
    const busy = this.busyWith(view);
    if (busy && busy !== deploymentId) {
      throw new TargetConflict('canary-busy', `a rolling release of ${busy} is in progress on Vercel`);
    }
    await this.api.configureRollingRelease(this.stages);
    await this.api.startRollingRelease(deploymentId);
    return this.api.rollingRelease();
  }

  private notAStage(weight: number, stages: readonly number[]): InvalidTargetRequest {
    return new InvalidTargetRequest(
      `${weight} % is not a stage of the Vercel rolling release (${stages.join(', ')} %): ` +
        `keep the environment's configured canary steps, which opsflow sets as its stages`,
    );
  }
}

/** The canary's share in an active rolling release. */
function percentageOf(rr: RollingRelease): number {
  if (rr.state === 'COMPLETE') return 100;
  if (rr.state === 'ABORTED') return 0;
  return rr.currentCanaryPercentage ?? rr.activeStage?.targetPercentage ?? 0;
}

/** The rolling release's stages for an environment's canary steps: those below 100, rising, then 100. */
export function stagesOf(weights: readonly number[]): number[] {
  const below = [...new Set(weights.filter((w) => w > 0 && w < 100))].sort((a, b) => a - b);
  return [...below, 100];
}
