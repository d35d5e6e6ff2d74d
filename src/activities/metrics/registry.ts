/**
 * Builds the metrics providers from opsflow.yaml, keyed by the name an environment gives in `analysis.provider`.
 * Adding a provider is a file beside `local.ts` and one entry in {@link PROVIDERS} (plus its name in that enum).
 */
import type { OpsflowConfig } from '../../config/schema';
import { localPlatformClient } from '../../local-platform/client';
import type { AnalysisConfig } from '../../shared/analysis-config';
import { MetricsProviderMissing, type MetricsProvider } from './contract';
import { LocalMetrics } from './local';
import { NginxLogMetrics } from './nginx-log';
import { PrometheusMetrics } from './prometheus';

/** The names `analysis.provider` may give. */
export type MetricsProviderName = AnalysisConfig['provider'];

/** How to build a provider, and the setting it needs (named in the error when it is missing). */
interface ProviderEntry {
  requires: string;
  create(config: OpsflowConfig): MetricsProvider | undefined;
}

/** One entry per provider. */
const PROVIDERS: { [N in MetricsProviderName]: ProviderEntry } = {
  local: {
    requires: 'platform.local',
    create: (config) => new LocalMetrics(localPlatformClient(config.platform.local)),
  },
  prometheus: {
    requires: 'metrics.prometheus.url',
    create: ({ metrics }) => metrics.prometheus && new PrometheusMetrics(metrics.prometheus),
  },
  'nginx-log': {
    requires: 'metrics.nginxLog.path',
    create: ({ metrics }) => metrics.nginxLog && new NginxLogMetrics(metrics.nginxLog),
  },
};

/** The providers this worker has; the worker builds them from the config, tests pass fakes. */
export class MetricsRegistry {
  constructor(private readonly providers: Partial<Record<MetricsProviderName, MetricsProvider>>) {}

  /** The provider called `name`; {@link MetricsProviderMissing} naming the setting to add otherwise. */
  providerFor(name: MetricsProviderName): MetricsProvider {
    const provider = this.providers[name];
    if (!provider) {
      throw new MetricsProviderMissing(
        `analysis.provider is ${name} but this worker has no ${name} metrics: set ${PROVIDERS[name].requires} in opsflow.yaml`,
      );
    }
    return provider;
  }
}

/** Every provider the config has settings for. */
export function metricsFromConfig(config: OpsflowConfig): MetricsRegistry {
  const providers: Partial<Record<MetricsProviderName, MetricsProvider>> = {};
  for (const name of Object.keys(PROVIDERS) as MetricsProviderName[]) {
    const provider = PROVIDERS[name].create(config);
    if (provider) providers[name] = provider;
  }
  return new MetricsRegistry(providers);
}
