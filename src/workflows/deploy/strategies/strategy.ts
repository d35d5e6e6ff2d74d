import type { EnvironmentPlan } from '../../../shared/deploy';
import type { DeployState } from '../state';

/**
 * How the new version takes over one environment once it has started beside the stable one: routes traffic and
 * analyses it until the environment is ready to promote. Throws StageAborted to roll back, PromoteNow to promote now.
 */
export type Strategy = (state: DeployState, env: EnvironmentPlan, stable: string | null) => Promise<void>;
