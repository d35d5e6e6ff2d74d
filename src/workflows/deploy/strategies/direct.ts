import { formatDuration } from '../../../shared/duration';
import { analyse } from '../analysis';
import { setWeight } from '../traffic';
import type { Strategy } from './strategy';

/** All traffic to the new version at once, then verified by analysis for `verify`. */
export const direct: Strategy = async (state, env, stable) => {
  await setWeight(state, env, 100);
  state.enter('VERIFYING', `verifying ${env.name} for ${formatDuration(env.verifyMs)}`);
  await analyse(state, { env, step: -1, weight: 100, durationMs: env.verifyMs, stable });
};
