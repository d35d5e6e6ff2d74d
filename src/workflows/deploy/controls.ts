import { condition, setHandler } from '@temporalio/workflow';
import {
  controlArgsSchema,
  describeChat,
  type ControlAction,
  type ControlArgs,
  type ControlRecord,
  type EnvironmentPlan,
  type PauseState,
  type Phase,
  mayControl,
} from '../../shared/deploy';
import {
  abortSignal,
  abortUpdate,
  pauseSignal,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  resumeSignal,
  resumeUpdate,
} from '../../shared/deploy/messages';
import { formatDuration } from '../../shared/duration';
import type { ChatVia } from '../../shared/signing';
import { escalationOf, notify } from './notify';
import { guardedSignal } from './signals';
import { PromoteNow, StageAborted } from './stage';
import { now, type DeployState } from './state';
import { environmentPolicy, identify, refuseUndecodable } from './trust';

/** Phases in which the deploy is analysing a release that takes traffic: pause and promote make sense there. */
const ANALYSING: readonly Phase[] = ['VERIFYING', 'CANARY', 'BLUE_GREEN'];
/** Phases in which something of this deploy may take traffic: abort rolls it back. */
const ABORTABLE: readonly Phase[] = ['DEPLOYING', 'VERIFYING', 'CANARY', 'BLUE_GREEN', 'PAUSED'];

const MESSAGES = [
  ['pause', pauseUpdate, pauseSignal],
  ['resume', resumeUpdate, resumeSignal],
  ['promote', promoteUpdate, promoteSignal],
  ['abort', abortUpdate, abortSignal],
] as const;

/** Registers pause, resume, promote and abort: Updates whose validators refuse what makes no sense now, and Signals. */
export function registerControlHandlers(state: DeployState): void {
  for (const [action, update, signal] of MESSAGES) {
    // The handler checks again: validators do not run on replay.
    const checked = (args: ControlArgs) => control(state, action, args, 'update', validateControl(state, action, args));
    setHandler(update, checked, {
      validator: (args) => void validateControl(state, action, args),
    });
    setHandler(
      signal,
      guardedSignal(
        state,
        action,
        (a: ControlArgs) => validateControl(state, action, a),
        (a) => control(state, action, a, 'signal', validateControl(state, action, a)),
      ),
    );
  }
}

/**
 * Refuses an operator action that makes no sense in the current phase, or from someone who may not take it. Answers the
 * chat bridge it came through, when a bridge's signed statement was checked for it.
 */
function validateControl(state: DeployState, action: ControlAction, args: ControlArgs): ChatVia | undefined {
  refuseUndecodable(args);
  const { by } = controlArgsSchema.parse(args);
  const { status, requested } = state;
  const phase = status.phase;
  const id = state.input.deployId;
  if (action === 'pause') {
    if (phase === 'PAUSED') throw new Error(`${id} is already paused (${status.paused?.reason ?? ''})`);
    if (!ANALYSING.includes(phase)) throw new Error(`${id} is ${phase}: only a verification or canary can pause`);
  }
  if (action === 'resume' && phase !== 'PAUSED') throw new Error(`${id} is ${phase}, not paused: nothing to resume`);
  if (action === 'promote' && !ANALYSING.includes(phase) && phase !== 'PAUSED') {
    throw new Error(`${id} is ${phase}: only a running verification, canary or blue-green switch can be promoted`);
  }
  if (action === 'abort' && !ABORTABLE.includes(phase)) {
    const hint = phase === 'AWAITING_APPROVAL' ? ': reject it instead' : '';
    throw new Error(`${id} is ${phase}: nothing runs that an abort could roll back${hint}`);
  }
  if ((action === 'promote' || action === 'abort') && (requested.abort || requested.promote)) {
    const pending = requested.abort ?? requested.promote;
    throw new Error(`${id} is already being ${pending?.action === 'abort' ? 'aborted' : 'promoted'} by ${pending?.by}`);
  }
  const env = state.current();
  if (!env) return undefined;
  const rules = environmentPolicy(state, env);
  if (!rules) {
    // Before the worker's policy: going forward needs the same authority as the approval; stopping is open to anyone.
    if ((action === 'promote' || action === 'resume') && env.approval.approvers.length) {
      if (!env.approval.approvers.includes(by)) {
        throw new Error(`${by} may not ${action} ${env.name}; approvers: ${env.approval.approvers.join(', ')}`);
      }
    }
    return undefined;
  }
  const { person, groups, through } = identify(state, env, action, by, args.signed);
  if (!mayControl(rules, action, person, groups)) {
    const who = rules.controls[action];
    const allowed = who === 'approvers' ? `approvers: ${rules.approvers.join(', ')}` : `allowed: ${String(who)}`;
    throw new Error(`${person} may not ${action} ${env.name}; ${allowed}`);
  }
  return through;
}

function control(
  state: DeployState,
  action: ControlAction,
  args: ControlArgs,
  via: 'update' | 'signal',
  through: ChatVia | undefined,
): ControlRecord {
  const entry: ControlRecord = {
    action,
    by: args.by,
    at: now(),
    via,
    phase: state.status.phase,
    ...(args.reason ? { reason: args.reason } : {}),
    ...(args.signed ? { signedNonce: args.signed.statement.nonce } : {}),
    ...(through ? { through } : {}),
  };
  if (args.signed) state.usedNonces.add(args.signed.statement.nonce);
  state.status.controls.push(entry);
  const env = state.current();
  if (action === 'pause' && env) pause(state, env, 'manual', args.by, args.reason ?? 'no reason given');
  if (action === 'resume') resume(state, entry);
  if (action === 'promote') state.requested.promote = entry;
  if (action === 'abort') state.requested.abort = entry;
  if (action !== 'pause' && action !== 'resume') {
    const chat = through ? ` ${describeChat(through)}` : '';
    state.note(`${action} requested by ${args.by}${chat}${args.reason ? `: "${args.reason}"` : ''} (${via})`);
  }
  return entry;
}

/** Stops the analysis where it is until someone resumes, promotes or aborts, or the pause times out. */
export function pause(
  state: DeployState,
  env: EnvironmentPlan,
  cause: PauseState['cause'],
  by: string,
  reason: string,
): void {
  const paused: PauseState = {
    environment: env.name,
    cause,
    by,
    reason,
    since: now(),
    deadline: new Date(Date.now() + env.pauseTimeoutMs).toISOString(),
    resumePhase: state.status.phase,
  };
  state.status.paused = paused;
  state.enter('PAUSED', `paused by ${by}: ${reason}; waiting until ${paused.deadline} for resume, promote or abort`);
  notify(state, 'canary.paused', 'warning', {
    environment: env.name,
    cause,
    by,
    reason: reason.slice(0, 1000),
    deadline: paused.deadline,
  });
}

function resume(state: DeployState, entry: ControlRecord): void {
  const back = state.status.paused?.resumePhase ?? 'CANARY';
  state.status.paused = undefined;
  const chat = entry.through ? ` ${describeChat(entry.through)}` : '';
  state.enter(back, `resumed by ${entry.by}${chat}${entry.reason ? `: "${entry.reason}"` : ''} (${entry.via})`);
}

/** True when a person (or the analysis) asked the running stage to stop where it is. */
export function interrupted(state: DeployState): boolean {
  return state.requested.abort !== undefined || state.requested.promote !== undefined || !!state.status.paused;
}

/**
 * Acts on what a person (or the analysis) asked for: waits while paused, up to the pause timeout; then an abort
 * throws StageAborted and a promote throws PromoteNow.
 */
export async function honourControls(state: DeployState, env: EnvironmentPlan): Promise<void> {
  const { status, requested } = state;
  if (status.paused && !requested.abort && !requested.promote) {
    const paused = status.paused;
    const answered = () => !status.paused || !!requested.abort || !!requested.promote;
    const summary = `paused: wait up to ${formatDuration(env.pauseTimeoutMs)} for resume, promote or abort`;
    // Before the pause timeout rolls the canary back, the pause is sent again as critical (it pages).
    const alertBefore = escalationOf(state, env.name).pauseAlertBeforeMs;
    let decided = false;
    if (alertBefore !== undefined && alertBefore < env.pauseTimeoutMs) {
      decided = await condition(answered, env.pauseTimeoutMs - alertBefore, { summary });
      if (!decided) {
        notify(state, 'canary.paused', 'critical', {
          environment: env.name,
          cause: paused.cause,
          by: paused.by,
          reason: `rolls back in ${formatDuration(alertBefore)} unless someone decides: ${paused.reason}`.slice(
            0,
            1000,
          ),
          deadline: paused.deadline,
        });
        decided = await condition(answered, alertBefore, { summary: `paused: ${formatDuration(alertBefore)} left` });
      }
    } else {
      decided = await condition(answered, env.pauseTimeoutMs, { summary });
    }
    if (!decided) {
      const result = state.result(env.name);
      result.failingSince ??= paused.since;
      throw new StageAborted(
        { kind: 'pause-timeout', pause: paused.cause, by: paused.by, timeoutMs: env.pauseTimeoutMs },
        `paused for ${formatDuration(env.pauseTimeoutMs)} without a decision (pauseTimeout): ${status.paused?.reason ?? ''}`,
      );
    }
  }
  if (requested.abort) {
    const { by, reason, at } = requested.abort;
    state.result(env.name).failingSince ??= at;
    throw new StageAborted(
      { kind: 'abort', by, ...(reason ? { reason } : {}) },
      `aborted by ${by}${reason ? `: ${reason}` : ''}`,
    );
  }
  if (requested.promote) throw new PromoteNow(requested.promote.by);
}

/** Sleeps for `ms`, waking early when a person pauses, promotes or aborts. */
export async function bake(state: DeployState, ms: number, summary: string): Promise<void> {
  await condition(() => interrupted(state), ms, { summary });
}
