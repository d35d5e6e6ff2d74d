/**
 * The local platform's core, without HTTP: one release track per environment and service, the request statistics
 * and Prometheus metrics their routers feed, the synthetic traffic, and the state file.
 */
import type { Logger } from 'pino';
import type { LocalTargetConfig, OpsflowConfig } from '../config/schema';
import type { PlatformState, Releases, WindowStats } from './api';
import { notFound } from './errors';
import { PlatformMetrics } from './prometheus';
import { UsageSampler, UsageStore, type ProcessRef } from './usage';
import { ReleaseTrack } from './release-track';
import { ProcessSupervisor } from './service-process';
import { StateStore, type PersistedTrack } from './state-store';
import { StatsStore } from './stats';
import { startSyntheticTraffic, type TrafficGenerator } from './traffic';

/** How the platform runs; `cwd` is where service commands run (relative paths in them resolve there). */
export interface PlatformOptions {
  config: OpsflowConfig;
  host: string;
  stateDir: string;
  cwd: string;
  logger: Logger;
  /** Time a release has to print its port and pass its health check. */
  readyTimeoutMs?: number;
}

/** Every release track of the config, with their metrics, traffic and persisted state. */
export class LocalPlatform {
  readonly metrics = new PlatformMetrics();
  private readonly stats = new StatsStore();
  private readonly usage = new UsageStore();
  private sampler: UsageSampler | undefined;
  private readonly supervisor = new ProcessSupervisor();
  private readonly tracks = new Map<string, ReleaseTrack>();
  private readonly store: StateStore;
  private traffic: TrafficGenerator | undefined;
  /** Saving waits until every track is open, so a half-started platform never overwrites the saved state. */
  private persisting = false;

  /** The services whose target is this platform (`target.kind: local`), in config order. */
  private readonly services: ReadonlyMap<string, LocalTargetConfig>;

  private constructor(private readonly options: PlatformOptions) {
    this.store = new StateStore(options.stateDir);
    this.services = localServices(options.config);
  }

  /**
   * Starts every service's saved (or initial) release in every environment, behind one router each, then the
   * synthetic traffic. If any release fails to start, everything already started is stopped and the error rethrown.
   */
  static async start(options: PlatformOptions): Promise<LocalPlatform> {
    const platform = new LocalPlatform(options);
    try {
      await platform.openTracks();
    } catch (err) {
      await platform.close();
      throw err;
    }
    platform.persisting = true;
    platform.persist();
    platform.sampler = new UsageSampler(
      () => platform.processes(),
      (key, cpuSeconds, rssBytes) => {
        platform.usage.record(key, cpuSeconds, rssBytes);
        platform.metrics.observeUsage(key, cpuSeconds, rssBytes);
      },
    );
    platform.metrics.onScrape = () => platform.sampler?.sample();
    const { trafficRps } = options.config.platform.local;
    if (trafficRps > 0) {
      const urls = [...platform.tracks.values()].map((track) => `${track.routerUrl}/`);
      platform.traffic = startSyntheticTraffic({ urls, rps: trafficRps, logger: options.logger });
    }
    return platform;
  }

  /** The track of `service` in `environment`; 404 naming the known ones otherwise. */
  track(environment: string, service: string): ReleaseTrack {
    const { config } = this.options;
    if (!Object.hasOwn(config.environments, environment)) {
      const known = Object.keys(config.environments).join(', ');
      throw notFound('unknown_environment', `unknown environment "${environment}": known environments are ${known}`);
    }
    this.requireService(service);
    return this.tracks.get(trackId(environment, service))!;
  }

  releases(service: string): Releases {
    return { service, versions: [...this.requireService(service).versions] };
  }

  /** Every track, in config order: environments, then services. */
  state(): PlatformState {
    return { environments: this.orderedTracks().map((track) => track.snapshot()) };
  }

  /** Request statistics of one version over the last `windowMs`. */
  windowStats(query: { environment: string; service: string; version: string; windowMs: number }): WindowStats {
    this.track(query.environment, query.service);
    const { versions } = this.requireService(query.service);
    if (!versions.includes(query.version)) {
      throw notFound(
        'unknown_release',
        `${query.service} has no release ${query.version}: known versions are ${versions.join(', ')}`,
      );
    }
    const { environment, service, version, windowMs } = query;
    return {
      environment,
      service,
      version,
      windowMs,
      ...this.stats.window({ environment, service, version }, windowMs),
      usage: this.usage.window({ environment, service, version }, windowMs),
    };
  }

  /** Every running service process with the version it serves. */
  private processes(): ProcessRef[] {
    return this.orderedTracks().flatMap((track) => {
      const { environment, service, stable, canary } = track.snapshot();
      const ref = (p: { version: string; pid: number }) => ({ environment, service, version: p.version, pid: p.pid });
      return canary ? [ref(stable), ref(canary)] : [ref(stable)];
    });
  }

  /** Stops the traffic, the routers and every service process. */
  async close(): Promise<void> {
    this.traffic?.stop();
    this.sampler?.stop();
    await Promise.all([...this.tracks.values()].map((track) => track.close()));
    await this.supervisor.stopAll();
  }

  private requireService(service: string): LocalTargetConfig {
    const target = this.services.get(service);
    if (!target) {
      const known = [...this.services.keys()].join(', ') || 'none';
      throw notFound('unknown_service', `unknown service "${service}": known services are ${known}`);
    }
    return target;
  }

  private orderedTracks(): ReleaseTrack[] {
    const { environments } = this.options.config;
    return Object.keys(environments).flatMap((environment) =>
      [...this.services.keys()].flatMap((service) => this.tracks.get(trackId(environment, service)) ?? []),
    );
  }

  private async openTracks(): Promise<void> {
    const { config, host, cwd, logger } = this.options;
    const saved = new Map<string, PersistedTrack>(this.store.load().map((t) => [trackId(t.environment, t.service), t]));
    for (const id of saved.keys()) {
      const [environment = '', service = ''] = id.split('/');
      if (!Object.hasOwn(config.environments, environment) || !this.services.has(service)) {
        logger.warn(
          { track: id },
          'saved state names an environment or service no longer in the config; forgetting it',
        );
      }
    }
    const opening = Object.keys(config.environments).flatMap((environment) =>
      [...this.services].map(async ([service, target]) => {
        const track = await ReleaseTrack.open(
          {
            environment,
            service,
            config: target,
            host,
            cwd,
            readyTimeoutMs: this.options.readyTimeoutMs ?? 15_000,
            supervisor: this.supervisor,
            logger: logger.child({ environment, service }),
            onRequest: (version, statusCode, latencyMs) => {
              this.stats.record({ environment, service, version }, statusCode, latencyMs);
              this.metrics.observe({ environment, service, version }, statusCode, latencyMs);
            },
            onChange: (changed) => {
              this.metrics.setCanaryWeight(environment, service, changed.canaryWeight);
              this.persist();
            },
          },
          saved.get(trackId(environment, service)),
        );
        this.tracks.set(trackId(environment, service), track);
      }),
    );
    // Wait for every track, even after a failure, so close() sees every router that did open.
    const results = await Promise.allSettled(opening);
    const failure = results.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
  }

  private persist(): void {
    if (!this.persisting) return;
    try {
      this.store.save(this.orderedTracks().map((track) => track.persisted()));
    } catch (err) {
      // Keep serving: losing durability is bad, stopping every service over it would be worse.
      this.options.logger.error(
        { err: (err as Error).message, file: this.store.file },
        'could not save platform state',
      );
    }
  }
}

/** The services of the config that the local platform runs. */
export function localServices(config: OpsflowConfig): Map<string, LocalTargetConfig> {
  return new Map(
    Object.entries(config.services).flatMap(([service, { target }]) =>
      target.kind === 'local' ? [[service, target] as const] : [],
    ),
  );
}

const trackId = (environment: string, service: string) => `${environment}/${service}`;
