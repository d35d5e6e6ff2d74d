import { ApplicationFailure, CancellationScope, patched, sleep } from '@temporalio/workflow';
import { analyseWindow } from '../../shared/analysis';
import { rollbackStepText, type EnvironmentPlan, type RollbackStatus, type RollbackStep } from '../../shared/deploy';
import { ErrorType, failureMessage, isFailureOfType } from '../../shared/errors';
import type { RollbackResult } from '../../activities/types';
import { MEASURE_OPTIONS, metrics, ROLLBACK_OPTIONS, rollbackActivities } from './proxies';
import { now, type DeployState } from './state';

/** Recorded histories before the rollback became a saga of three steps replay the single call. */
const ROLLBACK_STEPS_PATCH = 'rollback-saga-steps';

/**
 * Rolls an environment back. Recorded before this code existed: one platform call. Since: a saga of compensations,
 * newest first: canary traffic to 0 % (the fastest remedy), the new release scaled down, then stable's health
 * verified. A failing compensation is retried, then reported, and the next one still runs. Returns the failures.
 */
export async function rollBack(
  state: DeployState,
  env: EnvironmentPlan,
  reason: string,
  stable: string | null,
): Promise<string[]> {
  const { input, status } = state;
  const ref = { deployId: input.deployId, environment: env.name, service: input.service, version: input.version };
  const rollback: RollbackStatus = { environment: env.name, reason, startedAt: now(), steps: [] };
  const result = state.result(env.name);
  status.rollback = rollback;
  status.canary = undefined;
  state.enter('ROLLING_BACK', `rolling back ${env.name}: ${reason}`);
  const failures: string[] = [];
  // A step answers what was done and, when the target's record tells, who did it: this attempt or an earlier one.
  const step = async (name: RollbackStep['step'], run: () => Promise<StepDone>) => {
    try {
      const taken: RollbackStep = { step: name, at: now(), ok: true, ...(await run()) };
      rollback.steps.push(taken);
      // The new version takes no traffic once its weight is 0 (or, failing that, once it is stopped).
      if (name !== 'verify-stable') result.restoredAt ??= now();
      state.note(`rollback ${name}: ${rollbackStepText(taken)}`);
    } catch (err) {
      const detail = failureMessage(err);
      rollback.steps.push({ step: name, at: now(), ok: false, detail });
      failures.push(`${name}: ${detail}`);
      state.note(`rollback ${name} FAILED after retries: ${detail}`);
    }
  };
  await CancellationScope.nonCancellable(async () => {
    if (!patched(ROLLBACK_STEPS_PATCH)) {
      await step('rollback', async () => {
        const done = await rollbackActivities.rollbackRelease.executeWithOptions(
          { ...ROLLBACK_OPTIONS, summary: `roll back ${input.service} ${input.version} in ${env.name}` },
          [ref],
        );
        return doneBy(done);
      });
      return;
    }
    await step('traffic-to-zero', async () => {
      const routed = await rollbackActivities.setTrafficWeight
        .executeWithOptions(
          { ...ROLLBACK_OPTIONS, summary: `rollback: route 0 % of ${env.name} to ${input.version}` },
          [{ deployId: input.deployId, environment: env.name, service: input.service, weight: 0 }],
        )
        .catch((err: unknown) => {
          // No canary left (never started, or already promoted and undone): nothing takes traffic.
          if (isFailureOfType(err, ErrorType.TargetConflict)) return undefined;
          throw err;
        });
      return {
        detail: routed
          ? `canary ${input.version} gets 0 % of ${env.name}`
          : `no canary of ${input.version} takes traffic`,
      };
    });
    await step('scale-down', async () => {
      const done = await rollbackActivities.rollbackRelease.executeWithOptions(
        { ...ROLLBACK_OPTIONS, summary: `rollback: stop ${input.service} ${input.version} in ${env.name}` },
        [ref],
      );
      return doneBy(done);
    });
    if (stable) await step('verify-stable', async () => ({ detail: await verifyStable(state, env, stable) }));
  });
  rollback.endedAt = now();
  return failures;
}

/** What a step did, for its record: the detail for people and, when the target's record tells, who did it. */
type StepDone = Pick<RollbackStep, 'detail' | 'by'>;

/** The target's answer as a step: its detail and, when it tells (results recorded before `by` do not), who did it. */
function doneBy(done: RollbackResult): StepDone {
  return { detail: done.detail, ...(done.by ? { by: done.by } : {}) };
}

/** After a rollback: one interval of stable's own traffic, judged on absolute thresholds. */
async function verifyStable(state: DeployState, env: EnvironmentPlan, stable: string): Promise<string> {
  const { input } = state;
  await sleep(env.analysis.interval, { summary: `rollback: let ${stable} serve ${env.name} alone` });
  const measured = await metrics.measure.executeWithOptions(
    { ...MEASURE_OPTIONS, summary: `rollback: verify ${input.service} ${stable} in ${env.name}` },
    [
      {
        environment: env.name,
        service: input.service,
        version: stable,
        stableVersion: null,
        windowMs: env.analysis.interval,
        ...(env.analysis.provider !== 'local' ? { provider: env.analysis.provider } : {}),
      },
    ],
  );
  const judged = analyseWindow(measured.canary, { ...env.analysis, custom: [] });
  if (judged.verdict === 'critical' || judged.verdict === 'failing') {
    throw ApplicationFailure.nonRetryable(
      `${stable} is unhealthy after the rollback: ${judged.reason}`,
      ErrorType.StableUnhealthy,
    );
  }
  return `${stable} ${judged.verdict}: ${judged.reason}`;
}
