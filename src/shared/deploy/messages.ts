import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ApprovalRecord,
  ApproveArgs,
  ControlArgs,
  ControlRecord,
  DeployResult,
  DeployStatus,
  RejectArgs,
} from '.';

/** Approves the waiting environment; the validator refuses unlisted approvers and out-of-phase calls. */
export const approveUpdate = defineUpdate<ApprovalRecord, [ApproveArgs]>('approve');
/** Rejects the waiting environment: the deploy ends as cancelled. */
export const rejectUpdate = defineUpdate<ApprovalRecord, [RejectArgs]>('reject');
/** The same approval as a Signal, so `temporal workflow signal` and the UI can send it. */
export const approveSignal = defineSignal<[ApproveArgs]>('approve');
/** The same rejection as a Signal. */
export const rejectSignal = defineSignal<[RejectArgs]>('reject');
/** The whole status: phase, step, weight, last analysis, approvals and timeline. */
export const statusQuery = defineQuery<DeployStatus>('status');

/** Pauses a running canary or verification: it neither promotes nor rolls back until resumed. */
export const pauseUpdate = defineUpdate<ControlRecord, [ControlArgs]>('pause');
/** Resumes a paused deploy where it stopped. */
export const resumeUpdate = defineUpdate<ControlRecord, [ControlArgs]>('resume');
/** Skips the remaining canary steps and promotes the new version now. */
export const promoteUpdate = defineUpdate<ControlRecord, [ControlArgs]>('promote');
/** Stops the deploy and rolls the environment back. */
export const abortUpdate = defineUpdate<ControlRecord, [ControlArgs]>('abort');
/** The same actions as Signals, for the UI, `temporal workflow signal` and other workflows (the ops agent). */
export const pauseSignal = defineSignal<[ControlArgs]>('pause');
export const resumeSignal = defineSignal<[ControlArgs]>('resume');
export const promoteSignal = defineSignal<[ControlArgs]>('promote');
export const abortSignal = defineSignal<[ControlArgs]>('abort');

/** Signs a break-glass override of the freeze holding the deploy; enough of them (the freeze's breakGlass) let it go. */
export const overrideUpdate = defineUpdate<ControlRecord, [ControlArgs]>('override');
export const overrideSignal = defineSignal<[ControlArgs]>('override');
/**
 * Sent by the project's agent when an incident freeze starts or ends: a deploy held by one asks again at once instead of
 * at its next check. It carries nothing: what holds is read from the agent, never from the signal.
 */
export const freezeChangedSignal = defineSignal<[]>('freezeChanged');

/**
 * Sent by a deploy that runs as a child workflow to its parent (the ops agent) when it has ended and written its
 * report, so the parent learns the outcome even across its own continue-as-new.
 */
export const deployFinishedSignal = defineSignal<[DeployResult]>('deployFinished');
