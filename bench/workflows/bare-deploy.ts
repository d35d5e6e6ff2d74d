import { ApplicationFailure, condition, defineUpdate, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { BareActivities } from '../bare-activities';

/** The bare workflow's input: the shape of a canary without any of opsflow's logic. */
export interface BareDeployInput {
  /** Canary steps; each is one no-op "set weight", one timer of `intervalMs` and one no-op "measure". */
  steps: number;
  intervalMs: number;
  approvalTimeoutMs: number;
}

/** Approves the bare workflow; refused unless it is waiting, as opsflow's approval is. */
export const bareApproveUpdate = defineUpdate<string, [{ by: string }]>('approve');

const { noop } = proxyActivities<BareActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 8 },
});

/**
 * Bare Temporal doing what a 4-step canary deploy does, and nothing else: plan, wait for an approval Update
 * (a condition with a timeout, so one timer), start, per step set-weight + bake timer + measure, promote,
 * snapshot, report. The same activities and timers as opsflow's deploy, each a no-op.
 */
export async function bareDeploy(input: BareDeployInput): Promise<number> {
  let waiting = false;
  let approved = false;
  setHandler(
    bareApproveUpdate,
    ({ by }) => {
      approved = true;
      return by;
    },
    {
      validator: (_args: { by: string }) => {
        if (!waiting) throw new Error('not waiting for an approval');
      },
    },
  );
  let calls = 0;
  const call = async (name: string) => {
    await noop(name);
    calls += 1;
  };
  await call('plan');
  waiting = true;
  if (!(await condition(() => approved, input.approvalTimeoutMs))) {
    throw ApplicationFailure.nonRetryable('no approval in time', 'ApprovalTimedOut');
  }
  waiting = false;
  await call('startRelease');
  for (let step = 0; step < input.steps; step += 1) {
    await call('setTrafficWeight');
    await sleep(input.intervalMs);
    await call('measure');
  }
  await call('promoteRelease');
  await call('snapshotHandoff');
  await call('writeHandoffReport');
  return calls;
}
