import { log, patched } from '@temporalio/workflow';
import {
  applyDeploy,
  applyReview,
  buildSelfReview,
  deployRecord,
  reviewMeasuresSchema,
  type AgentState,
  type DeployFacts,
  type FinishedDeploy,
  type ReviewMeasures,
} from '../../shared/agent';
import { causeKey } from '../../shared/deploy';
import { notifyAgent } from './notify';
import { acts, DOCS_OPTIONS, MEASURE_OPTIONS } from './proxies';
import type { AgentRuntime } from './runtime';

/** The feedback loop of one finished deploy: figures, post-mortem, runbook, log. */
export async function feedback(rt: AgentRuntime, entry: FinishedDeploy): Promise<void> {
  const { input, state, config } = rt;
  const { result } = entry;
  const cause = causeKey(result.outcome, result.cause);
  const key = cause ? `${result.service}/${cause}` : null;
  let facts: DeployFacts | null = null;
  try {
    facts = await acts.agentFeedback.executeWithOptions(
      { ...DOCS_OPTIONS, summary: `feedback loop of ${result.deployId}` },
      [
        {
          project: input.project,
          workdir: input.workdir,
          result,
          requestedAt: entry.running?.requestedAt ?? entry.finishedAt,
          requestedBy: entry.running?.requestedBy ?? 'unknown',
          finishedAt: entry.finishedAt,
          cause,
          causeCount: key ? (state.totals.causes[key] ?? 0) + 1 : 0,
        },
      ],
    );
  } catch (err) {
    log.warn('feedback loop failed; figures kept without its measurements', { error: (err as Error).message });
  }
  applyDeploy(state, deployRecord(result, entry.running, facts, entry.finishedAt), facts, config);
}

/** Reviews recorded before the worker measured vulnerabilities and metrics sources for them. */
const REVIEW_MEASURES_PATCH = 'review-measures';

/**
 * What the worker measures for the review (its vulnerability scan, the metrics sources of its config); null, and a
 * warning, when it does not answer or answers something else: the review says "not measured" then.
 */
async function measure(rt: AgentRuntime): Promise<ReviewMeasures | null> {
  try {
    const answered = await acts.agentReviewMeasures.executeWithOptions(
      { ...MEASURE_OPTIONS, summary: 'vulnerability scan and metrics sources' },
      [{ project: rt.input.project, workdir: rt.input.workdir, deployed: deployedVersions(rt.state) }],
    );
    const parsed = reviewMeasuresSchema.safeParse(answered);
    if (parsed.success) return parsed.data;
    log.warn('the review measures were not of their shape; not measured', { issue: parsed.error.issues[0]?.message });
  } catch (err) {
    log.warn('the review measures could not be taken; not measured', { error: (err as Error).message });
  }
  return null;
}

/** The version the agent last promoted of each service (from its bounded list of recent deploys). */
export function deployedVersions(state: AgentState): Record<string, string> {
  const deployed: Record<string, string> = {};
  for (const d of state.recentDeploys) if (d.outcome === 'promoted') deployed[d.service] = d.version;
  return deployed;
}

/** The self-review of the window since the last one: at the scheduled time, or now when asked for. */
export async function review(rt: AgentRuntime, manual: boolean): Promise<void> {
  const { input, state, config } = rt;
  const at = manual ? Date.now() : state.nextReviewMs;
  // Reviews recorded before the worker measured anything for them replay without asking it.
  const measures = patched(REVIEW_MEASURES_PATCH) ? await measure(rt) : undefined;
  const { review: built, improvements } = buildSelfReview({
    project: input.project,
    state,
    fromMs: state.dayStartedMs,
    nowMs: at,
    config,
    manual,
    ...(measures === undefined ? {} : { measures }),
  });
  let files: string[] | null = null;
  try {
    files = await acts.agentSelfReview.executeWithOptions({ ...DOCS_OPTIONS, summary: `self-review ${built.date}` }, [
      { workdir: input.workdir, review: built },
    ]);
  } catch (err) {
    log.warn('self-review could not be written', { error: (err as Error).message });
  }
  applyReview(state, built, improvements, files, at, config);
  const day = built.day;
  notifyAgent(rt, 'agent.review', 'info', {
    day: built.date,
    path: files?.[0] ?? 'not written',
    summary:
      `${day.deploys} deploys: ${day.promoted} promoted, ${day.rolledBack} rolled back, ${day.failed} failed` +
      `${day.changeFailureRate === null ? '' : `; change failure rate ${Math.round(day.changeFailureRate * 100)} %`}`,
  });
}
