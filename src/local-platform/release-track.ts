/**
 * One service in one environment: its router, its stable release and at most one canary, and the operations a deploy
 * drives on them (start canary, set weight, promote, roll back). Every operation is idempotent, keyed by the deploy's
 * id, because Temporal retries activities: a retry of a request that already took effect returns the same result.
 */
import type { Logger } from 'pino';
import type { LocalTargetConfig } from '../config/schema';
import type { PlatformEvent, PromoteResult, RollbackResult, SetWeightResult, StartCanaryResult, Track } from './api';
import { conflict, notFound, unavailable, type ApiError } from './errors';
import { answeredBefore, lastRollback, rolledBackBefore } from './rollback-record';
import { httpUrl, WeightedRouter, type Upstream } from './router';
import { SerialQueue } from './serial-queue';
import { ServiceProcess, StartError, type ProcessSupervisor } from './service-process';
import type { PersistedTrack } from './state-store';

/** Events kept per track, newest last. */
const MAX_EVENTS = 500;
/** How long a retiring instance may finish requests already sent to it before it is stopped. */
const DRAIN_TIMEOUT_MS = 5_000;

/** What a track needs from the platform around it. */
export interface TrackDeps {
  environment: string;
  service: string;
  /** The service's `target: { kind: local, ... }` settings. */
  config: LocalTargetConfig;
  /** Loopback host the router listens on. */
  host: string;
  /** Folder the service command runs in. */
  cwd: string;
  readyTimeoutMs: number;
  supervisor: ProcessSupervisor;
  logger: Logger;
  /** Called for every request the router finished. */
  onRequest: (version: string, statusCode: number, latencyMs: number) => void;
  /** Called after every change of versions, weights or owners, so the platform persists and exports it. */
  onChange: (track: ReleaseTrack) => void;
}

interface Stable {
  instance: ServiceProcess;
  /** The deploy that promoted this release; null for the initial release. */
  deployId: string | null;
  since: number;
}

interface Canary {
  instance: ServiceProcess;
  deployId: string;
  weight: number;
  startedAt: number;
  weightChangedAt: number;
  /** Set by a rollback; a weight change or promotion queued behind it must not bring the canary back. */
  rollingBack?: boolean;
}

/** The releases of one service in one environment and the deploy operations on them. */
export class ReleaseTrack {
  private canary: Canary | null = null;
  private previousStable: { version: string; deployId: string | null } | null = null;
  private events: PlatformEvent[] = [];
  private readonly queue = new SerialQueue();

  private constructor(
    private readonly deps: TrackDeps,
    private stable: Stable,
    private readonly router: WeightedRouter,
  ) {}

  /**
   * Starts the track: the saved stable release (or the service's initialVersion) behind a new router, and the saved
   * canary at its saved weight. A saved canary that no longer starts is dropped with a `canary-lost` event rather than
   * keeping the whole platform down.
   */
  static async open(deps: TrackDeps, saved?: PersistedTrack): Promise<ReleaseTrack> {
    // A release removed from the config since the state was saved cannot be started again.
    const known = (version: string) => deps.config.versions.includes(version);
    const savedStable = saved && known(saved.stable.version) ? saved.stable : undefined;
    const stableVersion = savedStable?.version ?? deps.config.initialVersion;
    const savedCanary = saved?.canary && known(saved.canary.version) ? saved.canary : null;
    const spawn = (version: string) => startInstance(deps, version);
    const [stableInstance, canaryResult] = await Promise.all([
      spawn(stableVersion),
      savedCanary ? spawn(savedCanary.version).catch((err: unknown) => err as Error) : null,
    ]);

    const stable: Stable = {
      instance: stableInstance,
      deployId: savedStable?.deployId ?? null,
      since: savedStable?.since ?? Date.now(),
    };
    const router = await WeightedRouter.listen({
      host: deps.host,
      stable: upstreamOf(stableInstance),
      logger: deps.logger,
      onRequest: (request) => deps.onRequest(request.version, request.statusCode, request.latencyMs),
    });
    const track = new ReleaseTrack(deps, stable, router);

    track.events = saved?.events.slice(-MAX_EVENTS) ?? [];
    track.previousStable = savedStable ? (saved?.previousStable ?? null) : null;
    track.record({
      kind: 'stable-started',
      deployId: stable.deployId,
      version: stableVersion,
      detail: saved ? 'restored' : 'initial',
    });
    if (savedCanary && canaryResult instanceof ServiceProcess) {
      track.canary = { ...savedCanary, instance: canaryResult };
      track.router.route(upstreamOf(stableInstance), upstreamOf(canaryResult), savedCanary.weight);
    } else if (savedCanary && canaryResult instanceof Error) {
      deps.logger.error({ err: canaryResult.message }, 'saved canary did not start again; dropped');
      track.record({
        kind: 'canary-lost',
        deployId: savedCanary.deployId,
        version: savedCanary.version,
        detail: canaryResult.message,
      });
    }
    deps.onChange(track);
    return track;
  }

  get environment(): string {
    return this.deps.environment;
  }

  get service(): string {
    return this.deps.service;
  }

  get routerUrl(): string {
    return httpUrl(this.deps.host, this.router.port);
  }

  get canaryWeight(): number {
    return this.canary?.weight ?? 0;
  }

  /** The track as the control API shows it. */
  snapshot(): Track {
    const { stable, canary } = this;
    return {
      environment: this.environment,
      service: this.service,
      routerUrl: this.routerUrl,
      stable: {
        version: stable.instance.version,
        port: stable.instance.port,
        pid: stable.instance.pid,
        deployId: stable.deployId,
        since: stable.since,
      },
      canary: canary && {
        version: canary.instance.version,
        port: canary.instance.port,
        pid: canary.instance.pid,
        weight: canary.weight,
        deployId: canary.deployId,
        startedAt: canary.startedAt,
        weightChangedAt: canary.weightChangedAt,
      },
      previousStable: this.previousStable,
    };
  }

  /** The track as the state file keeps it. */
  persisted(): PersistedTrack {
    const { stable, canary } = this;
    return {
      environment: this.environment,
      service: this.service,
      stable: { version: stable.instance.version, deployId: stable.deployId, since: stable.since },
      previousStable: this.previousStable,
      canary: canary && {
        version: canary.instance.version,
        deployId: canary.deployId,
        weight: canary.weight,
        startedAt: canary.startedAt,
        weightChangedAt: canary.weightChangedAt,
      },
      events: this.events,
    };
  }

  eventLog(): PlatformEvent[] {
    return [...this.events];
  }

  /**
   * Starts `version` as the canary of `deployId` at weight 0 and waits until it answers its health check. The same
   * deploy asking again gets the running canary; a version this deploy already promoted gets `alreadyPromoted`.
   */
  startCanary(deployId: string, version: string): Promise<StartCanaryResult> {
    this.requireRelease(version);
    return this.queue.run(async () => {
      if (version === this.stable.instance.version) {
        if (this.stable.deployId === deployId) return { ...this.snapshot(), alreadyPromoted: true };
        throw conflict(
          'already_stable',
          `${this.label} already runs ${version} as its stable release: deploy another version`,
        );
      }
      if (this.canary) {
        this.requireOwner(this.canary, deployId);
        this.requireVersion(this.canary, deployId, version);
        return { ...this.snapshot(), alreadyPromoted: false };
      }
      const instance = await startInstance(this.deps, version).catch((err: unknown) => {
        throw asUnavailable(err, 'canary_unhealthy');
      });
      const now = Date.now();
      this.canary = { instance, deployId, weight: 0, startedAt: now, weightChangedAt: now };
      this.router.route(upstreamOf(this.stable.instance), upstreamOf(instance), 0);
      this.record({ kind: 'canary-started', deployId, version, weight: 0 });
      this.changed();
      return { ...this.snapshot(), alreadyPromoted: false };
    });
  }

  /** Sends `weight` % of traffic to the deploy's canary; the same weight again changes nothing. */
  setWeight(deployId: string, weight: number): Promise<SetWeightResult> {
    return this.queue.run(async () => {
      const canary = this.requireCanary(deployId);
      if (canary.weight !== weight) {
        canary.weight = weight;
        canary.weightChangedAt = Date.now();
        this.router.route(upstreamOf(this.stable.instance), upstreamOf(canary.instance), weight);
        this.record({ kind: 'weight', deployId, version: canary.instance.version, weight });
        this.changed();
      }
      return { ...this.snapshot(), changedAt: canary.weightChangedAt };
    });
  }

  /**
   * Makes the deploy's canary the stable release at 100 %, then drains and stops the old stable instance: the switch
   * comes first, so no request is lost. The old stable version is kept so the promotion can be rolled back.
   */
  promote(deployId: string, version: string): Promise<PromoteResult> {
    this.requireRelease(version);
    return this.queue.run(async () => {
      if (!this.canary && this.stable.instance.version === version && this.stable.deployId === deployId) {
        return this.snapshot();
      }
      const canary = this.requireCanary(deployId);
      this.requireVersion(canary, deployId, version);
      const old = this.stable;
      this.previousStable = { version: old.instance.version, deployId: old.deployId };
      this.stable = { instance: canary.instance, deployId, since: Date.now() };
      this.canary = null;
      this.router.route(upstreamOf(this.stable.instance), null, 0);
      this.record({ kind: 'promoted', deployId, version, weight: 100 });
      this.changed();
      await this.retire(old.instance);
      return this.snapshot();
    });
  }

  /**
   * Rolls back what `deployId` changed. A canary goes to weight 0 at once, before this call waits for anything, then
   * its process is drained and stopped. A version this deploy promoted is replaced by the previous stable release,
   * started fresh (no weight-zero shortcut there: traffic moves when the old release is ready). Anything else is a
   * no-op, so a late retry never touches another deploy's canary; one whose earlier request of the same `rollbackId`
   * did the rollback (the event log says so) answers as that request did, `by: 'earlier-request'`.
   */
  rollback(deployId: string, rollbackId?: string): Promise<RollbackResult> {
    this.zeroWeight(deployId);
    return this.queue.run(async () => {
      // Zeroing again is a no-op that returns when the weight became 0, unless the canary started after this call.
      const weightZeroAt = this.zeroWeight(deployId);
      if (this.canary && weightZeroAt !== undefined) return this.stopCanary(this.canary, weightZeroAt, rollbackId);
      if (this.stable.deployId === deployId && this.previousStable) return this.restorePrevious(deployId, rollbackId);
      const earlier = lastRollback(this.events, deployId);
      if (earlier && rollbackId !== undefined && earlier.rollbackId === rollbackId) {
        return { ...this.snapshot(), ...answeredBefore(earlier) };
      }
      const reason = this.canary ? `canary belongs to deploy ${this.canary.deployId}` : rolledBackBefore(earlier);
      return { ...this.snapshot(), rolledBack: false as const, reason };
    });
  }

  /** Closes the router; the platform's supervisor stops the processes. */
  async close(): Promise<void> {
    await this.router.close();
  }

  private get label(): string {
    return `${this.service} in ${this.environment}`;
  }

  /**
   * Synchronous on purpose: nothing can run between the rollback request and the router taking the canary out.
   * Returns when the canary stopped getting traffic (earlier, if its weight was already 0).
   */
  private zeroWeight(deployId: string): number | undefined {
    const canary = this.canary;
    if (!canary || canary.deployId !== deployId) return undefined;
    canary.rollingBack = true;
    if (canary.weight !== 0) {
      canary.weight = 0;
      canary.weightChangedAt = Date.now();
      this.router.route(upstreamOf(this.stable.instance), upstreamOf(canary.instance), 0);
      this.record({ kind: 'weight', deployId, version: canary.instance.version, weight: 0 }, canary.weightChangedAt);
      this.changed();
    }
    return canary.weightChangedAt;
  }

  /** Takes the canary out for the rollback step `rollbackId`, which its `rolled-back` event keeps. */
  private async stopCanary(canary: Canary, weightZeroAt: number, rollbackId?: string): Promise<RollbackResult> {
    this.router.route(upstreamOf(this.stable.instance), null, 0);
    this.canary = null;
    const { deployId } = canary;
    this.record(
      { kind: 'rolled-back', deployId, version: canary.instance.version, weight: 0, rollbackId },
      weightZeroAt,
    );
    this.changed();
    await this.retire(canary.instance);
    this.record({ kind: 'canary-stopped', deployId: canary.deployId, version: canary.instance.version });
    this.changed();
    return {
      ...this.snapshot(),
      rolledBack: true,
      weightZeroAt,
      version: canary.instance.version,
      restoredVersion: null,
      by: 'this-request',
    };
  }

  private async restorePrevious(deployId: string, rollbackId?: string): Promise<RollbackResult> {
    const previous = this.previousStable!;
    const promoted = this.stable;
    const instance = await startInstance(this.deps, previous.version).catch((err: unknown) => {
      throw asUnavailable(err, 'restore_failed');
    });
    this.stable = { instance, deployId: previous.deployId, since: Date.now() };
    this.previousStable = null;
    this.router.route(upstreamOf(instance), this.canary && upstreamOf(this.canary.instance), this.canaryWeight);
    const weightZeroAt = Date.now();
    const version = promoted.instance.version;
    this.record({ kind: 'rolled-back', deployId, version, weight: 0, rollbackId }, weightZeroAt);
    this.record({ kind: 'stable-restored', deployId, version: previous.version });
    this.changed();
    await this.retire(promoted.instance);
    return {
      ...this.snapshot(),
      rolledBack: true,
      weightZeroAt,
      version: promoted.instance.version,
      restoredVersion: previous.version,
      by: 'this-request',
    };
  }

  /** Lets requests already sent to `instance` finish, then stops it. */
  private async retire(instance: ServiceProcess): Promise<void> {
    const drained = await this.router.drain(instance.port, DRAIN_TIMEOUT_MS);
    if (!drained) {
      this.deps.logger.warn({ version: instance.version }, 'requests still in flight after the drain timeout');
    }
    await instance.stop();
  }

  private requireRelease(version: string): void {
    const { versions } = this.deps.config;
    if (!versions.includes(version)) {
      throw notFound(
        'unknown_release',
        `${this.service} has no release ${version}: known versions are ${versions.join(', ')}`,
      );
    }
  }

  private requireCanary(deployId: string): Canary {
    if (!this.canary)
      throw conflict('no_canary', `${this.label} has no canary: start one for deploy ${deployId} first`);
    this.requireOwner(this.canary, deployId);
    if (this.canary.rollingBack) {
      throw conflict('rolling_back', `${this.label}: the canary of deploy ${deployId} is being rolled back`);
    }
    return this.canary;
  }

  private requireOwner(canary: Canary, deployId: string): void {
    if (canary.deployId !== deployId) {
      throw conflict(
        'canary_busy',
        `${this.label} already has canary ${canary.instance.version} owned by deploy ${canary.deployId}: wait for it or roll it back`,
      );
    }
  }

  private requireVersion(canary: Canary, deployId: string, version: string): void {
    if (canary.instance.version !== version) {
      throw conflict(
        'version_mismatch',
        `deploy ${deployId} runs canary ${canary.instance.version} of ${this.label}, not ${version}: roll it back first`,
      );
    }
  }

  private record(event: Omit<PlatformEvent, 'at'>, at = Date.now()): void {
    this.events.push({ at, ...event });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  private changed(): void {
    this.deps.onChange(this);
  }
}

function startInstance(deps: TrackDeps, version: string): Promise<ServiceProcess> {
  return deps.supervisor.start({
    command: deps.config.command,
    env: deps.config.env,
    passEnv: deps.config.passEnv,
    cwd: deps.cwd,
    environment: deps.environment,
    service: deps.service,
    version,
    healthPath: deps.config.healthPath,
    readyTimeoutMs: deps.readyTimeoutMs,
    logger: deps.logger.child({ version }),
  });
}

function upstreamOf(instance: ServiceProcess): Upstream {
  return { version: instance.version, port: instance.port };
}

/** A release that did not come up: 503 with the reason and what the process last printed on stderr. */
function asUnavailable(err: unknown, code: string): ApiError {
  if (!(err instanceof StartError)) return unavailable(code, (err as Error).message);
  const tail = err.stderrTail.slice(-3).join(' | ');
  return unavailable(code, tail ? `${err.message}; stderr: ${tail}` : err.message, { stderrTail: err.stderrTail });
}
