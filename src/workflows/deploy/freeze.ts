import { condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { IncidentFreeze } from '../../shared/agent/freeze';
import {
  DEFAULT_INCIDENT_BREAK_GLASS,
  holdingFreeze,
  controlArgsSchema,
  type ControlArgs,
  type ControlRecord,
  type EnvironmentPlan,
} from '../../shared/deploy';
import { freezeChangedSignal, overrideSignal, overrideUpdate } from '../../shared/deploy/messages';
import { failureMessage } from '../../shared/errors';
import { formatDuration } from '../../shared/duration';
import type { SignedStatement } from '../../shared/signing';
import { notify } from './notify';
import { guardedSignal } from './signals';
import { now, type DeployState } from './state';
import { identify, needsApproval, refuseUndecodable, requireApprover } from './trust';

/** Deploys recorded before freeze windows never waited for one. */
const FREEZE_PATCH = 'freeze-windows';
/** Deploys recorded before incident freezes never asked the project's agent for one. */
const INCIDENT_PATCH = 'incident-freeze';

/**
 * Reading the agent's freezes: a quick activity, retried briefly; the release's start checks again anyway. Not a local
 * activity: the SDK records a local activity's result in a marker its payload codec does not encrypt, and a freeze's
 * reason is a person's words.
 */
const LOOKUP_OPTIONS = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 4 },
};
const lookups = proxyActivities<Activities>(LOOKUP_OPTIONS);

/**
 * Registers `override`: a signed break-glass override of the freeze holding the deploy, by an approver of the frozen
 * environment, each person once; the freeze's `breakGlass` of them let the deploy go. An Update with a validator, and a
 * Signal for the UI and `temporal workflow signal`.
 */
export function registerFreezeHandlers(state: DeployState): void {
  const validate = (args: ControlArgs): { person: string; signed?: SignedStatement } => {
    refuseUndecodable(args);
    const parsed = controlArgsSchema.parse(args);
    const frozen = state.status.frozen;
    const env = state.rollout.find((e) => e.name === frozen?.environment);
    if (state.status.phase !== 'FROZEN' || !frozen || !env) {
      throw new Error(`${state.input.deployId} is ${state.status.phase}, not held by a freeze: nothing to override`);
    }
    const { person, groups } = identify(state, env, 'override', parsed.by, parsed.signed);
    requireApprover(state, env, person, groups);
    if (frozen.overriddenBy.includes(person)) {
      throw new Error(`${person} already signed an override: ${frozen.breakGlass} must come from different people`);
    }
    return { person, ...(parsed.signed ? { signed: parsed.signed } : {}) };
  };
  const record = (args: ControlArgs, via: 'update' | 'signal'): ControlRecord => {
    const { person, signed } = validate(args);
    const frozen = state.status.frozen;
    const entry: ControlRecord = {
      action: 'override',
      by: person,
      at: now(),
      via,
      phase: state.status.phase,
      ...(args.reason ? { reason: args.reason } : {}),
      ...(signed ? { signedNonce: signed.statement.nonce } : {}),
    };
    state.status.controls.push(entry);
    if (signed) {
      state.usedNonces.add(signed.statement.nonce);
      const environment = frozen?.environment ?? '';
      state.overrideEvidence.set(environment, [...(state.overrideEvidence.get(environment) ?? []), signed]);
    }
    frozen?.overriddenBy.push(person);
    state.note(
      `break-glass override of the freeze "${frozen?.freeze}" by ${person} (${frozen?.overriddenBy.length} of ` +
        `${frozen?.breakGlass})${args.reason ? `: "${args.reason}"` : ''}`,
    );
    return entry;
  };
  setHandler(overrideUpdate, (args) => record(args, 'update'), { validator: (args) => void validate(args) });
  setHandler(freezeChangedSignal, () => {
    state.freezeChanged = true;
  });
  setHandler(
    overrideSignal,
    guardedSignal(state, 'override', validate, (args) => record(args, 'signal')),
  );
}

/** How often a deploy held by an incident freeze asks again when the agent does not signal a change. */
const INCIDENT_RECHECK_MS = 5 * 60_000;

/** The incident freezes of the worker's project, or none (and a note) when they cannot be read. */
async function incidentFreezes(state: DeployState): Promise<IncidentFreeze[]> {
  try {
    return await lookups.incidentFreezes.executeWithOptions(
      { ...LOOKUP_OPTIONS, summary: 'the incident freezes of the project' },
      [],
    );
  } catch (err) {
    state.note(
      `could not read the incident freezes (${failureMessage(err)}): the release's start asks the agent again itself`,
    );
    return [];
  }
}

/**
 * Holds the deploy while a freeze holds the environment: a window of the worker's policy, or an incident freeze of the
 * project's agent. It says so (phase FROZEN, the freeze and when it ends, a freeze.waiting notification) and goes on
 * when the freeze lifts (a window's end; the agent's signal, or the next check, for an incident), or when enough
 * approvers signed a break-glass override. Judged again on waking: windows may follow one another.
 */
export async function holdForFreeze(state: DeployState, env: EnvironmentPlan): Promise<void> {
  const configured = state.policy?.freezes;
  const windows = configured?.length && patched(FREEZE_PATCH) ? configured : [];
  const asksAgent = patched(INCIDENT_PATCH);
  if (!windows.length && !asksAgent) return;
  const overridden = () => (state.status.frozen?.overriddenBy.length ?? 0) >= (state.status.frozen?.breakGlass ?? 1);
  const protectedEnv = needsApproval(state, env);
  const incidentBreakGlass = state.policy?.incidentBreakGlass ?? DEFAULT_INCIDENT_BREAK_GLASS;
  for (;;) {
    const incidents = asksAgent ? await incidentFreezes(state) : [];
    const freeze = holdingFreeze(windows, incidents, env.name, protectedEnv, Date.now(), incidentBreakGlass);
    if (!freeze) break;
    const until = freeze.untilMs === undefined ? undefined : new Date(freeze.untilMs).toISOString();
    const previous = state.status.frozen;
    const overriddenBy = previous?.environment === env.name ? previous.overriddenBy : [];
    state.status.frozen = {
      environment: env.name,
      freeze: freeze.name,
      ...(until ? { until } : {}),
      breakGlass: freeze.breakGlass,
      overriddenBy,
    };
    if (overridden()) break;
    // An incident freeze still holding after a check is not announced again; a window is (as before incident freezes).
    if (freeze.untilMs !== undefined || previous?.freeze !== freeze.name || previous.environment !== env.name) {
      const waiting =
        freeze.untilMs === undefined
          ? 'until someone ends it ("opsflow freeze end")'
          : `until ${until}: waiting ${formatDuration(freeze.untilMs - Date.now())}`;
      state.enter(
        'FROZEN',
        `${env.name} is frozen ("${freeze.name}") ${waiting}, or for ${freeze.breakGlass} signed break-glass ` +
          'overrides by its approvers',
      );
      notify(state, 'freeze.waiting', 'warning', {
        environment: env.name,
        freeze: freeze.name,
        ...(until ? { until } : {}),
      });
    }
    state.freezeChanged = false;
    const waitMs = freeze.untilMs === undefined ? INCIDENT_RECHECK_MS : Math.max(1_000, freeze.untilMs - Date.now());
    await condition(() => overridden() || state.freezeChanged, waitMs, {
      summary: `freeze "${freeze.name}" of ${env.name}${until ? ` until ${until}` : ''}`,
    });
    if (overridden()) {
      state.note(`the freeze "${freeze.name}" is overridden by ${state.status.frozen.overriddenBy.join(', ')}`);
      break;
    }
  }
  if (state.status.frozen?.environment !== env.name) return;
  if (!overridden()) state.note(`the freeze of ${env.name} has lifted`);
  state.status.frozen = undefined;
}
