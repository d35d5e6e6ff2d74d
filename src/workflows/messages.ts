import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalRecord, ApproveArgs, DeployStatus, RejectArgs } from '../shared/deploy';

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
