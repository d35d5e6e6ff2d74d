import type { EnvironmentPlan } from '../../../shared/deploy';
import { blueGreen } from './blue-green';
import { canary } from './canary';
import { direct } from './direct';
import type { Strategy } from './strategy';

/** Every strategy an environment can name, behind one signature. */
export const STRATEGIES: Record<EnvironmentPlan['strategy'], Strategy> = {
  direct,
  canary,
  'blue-green': blueGreen,
};
export type { Strategy };
