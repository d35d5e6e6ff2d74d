import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/common';

/**
 * The one error vocabulary: the `type` of every ApplicationFailure opsflow throws, used alike by activities (to
 * throw), retry policies (nonRetryableErrorTypes), workflows and the CLI (to branch). Code branches on these,
 * never on message text. The values are wire names recorded in histories: never change one.
 */
export const ErrorType = {
  /** The service has no such release in the target's artifact store or registry. */
  UnknownRelease: 'UnknownRelease',
  /**
   * The target refused an operation because its state does not allow it: another deploy's canary is in the way,
   * there is no canary to route to, the version is already stable. Never retried; the rollback saga reads it as
   * "nothing of this deploy takes traffic". (The wire name predates targets other than the local platform.)
   */
  TargetConflict: 'PlatformConflict',
  /** A request an activity or target cannot act on as asked (bad arguments, an unknown environment). */
  InvalidRequest: 'InvalidRequest',
  /** A workflow's input failed validation. */
  InvalidInput: 'InvalidInput',
  /** A deploy ended as failed; its details carry the DeployResult. */
  DeployFailed: 'DeployFailed',
  /** The stable version is unhealthy after a rollback. */
  StableUnhealthy: 'StableUnhealthy',
  /** The request would loosen the worker's approval policy. */
  PolicyRefused: 'PolicyRefused',
  /** No configured LLM could answer: the caller falls back to the offline result. */
  LlmUnavailable: 'LlmUnavailable',
} as const;
export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** The `type` of the first ApplicationFailure in a failure's cause chain (ActivityFailure, ChildWorkflowFailure, ...). */
export function failureType(err: unknown): string | undefined {
  return applicationFailure(err)?.type ?? undefined;
}

/** True when the failure, or a cause of it, is an ApplicationFailure of the given type. */
export function isFailureOfType(err: unknown, type: ErrorTypeName): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type === type) return true;
  }
  return false;
}

/** The first ApplicationFailure in a failure's cause chain. */
export function applicationFailure(err: unknown): ApplicationFailure | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure) return e;
  }
  return undefined;
}

/** The message a person reads: past the wrappers (activity, child workflow) that only say where it failed. */
export function failureMessage(err: unknown): string {
  let e = err;
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
