import type { V1Deployment } from '@kubernetes/client-node';
import type { OpsflowConfig } from '../../../config/schema';
import type { MetricLabels } from '../../metrics/contract';
import {
  InvalidTargetRequest,
  isWeight,
  TargetConflict,
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
import { KubeClient, KubeConflict, type KubeClientOptions } from './client';
import { CANARY_SUFFIX, type ClusterConfig, type KubernetesTargetConfig } from './config';
import { ANNOTATION, deployHash, imageFor, imageProblem, LABEL, labelValue, versionOf } from './labels';
import { answerFromRecord, promotionFailure, recordRollback, withRestore } from './records';
import { activityTimeoutMs, rolloutState, waitForRollout, type WaitOutcome } from './rollout';
import {
  blueGreenRouter,
  httpRouteRouter,
  replicaRatioRouter,
  routeWeight,
  type KubeEnvironment,
  type Router,
} from './traffic';

/** A rollout that cannot complete: its pods never became ready within the progress deadline. Final. */
export class RolloutFailed extends InvalidTargetRequest {
  override name = 'RolloutFailed';
}

/** What the target needs besides its own `target:` block. */
export interface KubernetesTargetOptions extends KubeClientOptions {
  /**
   * How long one operation may wait for pods before it answers with a retryable error (its activity is retried and
   * the wait goes on). Default: the current activity's start-to-close timeout less 5 s, or 20 s outside an activity.
   */
  waitMs?: number;
  /** How often a wait polls the cluster (default 250 ms). */
  pollMs?: number;
  /** Each environment's strategy in opsflow.yaml, so a blue-green environment without Services is refused early. */
  strategies?: Readonly<Record<string, string>>;
}

/** The stable Deployment and this service's canary Deployment in one environment, as read now. */
interface Observed {
  stable: V1Deployment;
  /** Null when there is none, or it is being deleted. */
  canary: V1Deployment | null;
}

/** Who owns a canary Deployment and what it runs, from its annotations. */
interface CanaryFacts {
  deployId: string;
  version: string;
  hash: string;
  rollingBack: boolean;
}

/**
 * A Kubernetes deploy target (`target.kind: kubernetes`). Per environment the service is a Deployment (stable); a new
 * release runs beside it as `<deployment>-canary`, a clone with the new image, labelled and annotated with the deploy
 * that owns it. Its traffic is set by one of the routers of traffic.ts. Promotion sets the stable Deployment's image
 * (remembering the one it replaces), waits for the rollout as `kubectl rollout status` does, then routes everything to
 * stable and deletes the canary; a rollout that fails is undone. Rollback takes the canary's traffic to 0 first, then
 * deletes it, restores a promoted image, and waits for the stable Deployment to be available.
 *
 * Every operation reads the cluster first and does only what is missing, so a retried activity finds what the first
 * attempt made. Waits never outlast the activity: a wait still going ends in a retryable error that says what is
 * pending, and the retry goes on waiting.
 */
export class KubernetesTarget implements DeployTarget {
  readonly kind = 'kubernetes';
  private readonly clients = new Map<string, KubeClient>();

  constructor(
    private readonly config: KubernetesTargetConfig,
    private readonly options: KubernetesTargetOptions = {},
  ) {}

  /** The target of one service, as opsflow.yaml configures it; `timeoutMs` bounds each request (the CLI's checks). */
  static fromConfig(target: KubernetesTargetConfig, config: OpsflowConfig, timeoutMs?: number): KubernetesTarget {
    const strategies = Object.fromEntries(Object.entries(config.environments).map(([name, e]) => [name, e.strategy]));
    return new KubernetesTarget(target, {
      strategies,
      ...(timeoutMs !== undefined && { requestTimeoutMs: timeoutMs }),
    });
  }

  /** A container registry is not listed: the release is checked when its pods start. */
  async releases(): Promise<undefined> {
    return undefined;
  }

  async status(ref: TrackRef): Promise<TargetStatus> {
    const env = this.environment(ref);
    const now = await this.observe(env);
    const canary = this.facts(env, now.canary);
    const router = this.router(env);
    const stable = this.stableRelease(env, now.stable);
    const status: TargetStatus = {
      stable: { version: stable.version, deployId: stable.deployId },
      canary:
        canary && now.canary
          ? {
              version: canary.version,
              weight: (await router.current(env, now.canary, canary.hash)).weight,
              deployId: canary.deployId,
            }
          : null,
    };
    if (router.approximate) status.approximate = true;
    return status;
  }

  /**
   * Where a version's metrics are: the environment's namespace, and the Deployment that runs the version (the canary's
   * while it runs that version, else the stable one), for `{{namespace}}` and `{{workload}}` in PromQL templates.
   */
  async metricLabels(ref: TrackRef, version: string): Promise<MetricLabels> {
    const env = this.environment(ref);
    const canary = await env.client.getDeployment(env.namespace, env.canaryDeployment);
    const runsIt =
      canary?.metadata?.annotations?.[ANNOTATION.version] === version && !canary.metadata.deletionTimestamp;
    return { namespace: env.namespace, workload: runsIt ? env.canaryDeployment : env.deployment };
  }

  /** What `opsflow targets check` shows: the cluster, the Deployment and its image, the route or Services. */
  async describe(ref: TrackRef): Promise<string> {
    const env = this.environment(ref);
    const version = await env.client.serverVersion();
    const now = await this.observe(env);
    const parts = [`cluster ${version} at ${await env.client.server()}`];
    parts.push(`Deployment ${env.namespace}/${env.deployment} runs ${this.image(env, now.stable)}`);
    const router = this.router(env);
    if (router.mode === 'http-route') {
      const route = env.httpRoute!;
      const found = await env.client.getHttpRoute(route.namespace, route.name, `${env.setting}.httpRoute`);
      const canary = routeWeight(env, found);
      parts.push(
        `HTTPRoute ${route.namespace}/${route.name} routes to Service ${env.service}` +
          (canary > 0 ? ` (${100 - canary} %) and ${env.canaryService} (${canary} %)` : ''),
      );
    } else if (router.mode === 'blue-green') {
      parts.push(`Services ${env.service} (active) and ${env.previewService} (preview)`);
    } else {
      parts.push('no HTTPRoute: the split follows replica counts (approximate)');
    }
    return parts.join('; ');
  }

  async startRelease(ref: ReleaseRef): Promise<StartResult> {
    const env = this.environment(ref);
    const image = this.imageOf(ref.version);
    this.strategyFits(env);
    let now = await this.observe(env);
    const router = this.router(env);
    if (!now.canary) {
      const stable = this.stableRelease(env, now.stable);
      if (stable.version === ref.version) {
        if (stable.deployId === ref.deployId) {
          return { alreadyPromoted: true, detail: `${ref.version} already runs as stable (${stable.image})` };
        }
        throw new TargetConflict('already-stable', `${where(ref)}: ${ref.version} already runs as the stable release`);
      }
      const state = rolloutState(now.stable);
      if (state.phase === 'failed') {
        throw new InvalidTargetRequest(
          `Deployment ${env.namespace}/${env.deployment} ${state.reason}: fix it before deploying a new release`,
        );
      }
      if (state.phase !== 'done') {
        throw new Error(
          `Deployment ${env.namespace}/${env.deployment} is rolling out (${state.reason}): a release starts once it is done`,
        );
      }
      if (promotionFailure(now.stable, ref.deployId)) await this.forgetFailedPromotion(env);
      // The stable Service keeps to the stable pods before any new pod exists.
      await router.prepare(env, now.stable);
      try {
        await env.client.createDeployment(env.namespace, this.canaryFor(env, now.stable, ref, image));
      } catch (err) {
        if (!(err instanceof KubeConflict && err.reason === 'AlreadyExists')) throw err;
      }
      now = await this.observe(env);
    }
    const canary = this.ownCanary(env, now, ref);
    if (canary.facts.version !== ref.version) {
      throw new TargetConflict('version-mismatch', `${where(ref)}: this deploy's canary is ${canary.facts.version}`);
    }
    if (canary.facts.rollingBack) {
      throw new TargetConflict('rolling-back', `${where(ref)}: the canary of ${ref.deployId} is being rolled back`);
    }
    await router.attach(env, canary.deployment, canary.facts.hash);
    await this.ready(env, env.canaryDeployment, canary.deployment, `canary ${ref.version}`);
    const share = await router.current(env, canary.deployment, canary.facts.hash);
    return {
      alreadyPromoted: false,
      detail: `${ref.version} runs as ${env.namespace}/${env.canaryDeployment} beside ${this.image(env, now.stable)} at ${share.weight} %${router.approximate ? ' (split by replicas: approximate)' : ''}`,
    };
  }

  async setWeight(ref: WeightRef): Promise<WeightResult> {
    if (!isWeight(ref.weight)) {
      throw new InvalidTargetRequest(`route ${ref.weight} % in ${ref.environment}: use a whole number from 0 to 100`);
    }
    const env = this.environment(ref);
    const now = await this.observe(env);
    const canary = this.ownCanary(env, now, ref);
    if (canary.facts.rollingBack) {
      throw new TargetConflict('rolling-back', `${where(ref)}: the canary of ${ref.deployId} is being rolled back`);
    }
    const router = this.router(env);
    const stableReplicas = now.stable.spec?.replicas ?? 1;
    const replicas = router.replicasFor(ref.weight, stableReplicas);
    const had = canary.deployment.spec?.replicas ?? 0;
    if (router.mode !== 'replica-ratio' && replicas > had) {
      // Capacity before traffic: the canary is scaled up and ready before it takes the larger share.
      await this.scale(env, replicas);
    }
    const share = await router.shift(env, canary.deployment, canary.facts.hash, ref.weight, now.stable);
    if (router.mode !== 'replica-ratio' && replicas < had) await this.scale(env, replicas);
    if (replicas > 0) {
      const scaled = await env.client.getDeployment(env.namespace, env.canaryDeployment);
      if (scaled) await this.ready(env, env.canaryDeployment, scaled, `canary at ${ref.weight} %`);
    }
    const result: WeightResult = { weight: share.weight };
    if (share.changedAt !== undefined) result.changedAt = share.changedAt;
    if (router.approximate) result.approximate = true;
    return result;
  }

  async promote(ref: ReleaseRef): Promise<PromoteResult> {
    const env = this.environment(ref);
    this.imageOf(ref.version);
    const now = await this.observe(env);
    const router = this.router(env);
    const stable = this.stableRelease(env, now.stable);
    const facts = this.facts(env, now.canary);
    const failed = promotionFailure(now.stable, ref.deployId);
    if (failed) {
      // Undone before (perhaps by an attempt that then ran out of time): the undo is finished and the answer repeated.
      if (facts?.deployId === ref.deployId) await this.retireCanary(env, ref);
      throw new RolloutFailed(failed);
    }
    if (stable.deployId !== ref.deployId || stable.version !== ref.version) {
      const canary = this.ownCanary(env, now, ref);
      if (canary.facts.version !== ref.version) {
        throw new TargetConflict('version-mismatch', `${where(ref)}: this deploy's canary is ${canary.facts.version}`);
      }
      if (canary.facts.rollingBack) {
        throw new TargetConflict('rolling-back', `${where(ref)}: the canary of ${ref.deployId} is being rolled back`);
      }
      await router.beforePromotion(env, canary.deployment, canary.facts.hash, now.stable);
      await this.setStableImage(env, ref, this.imageOf(ref.version));
    } else if (!now.canary && rolloutState(now.stable).phase === 'done') {
      return { detail: `${ref.version} is stable at 100 % (promoted before)` };
    }
    const promotedAt = Number((await this.observe(env)).stable.metadata?.annotations?.[ANNOTATION.promotedAt] ?? 0);
    const outcome = await waitForRollout(env.client, {
      namespace: env.namespace,
      name: env.deployment,
      deadline: (promotedAt || Date.now()) + this.config.progressDeadline,
      until: await this.budgetEnd(),
      progressDeadlineMs: this.config.progressDeadline,
      ...(this.options.pollMs !== undefined && { pollMs: this.options.pollMs }),
    });
    if (outcome.phase === 'waiting') {
      throw new Error(`rollout of ${env.namespace}/${env.deployment} to ${ref.version} goes on: ${outcome.reason}`);
    }
    if (outcome.phase === 'failed') {
      const reason = `rollout of ${env.namespace}/${env.deployment} to ${ref.version} failed: ${outcome.reason}`;
      const undone = await this.undoPromotion(env, ref, reason);
      throw new RolloutFailed(`${reason}; undone: ${undone}`);
    }
    await this.retireCanary(env, ref);
    return { detail: `${ref.version} is stable at 100 % on ${outcome.replicas} replicas; the canary is removed` };
  }

  async rollback(ref: RollbackRef): Promise<RollbackResult> {
    const env = this.environment(ref);
    const now = await this.observe(env);
    const facts = this.facts(env, now.canary);
    const stable = this.stableRelease(env, now.stable);
    if (facts?.deployId === ref.deployId) {
      // A promotion under way is undone first, so the pods the traffic goes back to are the previous release's.
      const restored = stable.deployId === ref.deployId ? await this.restoreStable(env, ref) : undefined;
      const weightZeroAt = await this.retireCanary(env, ref);
      const serving = await this.stableServing(env, ref);
      return {
        rolledBack: true,
        by: 'this-attempt',
        version: facts.version,
        weightZeroAt,
        detail: `canary ${facts.version} at 0 % and deleted${restored ? `; ${restored}` : ''}; ${serving}`,
      };
    }
    if (stable.deployId === ref.deployId) {
      // Services back on all of the stable Deployment's pods before its image changes back (none, if another
      // deploy's canary runs: its routing is not this rollback's to touch).
      if (!now.canary) await this.router(env).detach(env);
      const restored = await this.restoreStable(env, ref);
      const weightZeroAt = Date.now();
      const serving = await this.stableServing(env, ref);
      const done = { by: 'this-attempt', version: stable.version, weightZeroAt } as const;
      return { rolledBack: true, ...done, detail: `${restored}; ${serving}` };
    }
    const answer = answerFromRecord(now.stable, ref);
    // Its earlier attempt (or a failed promotion undoing itself) may have run out of time verifying stable: it goes on.
    if (answer.rolledBack || now.stable.metadata?.annotations?.[ANNOTATION.restoredFrom] === ref.deployId) {
      const serving = await this.stableServing(env, ref);
      if (answer.rolledBack) return { ...answer, detail: `${answer.detail}; ${serving}` };
    }
    return answer;
  }

  /** The environment's settings and client; an environment the config does not name is refused. */
  private environment(ref: TrackRef): KubeEnvironment {
    const settings = Object.hasOwn(this.config.environments, ref.environment)
      ? this.config.environments[ref.environment]
      : undefined;
    if (!settings) {
      const known = Object.keys(this.config.environments).join(', ');
      throw new InvalidTargetRequest(
        `${ref.service} has no Kubernetes settings for ${ref.environment}: target.environments has ${known}`,
      );
    }
    const cluster = settings.cluster ?? this.config.cluster;
    const service = settings.blueGreen?.activeService ?? settings.service ?? settings.deployment;
    return {
      name: ref.environment,
      client: this.client(cluster),
      namespace: settings.namespace,
      deployment: settings.deployment,
      container: settings.container,
      service,
      canaryDeployment: `${settings.deployment}${CANARY_SUFFIX}`,
      canaryService: `${service}${CANARY_SUFFIX}`,
      httpRoute: settings.httpRoute && {
        name: settings.httpRoute.name,
        namespace: settings.httpRoute.namespace ?? settings.namespace,
      },
      previewService: settings.blueGreen?.previewService,
      setting: `target.environments.${ref.environment}`,
    };
  }

  /** One client per distinct cluster setting. */
  private client(cluster: ClusterConfig): KubeClient {
    const key = JSON.stringify(cluster);
    let client = this.clients.get(key);
    if (!client) {
      client = new KubeClient(cluster, this.options);
      this.clients.set(key, client);
    }
    return client;
  }

  private router(env: KubeEnvironment): Router {
    if (env.previewService) return blueGreenRouter;
    return env.httpRoute ? httpRouteRouter : replicaRatioRouter;
  }

  /**
   * A blue-green switch needs the two Services or a route (replica counts cannot move all traffic); Services for
   * blue-green under another strategy are a mistake.
   */
  private strategyFits(env: KubeEnvironment): void {
    const strategy = this.options.strategies?.[env.name];
    if (strategy === 'blue-green' && !env.previewService && !env.httpRoute) {
      throw new InvalidTargetRequest(
        `${env.name} deploys blue-green: set ${env.setting}.blueGreen { activeService, previewService }, or an httpRoute`,
      );
    }
    if (strategy !== undefined && strategy !== 'blue-green' && env.previewService) {
      throw new InvalidTargetRequest(
        `${env.setting}.blueGreen is set but ${env.name} deploys ${strategy}: remove it, or use strategy blue-green`,
      );
    }
  }

  private async observe(env: KubeEnvironment): Promise<Observed> {
    const [stable, canary] = await Promise.all([
      env.client.getDeployment(env.namespace, env.deployment, `${env.setting}.deployment`),
      env.client.getDeployment(env.namespace, env.canaryDeployment),
    ]);
    if (!stable) {
      throw new InvalidTargetRequest(
        `Deployment ${env.namespace}/${env.deployment} not found: check ${env.setting}.deployment and .namespace in opsflow.yaml`,
      );
    }
    return { stable, canary: canary && !canary.metadata?.deletionTimestamp ? canary : null };
  }

  /** Who owns the canary Deployment; one opsflow did not make is refused (its name is opsflow's to use). */
  private facts(env: KubeEnvironment, canary: V1Deployment | null): CanaryFacts | null {
    if (!canary) return null;
    const annotations = canary.metadata?.annotations ?? {};
    const deployId = annotations[ANNOTATION.deployId];
    if (!deployId) {
      throw new InvalidTargetRequest(
        `Deployment ${env.namespace}/${env.canaryDeployment} exists and is not opsflow's: opsflow needs the name for the canary`,
      );
    }
    return {
      deployId,
      version: annotations[ANNOTATION.version] ?? '',
      hash: canary.metadata?.labels?.[LABEL.deployHash] ?? deployHash(deployId),
      rollingBack: annotations[ANNOTATION.rollingBack] !== undefined,
    };
  }

  /** This deploy's canary, or the conflict that says why there is none to act on. */
  private ownCanary(
    env: KubeEnvironment,
    now: Observed,
    ref: DeployRef,
  ): { deployment: V1Deployment; facts: CanaryFacts } {
    const facts = this.facts(env, now.canary);
    if (!facts || !now.canary)
      throw new TargetConflict('no-canary', `${where(ref)}: no canary of ${ref.deployId} runs`);
    if (facts.deployId !== ref.deployId) {
      throw new TargetConflict(
        'canary-busy',
        `${where(ref)}: deploy ${facts.deployId}'s ${facts.version} runs as the canary, not ${ref.deployId}'s`,
      );
    }
    return { deployment: now.canary, facts };
  }

  /** The container that runs the release: the named one, or the only one. */
  private container(env: KubeEnvironment, deployment: V1Deployment) {
    const containers = deployment.spec?.template.spec?.containers ?? [];
    const named = env.container
      ? containers.find((c) => c.name === env.container)
      : containers.length === 1
        ? containers[0]
        : undefined;
    if (!named) {
      const names = containers.map((c) => c.name).join(', ');
      throw new InvalidTargetRequest(
        env.container
          ? `Deployment ${env.namespace}/${env.deployment} has no container ${env.container}: it has ${names}`
          : `Deployment ${env.namespace}/${env.deployment} has ${containers.length} containers (${names}): set ${env.setting}.container`,
      );
    }
    return named;
  }

  private image(env: KubeEnvironment, deployment: V1Deployment): string {
    return this.container(env, deployment).image ?? '(no image)';
  }

  /** The stable release: the version in its image (the image itself when it does not follow the template). */
  private stableRelease(env: KubeEnvironment, stable: V1Deployment) {
    const image = this.image(env, stable);
    return {
      image,
      version: versionOf(this.config.image, image) ?? image,
      deployId: stable.metadata?.annotations?.[ANNOTATION.deployId] ?? null,
    };
  }

  /** The image of `version`; a version that cannot be part of an image reference is refused. */
  private imageOf(version: string): string {
    const problem = imageProblem(this.config.image, version);
    if (problem) throw new InvalidTargetRequest(`${problem}: image is ${this.config.image}`);
    return imageFor(this.config.image, version);
  }

  /** The canary Deployment: the stable one's pod template with the new image, labelled for this deploy. */
  private canaryFor(env: KubeEnvironment, stable: V1Deployment, ref: ReleaseRef, image: string): V1Deployment {
    const hash = deployHash(ref.deployId);
    const marks = { [LABEL.role]: 'canary', [LABEL.deployHash]: hash };
    const template = structuredClone(stable.spec!.template);
    const container = this.container(env, stable).name;
    template.metadata = {
      ...(template.metadata?.annotations && { annotations: template.metadata.annotations }),
      labels: { ...(template.metadata?.labels ?? {}), ...marks, [LABEL.version]: labelValue(ref.version) },
    };
    template.spec!.containers = template.spec!.containers.map((c) => (c.name === container ? { ...c, image } : c));
    const selector = stable.spec!.selector;
    const replicas = this.router(env).replicasFor(0, stable.spec?.replicas ?? 1);
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: env.canaryDeployment,
        namespace: env.namespace,
        labels: { ...(stable.metadata?.labels ?? {}), ...marks },
        annotations: {
          [ANNOTATION.deployId]: ref.deployId,
          [ANNOTATION.version]: ref.version,
          [ANNOTATION.weight]: '0',
          [ANNOTATION.weightChangedAt]: String(Date.now()),
        },
      },
      spec: {
        replicas,
        selector: {
          matchLabels: { ...(selector.matchLabels ?? {}), ...marks },
          ...(selector.matchExpressions && { matchExpressions: selector.matchExpressions }),
        },
        template,
        ...(stable.spec?.strategy && { strategy: stable.spec.strategy }),
        ...(stable.spec?.minReadySeconds !== undefined && { minReadySeconds: stable.spec.minReadySeconds }),
        progressDeadlineSeconds: Math.max(1, Math.ceil(this.config.progressDeadline / 1_000)),
        revisionHistoryLimit: 1,
      },
    };
  }

  /** Sets the canary's replicas (a no-op when they are already so). */
  private async scale(env: KubeEnvironment, replicas: number): Promise<void> {
    await env.client.patchDeployment(env.namespace, env.canaryDeployment, { spec: { replicas } }, 'merge');
    const scaled = await env.client.getDeployment(env.namespace, env.canaryDeployment);
    if (scaled) await this.ready(env, env.canaryDeployment, scaled, `canary scaled to ${replicas}`);
  }

  /**
   * Waits for a canary Deployment's pods to be available: a failed rollout (ProgressDeadlineExceeded) is final and
   * names the pods' waiting reasons; time running out is retried.
   */
  private async ready(env: KubeEnvironment, name: string, deployment: V1Deployment, what: string): Promise<void> {
    if (rolloutState(deployment).phase === 'done') return;
    // The canary's own progressDeadlineSeconds is the configured deadline: the controller says when it has passed.
    const outcome: WaitOutcome = await waitForRollout(env.client, {
      namespace: env.namespace,
      name,
      until: await this.budgetEnd(),
      progressDeadlineMs: this.config.progressDeadline,
      ...(this.options.pollMs !== undefined && { pollMs: this.options.pollMs }),
    });
    if (outcome.phase === 'failed') throw new RolloutFailed(`${what} in ${env.namespace}/${name}: ${outcome.reason}`);
    if (outcome.phase === 'waiting')
      throw new Error(`${what} in ${env.namespace}/${name} is not ready yet: ${outcome.reason}`);
  }

  /** Sets the stable Deployment's image, remembering the image and deploy it replaces (one write, conditional). */
  private async setStableImage(env: KubeEnvironment, ref: ReleaseRef, image: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const stable = (await this.observe(env)).stable;
      const current = this.stableRelease(env, stable);
      const container = this.container(env, stable).name;
      try {
        await env.client.patchDeployment(
          env.namespace,
          env.deployment,
          {
            metadata: {
              resourceVersion: stable.metadata?.resourceVersion,
              annotations: {
                [ANNOTATION.deployId]: ref.deployId,
                [ANNOTATION.version]: ref.version,
                [ANNOTATION.previousImage]: current.image,
                [ANNOTATION.previousDeployId]: current.deployId ?? '',
                [ANNOTATION.promotedAt]: String(Date.now()),
                [ANNOTATION.restoredFrom]: null,
                [ANNOTATION.promotionFailed]: null,
              },
            },
            spec: { template: { spec: { containers: [{ name: container, image }] } } },
          },
          'strategic',
        );
        return;
      } catch (err) {
        if (!(err instanceof KubeConflict) || attempt >= 5) throw err;
      }
    }
  }

  /**
   * Puts back the image this deploy's promotion replaced, and the deploy that had promoted it; `failure` is kept so a
   * retried promote answers with it. Returns what was done, for people.
   */
  private async restoreStable(env: KubeEnvironment, ref: DeployRef | RollbackRef, failure?: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const stable = (await this.observe(env)).stable;
      const annotations = stable.metadata?.annotations ?? {};
      if (annotations[ANNOTATION.deployId] !== ref.deployId) return 'the stable image was restored before';
      const previous = annotations[ANNOTATION.previousImage];
      if (!previous) {
        throw new InvalidTargetRequest(
          `Deployment ${env.namespace}/${env.deployment} has no ${ANNOTATION.previousImage} annotation: nothing to restore`,
        );
      }
      const previousDeployId = annotations[ANNOTATION.previousDeployId] || null;
      const container = this.container(env, stable).name;
      try {
        await env.client.patchDeployment(
          env.namespace,
          env.deployment,
          {
            metadata: {
              resourceVersion: stable.metadata?.resourceVersion,
              annotations: {
                [ANNOTATION.deployId]: previousDeployId,
                [ANNOTATION.version]: null,
                [ANNOTATION.previousImage]: null,
                [ANNOTATION.previousDeployId]: null,
                [ANNOTATION.promotedAt]: null,
                [ANNOTATION.restoredFrom]: ref.deployId,
                [ANNOTATION.promotionFailed]: failure
                  ? JSON.stringify({ deployId: ref.deployId, reason: failure })
                  : null,
                // A rollback's, in the same write as the image: a retry that finds the image back knows who did it.
                ...('rollbackId' in ref && { [ANNOTATION.rollbacks]: withRestore(stable, ref, previous) }),
              },
            },
            spec: { template: { spec: { containers: [{ name: container, image: previous }] } } },
          },
          'strategic',
        );
        return `stable image back to ${previous}`;
      } catch (err) {
        if (!(err instanceof KubeConflict) || attempt >= 5) throw err;
      }
    }
  }

  /** Drops the record of this deploy's failed promotion: the deploy starts its release again. */
  private async forgetFailedPromotion(env: KubeEnvironment): Promise<void> {
    await env.client.patchDeployment(
      env.namespace,
      env.deployment,
      { metadata: { annotations: { [ANNOTATION.promotionFailed]: null } } },
      'merge',
    );
  }

  /** A promotion whose rollout failed: the previous image back, the canary's traffic to 0 and the canary deleted. */
  private async undoPromotion(env: KubeEnvironment, ref: DeployRef, reason: string): Promise<string> {
    const restored = await this.restoreStable(env, ref, reason);
    const now = await this.observe(env);
    if (this.facts(env, now.canary)?.deployId === ref.deployId) await this.retireCanary(env, ref);
    return `${restored}, canary removed`;
  }

  /**
   * The canary of this deploy out of the way, traffic first: marked as rolling back (no weight may be set again),
   * its share to 0, then (for a rollback, recorded on the stable Deployment) the Deployment deleted and whatever
   * routed to it taken away. Answers when the share was 0.
   */
  private async retireCanary(env: KubeEnvironment, ref: DeployRef | RollbackRef): Promise<number> {
    const router = this.router(env);
    const now = await this.observe(env);
    const facts = this.facts(env, now.canary);
    let weightZeroAt = Date.now();
    if (facts && facts.deployId !== ref.deployId) return weightZeroAt;
    if (now.canary && facts) {
      if (!facts.rollingBack) {
        await env.client.patchDeployment(
          env.namespace,
          env.canaryDeployment,
          { metadata: { annotations: { [ANNOTATION.rollingBack]: String(Date.now()) } } },
          'merge',
        );
      }
      const share = await router.shift(env, now.canary, facts.hash, 0, now.stable);
      weightZeroAt = share.changedAt ?? weightZeroAt;
      if ('rollbackId' in ref) {
        const { deployId, rollbackId } = ref;
        await recordRollback(env, { deployId, rollbackId, version: facts.version, weightZeroAt, canary: true });
      }
      await env.client.deleteDeployment(env.namespace, env.canaryDeployment);
    }
    await router.detach(env);
    return weightZeroAt;
  }

  /** Waits until the stable Deployment is available; answers what serves, for people. */
  private async stableServing(env: KubeEnvironment, ref: DeployRef): Promise<string> {
    const outcome = await waitForRollout(env.client, {
      namespace: env.namespace,
      name: env.deployment,
      until: await this.budgetEnd(),
      progressDeadlineMs: this.config.progressDeadline,
      ...(this.options.pollMs !== undefined && { pollMs: this.options.pollMs }),
    });
    if (outcome.phase !== 'done') {
      // Retried: the rollback's later attempts find the image restored and wait on.
      throw new Error(`${where(ref)}: the stable Deployment is not available yet: ${outcome.reason}`);
    }
    const stable = (await this.observe(env)).stable;
    return `${this.image(env, stable)} available on ${outcome.replicas} replicas`;
  }

  /** When this call must stop waiting: inside its activity's timeout, or after `waitMs`. */
  private async budgetEnd(): Promise<number> {
    if (this.options.waitMs !== undefined) return Date.now() + this.options.waitMs;
    const activityMs = await activityTimeoutMs();
    return Date.now() + (activityMs !== undefined ? Math.max(5_000, activityMs - 5_000) : 20_000);
  }
}

function where(ref: TrackRef): string {
  return `${ref.service} in ${ref.environment}`;
}
