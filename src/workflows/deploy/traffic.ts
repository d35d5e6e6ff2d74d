import type { EnvironmentPlan } from '../../shared/deploy';
import { platform, PLATFORM_OPTIONS } from './proxies';
import type { DeployState } from './state';
import { authorityFor } from './trust';

/** Routes `weight` percent of an environment's traffic to the new version. */
export async function setWeight(
  state: DeployState,
  env: EnvironmentPlan,
  weight: number,
  summary?: string,
): Promise<void> {
  const { input, status } = state;
  const authority = authorityFor(state, env);
  const routed = await platform.setTrafficWeight.executeWithOptions(
    { ...PLATFORM_OPTIONS, summary: summary ?? `route ${weight} % of ${env.name} to ${input.version}` },
    [
      {
        deployId: input.deployId,
        environment: env.name,
        service: input.service,
        weight,
        ...(authority ? { authority, version: input.version } : {}),
      },
    ],
  );
  // Older targets (and histories) answer without the field: an exact split.
  if (!routed?.approximate) return;
  if (status.canary?.environment === env.name) status.canary.approximate = true;
  const result = state.result(env.name);
  if (!result.approximateSplit) {
    result.approximateSplit = true;
    state.note(`${env.name} has no traffic router: the target splits by replica counts, so ${weight} % is approximate`);
  }
}
