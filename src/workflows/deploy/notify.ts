import { CancellationScope, patched, proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { DeployPolicy } from '../../shared/deploy';
import { failureMessage } from '../../shared/errors';
import { NOTIFY_ATTEMPTS } from '../../shared/notify/delivery';
import { uiLink } from '../../shared/ui-link';
import type { DeployEvent, EventType, OpsEvent, Severity } from '../../shared/notify/events';
import { now, type DeployState } from './state';

/** Deploys recorded before notifications schedule no notify activities and no escalation timers. */
const NOTIFY_PATCH = 'notifications';

/**
 * A notification is worth its moment: a few attempts over about two minutes (a 429's Retry-After honoured), then the
 * failure is recorded once. It never blocks the deploy: nothing waits on it but the workflow's very end.
 */
export const NOTIFY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  // The activity beats every 2 s while it sends: a worker killed mid-send is noticed in 10 s, not 30.
  heartbeatTimeout: '10 seconds',
  scheduleToCloseTimeout: '3 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: NOTIFY_ATTEMPTS,
  },
};

const notifier = proxyActivities<Activities>(NOTIFY_OPTIONS);

/** What the deploy tells people about, as the worker's routes want it (evaluated once, when the policy is known). */
export function startNotifications(state: DeployState, policy: DeployPolicy): void {
  if (!patched(NOTIFY_PATCH) || !policy.notify?.events.length) return;
  state.notifications = {
    types: new Set(policy.notify.events),
    escalation: policy.notify.escalation,
    sequence: 0,
    pending: [],
  };
}

/**
 * Tells people an environment was rolled back, as soon as its rollback ends (not when the report is written): where
 * approval is needed it pages. `restored` when every compensation held (stable verified healthy).
 */
export function notifyRollback(
  state: DeployState,
  environment: string,
  facts: { cause: string; reason: string; failures: string[]; protectedEnv: boolean },
): void {
  if (!state.notifications) return;
  const result = state.result(environment);
  const restoredAt = result.restoredAt ? Date.parse(result.restoredAt) : undefined;
  const since = result.failingSince ? Date.parse(result.failingSince) : undefined;
  state.notifications.stopTold = true;
  if (facts.failures.length) {
    notify(state, 'deploy.failed', facts.protectedEnv ? 'critical' : 'warning', {
      environment,
      reason: `${facts.reason}; rollback incomplete: ${facts.failures.join('; ')}`.slice(0, 2000),
    });
    return;
  }
  notify(state, 'deploy.rolled-back', facts.protectedEnv ? 'critical' : 'warning', {
    environment,
    cause: facts.cause,
    reason: facts.reason.slice(0, 2000),
    ...(restoredAt !== undefined && since !== undefined ? { timeToRestoreMs: Math.max(0, restoredAt - since) } : {}),
    restored: true,
  });
}

/** The escalation of an environment's waits: reminders after these times, the pause alert this long before. */
export function escalationOf(
  state: DeployState,
  environment: string,
): { approvalRemindersMs: number[]; pauseAlertBeforeMs?: number } {
  const escalation = state.notifications?.escalation;
  return (
    (escalation && Object.hasOwn(escalation, environment) ? escalation[environment] : undefined) ?? {
      approvalRemindersMs: [],
    }
  );
}

type Fields<T extends EventType> = Omit<
  Extract<DeployEvent, { type: T }>,
  'id' | 'time' | 'project' | 'deployId' | 'service' | 'version' | 'requestedBy' | 'uiUrl' | 'type' | 'severity'
>;

/**
 * Tells people of an event when a route of the worker wants it: the notify activity runs beside the deploy, and what
 * it answers (sent, already there, failed) goes into the timeline and status when it comes. Returns at once.
 */
export function notify<T extends EventType>(state: DeployState, type: T, severity: Severity, fields: Fields<T>): void {
  const notifications = state.notifications;
  if (!notifications?.types.has(type)) return;
  const { input } = state;
  const info = workflowInfo();
  notifications.sequence += 1;
  const event = {
    id: `${info.workflowId}/${info.runId}/${notifications.sequence}`,
    type,
    severity,
    time: now(),
    project: input.project,
    deployId: input.deployId,
    service: input.service,
    version: input.version,
    requestedBy: state.status.requestedBy,
    ...(input.uiUrl ? { uiUrl: uiLink(input.uiUrl, info.namespace, info.workflowId, info.runId) } : {}),
    ...fields,
  } as unknown as OpsEvent;
  const environment = 'environment' in event ? event.environment : undefined;
  // Not cancelled with the deploy: a cancelled or failed deploy is exactly what people must hear of.
  const sent = CancellationScope.nonCancellable(() =>
    notifier.notify.executeWithOptions({ ...NOTIFY_OPTIONS, summary: `notify: ${type}` }, [event]),
  ).then(
    (deliveries) => {
      state.status.notifications ??= [];
      state.status.notifications.push({
        event: type,
        eventId: event.id,
        at: now(),
        ...(environment ? { environment } : {}),
        deliveries,
      });
      for (const d of deliveries) {
        state.note(
          d.ok
            ? `told ${d.channel} of ${type}${d.duplicate ? ' (it had it already)' : ''}`
            : `could not tell ${d.channel} of ${type}: ${d.detail}`,
        );
      }
    },
    (err: unknown) => {
      state.status.notifications ??= [];
      state.status.notifications.push({
        event: type,
        eventId: event.id,
        at: now(),
        ...(environment ? { environment } : {}),
        deliveries: [],
        error: failureMessage(err),
      });
      state.note(`could not notify of ${type}: ${failureMessage(err)}`);
    },
  );
  notifications.pending.push(sent);
}

/** Waits for the notifications still being sent (each bounded by its own timeout), even when the deploy was cancelled. */
export async function settleNotifications(state: DeployState): Promise<void> {
  const pending = state.notifications?.pending;
  if (!pending?.length) return;
  await CancellationScope.nonCancellable(() => Promise.all(pending));
}
