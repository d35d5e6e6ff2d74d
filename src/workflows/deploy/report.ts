import { CancellationScope, getExternalWorkflowHandle, log, workflowInfo } from '@temporalio/workflow';
import { handoffDir, type DeployResult } from '../../shared/deploy';
import { deployFinishedSignal } from '../../shared/deploy/messages';
import { local, LOCAL_OPTIONS } from './proxies';
import { now, type DeployState } from './state';

/**
 * Writes summary.md, files-changed.json and report.json in a non-cancellable scope, so a cancelled or failed deploy
 * still leaves its report.
 */
export async function writeReport(state: DeployState, finalPhase: DeployResult['phase']): Promise<void> {
  const { input, status } = state;
  await CancellationScope.nonCancellable(async () => {
    const dir = handoffDir(input.feature);
    const snapshot = await local.snapshotHandoff.executeWithOptions({ ...LOCAL_OPTIONS, summary: `inspect ${dir}` }, [
      { workdir: input.workdir, dir },
    ]);
    status.endedAt = now();
    status.phase = finalPhase;
    status.report = await local.writeHandoffReport.executeWithOptions(
      { ...LOCAL_OPTIONS, summary: `write summary.md, files-changed.json, report.json to ${dir}` },
      [{ input, workdir: input.workdir, dir, status, existing: snapshot.existing }],
    );
  });
}

/** Tells the parent (the ops agent) how the deploy ended; a parent that is gone is no reason to fail. */
export async function notifyParent(result: DeployResult): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) return;
  await CancellationScope.nonCancellable(async () => {
    try {
      // No run id: the signal reaches the agent's current run, also after it continued as new.
      await getExternalWorkflowHandle(parent.workflowId).signal(deployFinishedSignal, result);
    } catch (err) {
      log.warn('could not tell the parent workflow how the deploy ended', {
        parent: parent.workflowId,
        error: String(err),
      });
    }
  });
}
