import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { ErrorType } from '../../shared/errors';

/**
 * Calls that change a target: retried patiently, except for errors no retry can fix. The activity heartbeats while the
 * target works (activities/alive.ts): a worker that dies mid-call is noticed within 2 s, not at the minute's end.
 */
export const PLATFORM_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '2 seconds',
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [ErrorType.UnknownRelease, ErrorType.TargetConflict, ErrorType.InvalidRequest],
  },
};

/**
 * Rollback must not give up: it retries until it succeeds or an hour has passed. A worker that dies mid-step is noticed
 * within a second (heartbeats while the target works) and the step retried 200 ms later, on another worker.
 */
export const ROLLBACK_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '1 second',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '5 seconds' }, // unlimited attempts
};

/** A sample is only worth its freshness: one retry, then the sample counts as unmeasured (a dead worker: after 2 s). */
export const MEASURE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  heartbeatTimeout: '2 seconds',
  retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '1 second', maximumAttempts: 2 },
};

/** Planning and reporting read and write files: quick, retried a few times. */
export const LOCAL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '20 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [ErrorType.UnknownRelease, ErrorType.InvalidRequest],
  },
};

/** The target's operations: start, route, promote. */
export const platform = proxyActivities<Activities>(PLATFORM_OPTIONS);
/** The rollback saga's compensations. */
export const rollbackActivities = proxyActivities<Activities>(ROLLBACK_OPTIONS);
/** Samples. */
export const metrics = proxyActivities<Activities>(MEASURE_OPTIONS);
/** Planning and the handoff report. */
export const local = proxyActivities<Activities>(LOCAL_OPTIONS);
