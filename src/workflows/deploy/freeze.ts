import { condition, patched, setHandler } from '@temporalio/workflow';
import {
  activeFreeze,
  controlArgsSchema,
  type ControlArgs,
  type ControlRecord,
  type EnvironmentPlan,
} from '../../shared/deploy';
import { overrideSignal, overrideUpdate } from '../../shared/deploy/messages';
import { formatDuration } from '../../shared/duration';
import type { SignedStatement } from '../../shared/signing';
import { notify } from './notify';
import { guardedSignal } from './signals';
import { now, type DeployState } from './state';
import { identify, needsApproval, refuseUndecodable, requireApprover } from './trust';

/** Deploys recorded before freeze windows never waited for one. */
const FREEZE_PATCH = 'freeze-windows';

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
  setHandler(
    overrideSignal,
    guardedSignal(state, 'override', validate, (args) => record(args, 'signal')),
  );
}

/**
 * Holds the deploy while a freeze of the worker's policy holds the environment: it says so (phase FROZEN, the freeze
 * and when it ends, a freeze.waiting notification) and goes on when the freeze lifts, or when enough approvers signed
 * a break-glass override. Judged again on waking: windows may follow one another.
 */
export async function holdForFreeze(state: DeployState, env: EnvironmentPlan): Promise<void> {
  const freezes = state.policy?.freezes;
  if (!freezes?.length || !patched(FREEZE_PATCH)) return;
  const protectedEnv = needsApproval(state, env);
  const overridden = () => (state.status.frozen?.overriddenBy.length ?? 0) >= (state.status.frozen?.breakGlass ?? 1);
  for (;;) {
    const freeze = activeFreeze(freezes, env.name, protectedEnv, Date.now());
    if (!freeze) break;
    const until = new Date(freeze.untilMs).toISOString();
    const previous = state.status.frozen;
    const overriddenBy = previous?.environment === env.name ? previous.overriddenBy : [];
    state.status.frozen = {
      environment: env.name,
      freeze: freeze.name,
      until,
      breakGlass: freeze.breakGlass,
      overriddenBy,
    };
    if (overridden()) break;
    state.enter(
      'FROZEN',
      `${env.name} is frozen ("${freeze.name}") until ${until}: waiting ${formatDuration(freeze.untilMs - Date.now())}, ` +
        `or for ${freeze.breakGlass} signed break-glass overrides by its approvers`,
    );
    notify(state, 'freeze.waiting', 'warning', { environment: env.name, freeze: freeze.name, until });
    await condition(overridden, Math.max(1_000, freeze.untilMs - Date.now()), {
      summary: `freeze "${freeze.name}" of ${env.name} until ${until}`,
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
