import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { AgentActivities } from '../../activities/agent';
import { ErrorType } from '../../shared/errors';

/** Writing docs: quick, retried a few times; a failing write never stops the agent. */
export const DOCS_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '20 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [ErrorType.InvalidRequest],
  },
};

/** The review's measures: a vulnerability scan may take minutes (security.timeout, at most 5); tried twice. */
export const MEASURE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '6 minutes',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 2,
    nonRetryableErrorTypes: [ErrorType.InvalidRequest],
  },
};

/** The agent's activities: feedback loop, self-review, deploy checks, final report. */
export const acts = proxyActivities<AgentActivities>(DOCS_OPTIONS);
