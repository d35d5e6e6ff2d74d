import type { EnvironmentPlan } from '../../shared/deploy';
import { platform, PLATFORM_OPTIONS } from './proxies';
import type { DeployState } from './state';

/** Routes `weight` percent of an environment's traffic to the new version. */
export async function setWeight(
  state: DeployState,
  env: EnvironmentPlan,
  weight: number,
  summary?: string,
): Promise<void> {
  const { input } = state;
  await platform.setTrafficWeight.executeWithOptions(
    { ...PLATFORM_OPTIONS, summary: summary ?? `route ${weight} % of ${env.name} to ${input.version}` },
    [{ deployId: input.deployId, environment: env.name, service: input.service, weight }],
  );
}
