// Which services the worker's config gives a metrics source, per environment of the pipeline: the self-review's
// monitoring answer names those without one.
import type { OpsflowConfig } from '../../config/schema';
import type { MetricsCoverage } from '../../shared/agent';

/**
 * Each service in each environment of the pipeline it runs in, with the provider that judges its samples there: the
 * environment's `analysis.provider`, unless that provider cannot see the service (the local platform measures only the
 * services it runs).
 */
export function metricsCoverage(config: OpsflowConfig): MetricsCoverage[] {
  const rows: MetricsCoverage[] = [];
  for (const [service, { target }] of Object.entries(config.services)) {
    for (const environment of config.pipeline) {
      // A target that lists its environments does not run the service elsewhere.
      if ('environments' in target && !Object.hasOwn(target.environments, environment)) continue;
      const provider = config.environments[environment]?.analysis.provider ?? 'local';
      if (provider === 'local') {
        rows.push(
          target.kind === 'local'
            ? { service, environment, provider, detail: "the local platform's router" }
            : {
                service,
                environment,
                provider: null,
                detail: `analysis.provider is local, which measures only the local platform's services, not a ${target.kind} one`,
              },
        );
      } else if (provider === 'prometheus') {
        rows.push({
          service,
          environment,
          provider,
          detail: `Prometheus at ${shownUrl(config.metrics.prometheus?.url)}`,
        });
      } else {
        rows.push({
          service,
          environment,
          provider,
          detail: `nginx's access log ${config.metrics.nginxLog?.path ?? '?'}`,
        });
      }
    }
  }
  return rows;
}

/** A URL without its credentials or query, for a document people read. */
function shownUrl(url: string | undefined): string {
  if (!url) return 'an unset URL';
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return 'an unreadable URL';
  }
}
