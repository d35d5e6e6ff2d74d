import { CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { uiLink } from '../../shared/ui-link';
import type { OpsEvent, Severity } from '../../shared/notify/events';
import { NOTIFY_OPTIONS } from '../deploy/notify';
import type { AgentRuntime } from './runtime';

/** Agents recorded before notifications tell nobody of their reviews and escalations. */
const AGENT_NOTIFY_PATCH = 'agent-notifications';

const notifier = proxyActivities<Activities>(NOTIFY_OPTIONS);

type AgentEvent = Extract<OpsEvent, { type: 'agent.review' | 'agent.escalation' | 'freeze.changed' }>;
type Fields<T extends AgentEvent['type']> = Omit<
  Extract<AgentEvent, { type: T }>,
  'id' | 'time' | 'project' | 'uiUrl' | 'type' | 'severity'
>;

/**
 * Tells people of the agent's daily review or an escalation (an outage, a security incident, a severe degradation),
 * through the worker's routes: the notify activity runs beside the agent, which only waits for it before it continues
 * as new or ends. A worker that routes the event nowhere sends nothing.
 */
export function notifyAgent<T extends AgentEvent['type']>(
  rt: AgentRuntime,
  type: T,
  severity: Severity,
  fields: Fields<T>,
): void {
  if (!patched(AGENT_NOTIFY_PATCH)) return;
  const info = workflowInfo();
  rt.notifications += 1;
  const event = {
    id: `${info.workflowId}/${info.runId}/${rt.notifications}`,
    type,
    severity,
    time: new Date().toISOString(),
    project: rt.input.project,
    ...(rt.input.uiUrl ? { uiUrl: uiLink(rt.input.uiUrl, info.namespace, info.workflowId, info.runId) } : {}),
    ...fields,
  } as unknown as OpsEvent;
  const sent = CancellationScope.nonCancellable(() =>
    notifier.notify.executeWithOptions({ ...NOTIFY_OPTIONS, summary: `notify: ${type}` }, [event]),
  ).then(
    () => undefined,
    () => undefined,
  );
  rt.pendingNotifications.push(sent);
}

/** Waits for the notifications still being sent (each bounded by its own timeout). */
export async function settleAgentNotifications(rt: AgentRuntime): Promise<void> {
  const pending = rt.pendingNotifications.splice(0);
  if (pending.length) await Promise.all(pending);
}
