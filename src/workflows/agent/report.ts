import { log } from '@temporalio/workflow';
import { deploysPerDay, deriveFigures, type AgentEndReason, type AgentResult } from '../../shared/agent';
import { acts, DOCS_OPTIONS } from './proxies';
import { now, type AgentRuntime } from './runtime';

/** The final report (markdown and JSON for the orchestrator) and the workflow's result. */
export async function finalReport(rt: AgentRuntime, reason: AgentEndReason): Promise<AgentResult> {
  const { input, state, agentId } = rt;
  const endedAt = now();
  const detail =
    reason === 'requested'
      ? `termination requested by ${state.stop?.by}: ${state.stop?.reason}`
      : `no deployment or infrastructure event since ${state.lastActivityAt}`;
  let files: string[] = [];
  try {
    files = await acts.agentFinalReport.executeWithOptions({ ...DOCS_OPTIONS, summary: 'final report' }, [
      {
        workdir: input.workdir,
        report: {
          project: input.project,
          workflowId: agentId,
          reason,
          detail,
          startedAt: state.startedAt,
          endedAt,
          total: deriveFigures(state.totals),
          deploysPerDay: deploysPerDay(state.totals, state.startedAt, Date.now()),
          reviews: state.reviews.count,
          recentDeploys: state.recentDeploys,
          recentEvents: state.recentEvents,
          improvements: state.improvements,
          artifacts: state.artifacts,
        },
      },
    ]);
  } catch (err) {
    log.warn('final report could not be written', { error: (err as Error).message });
  }
  log.info('agent ended', { reason, detail });
  return {
    project: input.project,
    reason,
    detail,
    startedAt: state.startedAt,
    endedAt,
    total: deriveFigures(state.totals),
    reviews: state.reviews.count,
    files,
  };
}
