import { getExternalWorkflowHandle, log, patched, setHandler } from '@temporalio/workflow';
import { agentEventArgsSchema, applyEvent, type AgentEventArgs, type RecordedEvent } from '../../shared/agent';
import { eventSignal, recordEventUpdate } from '../../shared/agent/messages';
import { abortSignal } from '../../shared/deploy/messages';
import { freezeFromEvent } from './freeze';
import { notifyAgent } from './notify';
import { now, parseOrRefuse, undecodableSignal, type AgentRuntime } from './runtime';

/** Agents recorded before incident freezes neither raised nor lifted one on an event. */
const INCIDENT_FREEZE_PATCH = 'incident-freeze';

/** Infrastructure events, as an Update and a Signal: a critical one naming a service aborts its running deploys. */
export function registerEventHandlers(rt: AgentRuntime): void {
  const recordEvent = (args: AgentEventArgs) => record(rt, args);
  setHandler(recordEventUpdate, recordEvent, {
    validator: (args) => {
      parseOrRefuse(agentEventArgsSchema, args);
      if (rt.ending) throw new Error('the agent is ending: send the event again and a new agent starts');
    },
  });
  // Signals cannot be refused before they reach history: an invalid one is logged and dropped.
  setHandler(eventSignal, async (args) => {
    if (undecodableSignal('event', args)) return;
    const checked = agentEventArgsSchema.safeParse(args);
    if (!checked.success) return log.warn('ignored invalid event signal', { issue: checked.error.issues[0]?.message });
    await recordEvent(checked.data);
  });
}

async function record(rt: AgentRuntime, args: AgentEventArgs): Promise<RecordedEvent> {
  const { state } = rt;
  rt.touch();
  state.eventCount += 1;
  const actions: string[] = [];
  let aborted = 0;
  const firing = args.status !== 'resolved';
  if (firing && args.severity === 'critical' && args.service) {
    // The spec's IMMEDIATE ROLLBACK: a critical alert on a service stops its running deploys.
    const targets = state.running.filter((r) => r.service === args.service && !r.abortedAt);
    for (const r of targets) r.abortedAt = now();
    await Promise.all(
      targets.map(async (r) => {
        try {
          await getExternalWorkflowHandle(r.deployId).signal(abortSignal, {
            by: 'ops-agent',
            reason: `critical ${args.type}: ${args.message}`,
          });
          aborted += 1;
          actions.push(`aborted ${r.deployId}`);
        } catch (err) {
          actions.push(`could not abort ${r.deployId}: ${(err as Error).message}`);
        }
      }),
    );
  }
  // Stop the line: a critical incident freezes, its resolution lifts the freeze (agents before incident freezes did not).
  const freezes = !firing || (args.type === 'incident' && args.severity === 'critical');
  if (freezes && patched(INCIDENT_FREEZE_PATCH)) actions.push(...(await freezeFromEvent(rt, args, state.eventCount)));
  const recorded: RecordedEvent = { ...args, id: state.eventCount, at: now(), actions };
  // The spec's escalation triggers (downtime, outages, security incidents, severe degradation): an immediate alert.
  if (firing && args.severity === 'critical') {
    notifyAgent(rt, 'agent.escalation', 'critical', {
      kind: args.type,
      summary: `${args.message}${actions.length ? ` (${actions.join('; ')})` : ''}`.slice(0, 2000),
      source: args.by ?? args.service ?? 'an infrastructure event',
    });
  }
  applyEvent(state, recorded, aborted, rt.config.keep);
  log.info('event recorded', { type: args.type, severity: args.severity, actions });
  rt.describe();
  return recorded;
}
