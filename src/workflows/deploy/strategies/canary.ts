import { formatDuration } from '../../../shared/duration';
import { analyse } from '../analysis';
import { notify } from '../notify';
import { setWeight } from '../traffic';
import type { Strategy } from './strategy';

/** The traffic ramp: each step's weight, then analysis for its bake. */
export const canary: Strategy = async (state, env, stable) => {
  const steps = env.steps.length;
  for (const [i, step] of env.steps.entries()) {
    state.status.canary = { environment: env.name, step: i + 1, steps, weight: step.weight };
    await setWeight(state, env, step.weight);
    state.enter('CANARY', `step ${i + 1}/${steps}: ${step.weight} % for ${formatDuration(step.bake)}`);
    await analyse(state, { env, step: i, weight: step.weight, durationMs: step.bake, stable });
    state.note(`step ${i + 1}/${steps} passed at ${step.weight} %`);
    notify(state, 'canary.step-passed', 'info', { environment: env.name, step: i + 1, steps, weight: step.weight });
  }
};
