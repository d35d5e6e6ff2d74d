import { isCancellation } from '@temporalio/workflow';
import { errorCause, type RolloutEnvironment, type StopCause } from '../../shared/deploy';
import { failureMessage } from '../../shared/errors';
import { platform, PLATFORM_OPTIONS } from './proxies';
import { awaitApproval } from './approval';
import { honourControls } from './controls';
import { rollBack } from './rollback';
import { PromoteNow, StageAborted, type StageResult } from './stage';
import { now, type DeployState } from './state';
import { STRATEGIES } from './strategies';
import { holdForFreeze } from './freeze';
import { notifyRollback } from './notify';
import { authorityFor, needsApproval } from './trust';

/**
 * One environment of the pipeline: its approval where required, the new version started beside the stable one, the
 * strategy's ramp with analysis, then promotion; or, on a failure, an abort or a cancellation, the rollback saga.
 */
export async function deployEnvironment(state: DeployState, env: RolloutEnvironment): Promise<StageResult> {
  const { input, status } = state;
  status.environment = env.name;
  const result = state.result(env.name);
  result.startedAt = now();
  result.outcome = 'unchanged';
  if (needsApproval(state, env)) {
    const approval = await awaitApproval(state, env);
    if (!approval.ok) {
      state.finish(env.name, 'unchanged', approval.cause);
      return approval;
    }
  }
  await holdForFreeze(state, env);
  const authority = authorityFor(state, env);
  const ref = {
    deployId: input.deployId,
    environment: env.name,
    service: input.service,
    version: input.version,
    ...(authority ? { authority } : {}),
  };
  const stable = status.previousVersions[env.name] ?? null;
  state.requested.abort = undefined;
  state.requested.promote = undefined;
  state.enter('DEPLOYING', `starting ${input.service} ${input.version} in ${env.name} beside ${stable ?? 'nothing'}`);
  // From here on a failure, an abort or a cancellation rolls the environment back (rollback is idempotent).
  try {
    const started = await platform.startRelease.executeWithOptions(
      { ...PLATFORM_OPTIONS, summary: `start ${input.service} ${input.version} in ${env.name}` },
      [ref],
    );
    if (started.alreadyPromoted) {
      state.note(`${env.name} already runs ${input.version} from this deploy`);
      state.finish(env.name, 'promoted');
      return { ok: true };
    }
    await honourControls(state, env);
    await STRATEGIES[env.strategy](state, env, stable);
  } catch (err) {
    if (err instanceof PromoteNow) {
      state.note(`remaining steps skipped: ${err.message}`);
    } else {
      const stop: StopCause =
        err instanceof StageAborted ? err.stop : isCancellation(err) ? { kind: 'cancelled' } : errorCause(err);
      const reason = err instanceof StageAborted ? err.reason : failureMessage(err);
      status.paused = undefined;
      result.failingSince ??= now();
      const failures = await rollBack(state, env, reason, stable);
      notifyRollback(state, env.name, { cause: stop.kind, reason, failures, protectedEnv: needsApproval(state, env) });
      if (isCancellation(err)) {
        state.finish(env.name, failures.length ? 'failed' : 'rolled-back', stop);
        throw err;
      }
      if (failures.length) {
        state.finish(env.name, 'failed', stop);
        return {
          ok: false,
          outcome: 'failed',
          reason: `${reason}; rollback incomplete: ${failures.join('; ')}`,
          cause: stop,
        };
      }
      state.finish(env.name, 'rolled-back', stop);
      return { ok: false, outcome: err instanceof StageAborted ? 'rolled-back' : 'failed', reason, cause: stop };
    }
  }
  status.paused = undefined;
  state.enter('PROMOTING', `promoting ${input.version} to 100 % of ${env.name}`);
  await platform.promoteRelease.executeWithOptions(
    { ...PLATFORM_OPTIONS, summary: `promote ${input.service} ${input.version} in ${env.name}` },
    [ref],
  );
  status.canary = undefined;
  status.blueGreen = undefined;
  state.finish(env.name, 'promoted');
  state.note(`${env.name} now runs ${input.version}`);
  return { ok: true };
}
