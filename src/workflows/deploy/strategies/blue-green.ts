import { formatDuration } from '../../../shared/duration';
import { analyse } from '../analysis';
import { setWeight } from '../traffic';
import type { Strategy } from './strategy';

/**
 * Green beside blue (health-checked by the target before it counts as started), all traffic switched at once,
 * verified by analysis; then blue is kept warm while analysis goes on, so a switch back is instant; then blue retires
 * with the promotion.
 */
export const blueGreen: Strategy = async (state, env, blue) => {
  const { version } = state.input;
  const { verifyMs, keepBlueMs } = env.blueGreen;
  const stage = { environment: env.name, blue, green: version, stage: 'green-started' as const };
  state.status.blueGreen = stage;
  state.note(`green ${version} is up beside blue ${blue ?? '(none)'}`);
  await setWeight(state, env, 100, `switch 100 % of ${env.name} to green ${version}`);
  state.status.blueGreen = { ...stage, stage: 'switched' };
  state.enter('BLUE_GREEN', `switched ${env.name} to green ${version}; verifying for ${formatDuration(verifyMs)}`);
  await analyse(state, { env, step: 0, weight: 100, durationMs: verifyMs, stable: blue });
  if (keepBlueMs > 0) {
    const until = new Date(Date.now() + keepBlueMs).toISOString();
    state.status.blueGreen = { ...stage, stage: 'blue-warm', keepBlueUntil: until };
    state.note(`green verified; blue ${blue ?? ''} stays warm until ${until} for an instant switch back`);
    await analyse(state, { env, step: 1, weight: 100, durationMs: keepBlueMs, stable: blue });
  }
};
