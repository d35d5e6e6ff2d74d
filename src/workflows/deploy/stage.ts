import type { Outcome, StopCause } from '../../shared/deploy';

/** How one environment's rollout ended. */
export type StageResult = { ok: true } | { ok: false; outcome: Outcome; reason: string; cause: StopCause };

/** Thrown inside a stage to stop it and roll the environment back; the cause is the decision, the reason its text. */
export class StageAborted extends Error {
  constructor(
    readonly stop: StopCause,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Thrown inside a stage when a person promotes: the remaining steps are skipped. */
export class PromoteNow extends Error {
  constructor(readonly by: string) {
    super(`promoted by ${by}`);
  }
}
