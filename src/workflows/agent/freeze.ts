import {
  ActivityFailure,
  ApplicationFailure,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import {
  freezeEndArgsSchema,
  freezeStartArgsSchema,
  freezeScope,
  freezeSubject,
  foldSecurity,
  noSuchFreeze,
  type AgentEventArgs,
  type IncidentFreeze,
  type RecordedEvent,
} from '../../shared/agent';
import { freezesQuery, freezeUpdate, unfreezeUpdate } from '../../shared/agent/messages';
import { freezeChangedSignal } from '../../shared/deploy/messages';
import { ErrorType, failureMessage, isFailureOfType } from '../../shared/errors';
import type { SignedStatement } from '../../shared/signing';
import { notifyAgent } from './notify';
import { now, parseOrRefuse, type AgentRuntime } from './runtime';

/** Ended freezes kept for the status; statement nonces remembered (statements expire in minutes). */
const KEEP_ENDED = 10;
const KEEP_NONCES = 200;

/** Checking a freeze statement against the worker's policy: quick; a refusal is final. */
const checks = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [ErrorType.PolicyRefused, ErrorType.InvalidRequest],
  },
});

/**
 * Incident freezes (stop the line): `freeze` and `unfreeze` Updates, signed by an approver of what they hold and checked
 * by the worker against its own policy; the `freezes` query deploys and the worker's activities ask. The agent raises
 * and lifts its own from critical incident events ({@link freezeFromEvent}).
 */
export function registerFreezeHandlers(rt: AgentRuntime): void {
  const { state } = rt;
  setHandler(freezesQuery, () => state.freezes ?? []);

  const refuseNonce = (signed: SignedStatement | undefined) => {
    if (signed && state.freezeNonces?.includes(signed.statement.nonce)) {
      throw new Error('this signed statement was already used: sign again');
    }
  };
  setHandler(
    freezeUpdate,
    async (raw) => {
      const args = parseOrRefuse(freezeStartArgsSchema, raw);
      const person = await checkFreeze(rt, {
        action: 'freeze',
        ...(args.environment ? { environment: args.environment } : {}),
        by: args.by,
        subject: freezeSubject(args),
        ...(args.signed ? { signed: args.signed } : {}),
      });
      refuseNonce(args.signed);
      remember(rt, args.signed);
      return raise(rt, {
        ...(args.environment ? { environment: args.environment } : {}),
        reason: args.reason,
        raisedBy: person,
        source: 'person',
        ...(args.signed ? { signedNonce: args.signed.statement.nonce } : {}),
      });
    },
    {
      validator: (raw) => {
        const args = parseOrRefuse(freezeStartArgsSchema, raw);
        if (rt.ending) throw new Error('the agent is ending: send the freeze again and a new agent starts');
        refuseNonce(args.signed);
      },
    },
  );
  setHandler(
    unfreezeUpdate,
    async (raw) => {
      const args = parseOrRefuse(freezeEndArgsSchema, raw);
      const freeze = held(rt, args.id);
      const person = await checkFreeze(rt, {
        action: 'unfreeze',
        ...(freeze.environment ? { environment: freeze.environment } : {}),
        by: args.by,
        subject: freezeSubject({ id: args.id }),
        ...(args.signed ? { signed: args.signed } : {}),
      });
      refuseNonce(args.signed);
      remember(rt, args.signed);
      return (await lift(rt, held(rt, args.id), person, args.reason)) ?? freeze;
    },
    {
      validator: (raw) => {
        const args = parseOrRefuse(freezeEndArgsSchema, raw);
        held(rt, args.id);
        refuseNonce(args.signed);
      },
    },
  );
}

/** The freeze in force with this id, or a one-line refusal naming the ones that are. */
function held(rt: AgentRuntime, id: string): IncidentFreeze {
  const freezes = rt.state.freezes ?? [];
  const found = freezes.find((f) => f.id === id);
  if (found) return found;
  throw new Error(noSuchFreeze(id, freezes));
}

function remember(rt: AgentRuntime, signed: SignedStatement | undefined): void {
  if (!signed) return;
  rt.state.freezeNonces = [...(rt.state.freezeNonces ?? []), signed.statement.nonce].slice(-KEEP_NONCES);
}

/** The worker's check of a freeze request: the person it proves, or the Update fails with the worker's one line. */
async function checkFreeze(rt: AgentRuntime, request: Parameters<Activities['checkFreeze']>[0]): Promise<string> {
  try {
    const { person } = await checks.checkFreeze.executeWithOptions(
      { startToCloseTimeout: '30 seconds', summary: `check ${request.by}'s ${request.action}` },
      [request],
    );
    return person;
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    log.warn('freeze request refused', { action: request.action, by: request.by });
    // The worker refused the statement (not merely failed to check it): a security fact of the day.
    if (isFailureOfType(cause, ErrorType.PolicyRefused)) {
      rt.state.totals = foldSecurity(rt.state.totals, { forgeriesRefused: 1 });
      rt.state.day = foldSecurity(rt.state.day, { forgeriesRefused: 1 });
    }
    throw ApplicationFailure.create({
      type: ErrorType.PolicyRefused,
      message: `the worker refuses: ${failureMessage(cause)}`,
      nonRetryable: true,
    });
  }
}

/** Raises an incident freeze: kept, announced, and the running deploys told to look. */
async function raise(rt: AgentRuntime, fields: Omit<IncidentFreeze, 'id' | 'raisedAt'>): Promise<IncidentFreeze> {
  const { state } = rt;
  state.freezeCount = (state.freezeCount ?? 0) + 1;
  const freeze: IncidentFreeze = { id: `incident-${state.freezeCount}`, raisedAt: now(), ...fields };
  state.freezes = [...(state.freezes ?? []), freeze];
  log.info('incident freeze raised', { id: freeze.id, environment: freeze.environment, by: freeze.raisedBy });
  notifyAgent(rt, 'freeze.changed', 'warning', {
    change: 'started',
    freezeId: freeze.id,
    ...(freeze.environment ? { environment: freeze.environment } : {}),
    reason: freeze.reason,
    by: freeze.raisedBy,
  });
  rt.touch();
  rt.describe();
  await tellDeploys(rt);
  return freeze;
}

/** Lifts an incident freeze (still in force: another request may have lifted it meanwhile). */
async function lift(
  rt: AgentRuntime,
  freeze: IncidentFreeze,
  by: string,
  reason: string | undefined,
): Promise<IncidentFreeze | undefined> {
  const { state } = rt;
  if (!(state.freezes ?? []).some((f) => f.id === freeze.id)) return undefined;
  state.freezes = (state.freezes ?? []).filter((f) => f.id !== freeze.id);
  state.endedFreezes = [...(state.endedFreezes ?? []), { ...freeze, endedAt: now(), endedBy: by }].slice(-KEEP_ENDED);
  log.info('incident freeze lifted', { id: freeze.id, by });
  notifyAgent(rt, 'freeze.changed', 'info', {
    change: 'ended',
    freezeId: freeze.id,
    ...(freeze.environment ? { environment: freeze.environment } : {}),
    reason: reason ?? '',
    by,
  });
  rt.touch();
  rt.describe();
  await tellDeploys(rt);
  return freeze;
}

/** Tells the running deploys a freeze changed, so one held asks again now; one that cannot be told asks later. */
async function tellDeploys(rt: AgentRuntime): Promise<void> {
  await Promise.all(
    rt.state.running.map((r) =>
      getExternalWorkflowHandle(r.deployId)
        .signal(freezeChangedSignal)
        .catch((err: unknown) => log.warn('could not tell a deploy of the freeze', { deployId: r.deployId, err })),
    ),
  );
}

/**
 * What a recorded infrastructure event does to incident freezes: a critical incident that fires freezes the environment
 * it names (every protected one when it names none), once per incident key; the event with the same key and status
 * `resolved` lifts the freeze it raised. Answers what it did, for the event's actions.
 */
export async function freezeFromEvent(
  rt: AgentRuntime,
  args: AgentEventArgs,
  id: RecordedEvent['id'],
): Promise<string[]> {
  const { state } = rt;
  const key = args.key ?? `event-${id}`;
  if (args.status === 'resolved') {
    const raised = (state.freezes ?? []).filter((f) => f.source === 'event' && f.key === key);
    for (const freeze of raised) await lift(rt, freeze, args.by ?? 'the resolving event', args.message);
    return raised.map((f) => `lifted the freeze ${f.id}`);
  }
  if (args.type !== 'incident' || args.severity !== 'critical') return [];
  if ((state.freezes ?? []).some((f) => f.source === 'event' && f.key === key)) return [];
  const freeze = await raise(rt, {
    ...(args.environment ? { environment: args.environment } : {}),
    reason: args.message.slice(0, 500),
    raisedBy: args.by ?? 'ops-agent',
    source: 'event',
    key,
  });
  return [`froze ${freezeScope(freeze.environment)} (${freeze.id})`];
}
