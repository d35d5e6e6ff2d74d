import { log } from '@temporalio/activity';
import {
  reviewName,
  type AgentFinalReport,
  type DeployFacts,
  type ReviewMeasures,
  type RunningDeploy,
  type SelfReview,
} from '../../shared/agent';
import { DEFAULT_AGENT_CONFIG } from '../../config/agent';
import { ErrorType, isFailureOfType } from '../../shared/errors';
import type { DeployResult, DeployStatus } from '../../shared/deploy';
import { approvalWaitMs, measureImpact, noisySamples, securityFacts } from './facts';
import { AGENT_PATHS, appendLogLine, appendOnce, incidentFile, writeDoc } from './files';
import { inlineMarkdown } from '../../shared/markdown';
import { filesChangedJson, operationsDoc, reviewFilesChanged, type OperationsConfig } from './operations';
import { CAUSE_CHECKS, renderPostMortem } from './post-mortem';
import { plainNarrative, renderFinalReport, renderSelfReview } from './review';
import { reviewMeasures, type MeasuresRequest } from './measures';
import type { ScanContext } from '../security/scan';

/** What the agent's activities touch; the worker passes real ones, tests their own. */
export interface AgentActivityDeps {
  /** The final status of a deploy (a query of the closed workflow); null when it cannot be read. */
  deployStatus: (deployId: string) => Promise<DeployStatus | null>;
  /** How a deploy ended, or null while it still runs (a closed workflow's result or its failure). */
  deployOutcome: (deploy: RunningDeploy) => Promise<DeployResult | null>;
  /** Optional narrative from an LLM, given the review's figures; the figures themselves are never asked of it. */
  narrate?: (review: SelfReview, workdir: string) => Promise<string | null>;
  /** The time-to-restore target the post-mortem judges against. */
  targetRestoreMs?: number;
  /**
   * The worker's opsflow.yaml, for OPERATIONS.md's project sections and what the self-review measures (its vulnerability
   * scan, its metrics sources); absent, they say no config was given.
   */
  operations?: OperationsConfig;
  /** Where the scanner runs and with which environment (default: the worker's folder and environment). */
  scan?: ScanContext;
}

/** One finished deploy, as the agent hands it to the feedback loop. */
export interface FeedbackRequest {
  project: string;
  workdir: string;
  result: DeployResult;
  requestedAt: string;
  requestedBy: string;
  finishedAt: string;
  cause: string | null;
  /** How many times this service has failed for this cause, this one included. */
  causeCount: number;
}

const RUNBOOK_HEADER = `# Runbook\n\nNotes the ops agent appends when a failure cause repeats. Newest last.\n`;

/** The ops agent's activities: feedback loop, self-review, final report (S: activities-dependency-injection). */
export function createAgentActivities(deps: AgentActivityDeps) {
  return {
    /**
     * The feedback loop after one deploy: measures it from its status, writes a blameless post-mortem for a
     * rollback or failure, a runbook note when the cause repeats, and a line in the agent's log. Idempotent.
     */
    async agentFeedback(request: FeedbackRequest): Promise<DeployFacts> {
      const { result, workdir } = request;
      const status = await deps.deployStatus(result.deployId).catch((err: Error) => {
        log.warn('deploy status unavailable', { deployId: result.deployId, error: err.message });
        return null;
      });
      const failed = result.outcome === 'rolled-back' || result.outcome === 'failed';
      const impact = status && failed ? measureImpact(status) : null;
      const noisy = status ? noisySamples(status) : { inconclusive: 0, unmeasured: 0 };
      const files: string[] = [];
      const date = request.finishedAt.slice(0, 10);
      const repeated = failed && request.cause !== null && request.causeCount >= 2;
      const marker = `<!-- opsflow:${result.deployId}:${request.requestedAt} -->`;
      const postMortem = failed ? incidentFile(workdir, date, result.service, result.version, marker) : null;
      if (repeated && request.cause && postMortem) {
        const note = [
          '',
          `## ${date}: ${result.service} failed again for ${request.cause} (${request.causeCount} times)`,
          marker,
          '',
          `- Last seen: ${result.deployId} (${result.version}): ${result.reason}`,
          `- Post-mortem: [${postMortem}](../${postMortem.replace(/^docs\//, '')})`,
          `- Check first: ${CAUSE_CHECKS[request.cause] ?? CAUSE_CHECKS['other']}`,
          '',
        ].join('\n');
        appendOnce(workdir, AGENT_PATHS.runbook, marker, note, RUNBOOK_HEADER);
        files.push(AGENT_PATHS.runbook);
      }
      if (postMortem) {
        const text = renderPostMortem({
          result,
          status,
          impact,
          requestedBy: request.requestedBy,
          requestedAt: request.requestedAt,
          cause: request.cause ?? 'other',
          causeCount: request.causeCount,
          targetRestoreMs: deps.targetRestoreMs ?? DEFAULT_AGENT_CONFIG.targets.timeToRestore,
          runbook: repeated ? AGENT_PATHS.runbook : null,
        });
        writeDoc(workdir, postMortem, `${text}${marker}\n`);
        files.push(postMortem);
      }
      const facts: DeployFacts = {
        approvalWaitMs: status ? approvalWaitMs(status) : 0,
        restoreMs: impact?.restoreMs ?? null,
        inconclusiveSamples: noisy.inconclusive,
        unmeasuredSamples: noisy.unmeasured,
        samples: status?.samples.length ?? 0,
        environment: impact?.environment ?? null,
        files: [...files, AGENT_PATHS.log],
        security: securityFacts(status, result),
      };
      appendLogLine(workdir, {
        key: `deploy:${result.deployId}:${request.requestedAt}`,
        type: 'deploy',
        at: request.finishedAt,
        project: request.project,
        deployId: result.deployId,
        service: result.service,
        version: result.version,
        outcome: result.outcome,
        reason: result.reason,
        cause: request.cause,
        durationMs: result.durationMs,
        approvalWaitMs: facts.approvalWaitMs,
        restoreMs: facts.restoreMs,
        inconclusiveSamples: facts.inconclusiveSamples,
        files,
      });
      log.info('feedback loop done', { deployId: result.deployId, files });
      return facts;
    },

    /**
     * What the self-review measures beyond the agent's figures, from the worker's own config: the vulnerability scan of
     * what each service deploys, and which services have a metrics source. Read-only; a scan that fails says why.
     */
    async agentReviewMeasures(request: MeasuresRequest): Promise<ReviewMeasures> {
      return reviewMeasures(request, deps.operations, deps.scan ?? { baseDir: process.cwd(), env: process.env });
    },

    /** The outcomes of the deploys that ended without telling the agent (terminated, or their signal was lost). */
    async agentCheckDeploys({ deploys }: { deploys: RunningDeploy[] }): Promise<DeployResult[]> {
      const outcomes = await Promise.all(deploys.map((d) => deps.deployOutcome(d)));
      const ended = outcomes.filter((o): o is DeployResult => o !== null);
      if (ended.length)
        log.warn('deploys ended without telling the agent', { deployIds: ended.map((e) => e.deployId) });
      return ended;
    },

    /**
     * Writes docs/operations/self-review/<date>.md, refreshes docs/OPERATIONS.md, writes the review's
     * docs/operations/files-changed.json and one JSON line in the agent's log. Idempotent. The review's file comes first
     * in the answer.
     */
    async agentSelfReview({ workdir, review }: { workdir: string; review: SelfReview }): Promise<string[]> {
      let narrative = { text: plainNarrative(review), source: 'computed summary' };
      if (deps.narrate) {
        const text = await deps.narrate(review, workdir).catch((err: Error) => {
          // A rate-limited or unavailable model is retried by Temporal; on the last attempt narrate falls back itself.
          if (isFailureOfType(err, ErrorType.LlmUnavailable)) throw err;
          log.warn('narrative unavailable; using the computed summary', { error: err.message });
          return null;
        });
        // The model's text is untrusted: escaped, one paragraph in the quote.
        if (text)
          narrative = { text: inlineMarkdown(text), source: 'narrative by the configured LLM; figures computed' };
      }
      const file = AGENT_PATHS.selfReview(reviewName(review));
      const operations = operationsDoc(workdir, review, deps.operations);
      const files = [
        file,
        AGENT_PATHS.log,
        ...(operations === null ? [] : [AGENT_PATHS.operations]),
        AGENT_PATHS.filesChanged,
      ];
      const key = `self-review:${reviewName(review)}`;
      const filesChanged = reviewFilesChanged(workdir, key, files);
      // Logged first, with what it found: a retry after a partial write reports the same files as created.
      appendLogLine(workdir, {
        key,
        type: 'self-review',
        at: review.to,
        project: review.project,
        date: review.date,
        from: review.from,
        day: review.day,
        total: review.total,
        deploysPerDay: review.deploysPerDay,
        answers: review.answers.map((a) => ({ question: a.question, status: a.status })),
        openImprovements: review.improvements.map((i) => i.key),
        file,
        filesChanged,
      });
      writeDoc(workdir, file, renderSelfReview(review, narrative));
      if (operations !== null) writeDoc(workdir, AGENT_PATHS.operations, operations);
      writeDoc(workdir, AGENT_PATHS.filesChanged, filesChangedJson(filesChanged));
      return files;
    },

    /** The final report: markdown for people, JSON for the orchestrator, one line in the log. */
    async agentFinalReport({ workdir, report }: { workdir: string; report: AgentFinalReport }): Promise<string[]> {
      const date = report.endedAt.slice(0, 10);
      const md = AGENT_PATHS.finalReport(report.project, date, 'md');
      const json = AGENT_PATHS.finalReport(report.project, date, 'json');
      const files = [md, json, AGENT_PATHS.log];
      const withFiles = { ...report, artifacts: [...new Set([...report.artifacts, ...files])] };
      writeDoc(workdir, md, renderFinalReport(withFiles));
      writeDoc(workdir, json, `${JSON.stringify({ schema: 'opsflow.agent-report/v1', ...withFiles }, null, 2)}\n`);
      appendLogLine(workdir, {
        key: `final:${report.workflowId}:${report.startedAt}`,
        type: 'final-report',
        at: report.endedAt,
        project: report.project,
        reason: report.reason,
        detail: report.detail,
        total: report.total,
        file: md,
      });
      return files;
    },
  };
}

/** The agent's activity interface, proxied by the agent workflow (type-only import there). */
export type AgentActivities = ReturnType<typeof createAgentActivities>;
