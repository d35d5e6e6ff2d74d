import { describeUndecodable, isUndecodable } from '../../shared/undecodable';
import type { DeployState } from './state';

/**
 * A Signal cannot be refused before it reaches history: an invalid one runs the same validator as its Update, is
 * ignored, and the timeline says why. One whose payload could not be decoded arrives as the Undecodable sentinel
 * (src/temporal/payload-converter.ts) and is ignored before the validator sees it.
 */
export function guardedSignal<A>(
  state: DeployState,
  name: string,
  validate: (args: A) => void,
  apply: (args: A) => unknown,
): (args: A) => void {
  return (args: A) => {
    if (isUndecodable(args)) {
      state.note(`ignored ${name} signal: ${describeUndecodable(args)}`);
      return;
    }
    try {
      validate(args);
      apply(args);
    } catch (err) {
      state.note(`ignored ${name} signal: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}
