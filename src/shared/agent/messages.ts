import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AgentEventArgs, AgentStatus, DeployAccepted, DeployRequestArgs, RecordedEvent, StopArgs } from '.';
import type { FreezeEndArgs, FreezeStartArgs, IncidentFreeze } from './freeze';

/** Starts a deploy as a child of the agent; the validator refuses malformed input and requests to a stopping agent. */
export const requestDeployUpdate = defineUpdate<DeployAccepted, [DeployRequestArgs]>('requestDeploy');
/** Records an infrastructure event; a critical alert aborts the running deploys of its service. */
export const recordEventUpdate = defineUpdate<RecordedEvent, [AgentEventArgs]>('recordEvent');
/** The same event as a Signal, for the UI and `temporal workflow signal`. */
export const eventSignal = defineSignal<[AgentEventArgs]>('recordEvent');
/** Termination request: no new deploys, running ones finish, then the final report. */
export const stopUpdate = defineUpdate<AgentStatus, [StopArgs]>('stop');
/** The same termination request as a Signal. */
export const stopSignal = defineSignal<[StopArgs]>('stop');
/** Runs the self-review now, for the window since the last one; the daily schedule is unchanged. */
export const reviewNowUpdate = defineUpdate<{ date: string; file: string } | undefined, [{ by: string }]>('reviewNow');
/** Started, deadlines, figures, running deploys, recent events. */
export const agentStatusQuery = defineQuery<AgentStatus>('agentStatus');
/** Stops the line: a signed incident freeze of an environment (or every protected one) until someone ends it. */
export const freezeUpdate = defineUpdate<IncidentFreeze, [FreezeStartArgs]>('freeze');
/** Ends an incident freeze, signed by an approver of what it holds. */
export const unfreezeUpdate = defineUpdate<IncidentFreeze, [FreezeEndArgs]>('unfreeze');
/** The incident freezes in force (what a deploy, and the activity that would start a release, ask). */
export const freezesQuery = defineQuery<IncidentFreeze[]>('freezes');
