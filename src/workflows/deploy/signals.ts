import type { DeployState } from './state';

/**
 * A Signal cannot be refused before it reaches history: an invalid one runs the same validator as its Update, is
 * ignored, and the timeline says why.
 */
export function guardedSignal<A>(
  state: DeployState,
  name: string,
  validate: (args: A) => void,
  apply: (args: A) => unknown,
): (args: A) => void {
  return (args: A) => {
    try {
      validate(args);
      apply(args);
    } catch (err) {
      state.note(`ignored ${name} signal: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}
