import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { handoffDir, type Plan } from '../shared/deploy';
import type { MetricsProvider } from './metrics/provider';
import type { DeployTarget } from './platform/target';
import { deployFacts } from './llm/deploy-facts';
import { activityDeadline, narrate, type LlmRuntime } from './llm/index';
import { llmReport } from './llm/report';
import { planDeploy } from './llm/plan';
import { recentDeploys } from './planner/history';
import { resolveHandoffDir, snapshotHandoff, writeHandoffReport } from './report/handoff';
import type {
  MeasureRequest,
  MeasureResult,
  PlanRequest,
  ReleaseRef,
  ReportRequest,
  RollbackResult,
  SnapshotRequest,
  StartReleaseResult,
  TrafficResult,
} from './types';

/** What the activities touch; the worker passes real ones, tests their own. */
export interface ActivityDeps {
  target: DeployTarget;
  /** The local platform's recorded figures (or a test's). */
  metrics: MetricsProvider;
  /** Prometheus, when metrics.prometheus is configured. */
  prometheus?: MetricsProvider;
  /** The model that plans and narrates; absent or without a client: the offline planner. */
  llm?: LlmRuntime;
}

/** Adds the current activity's deadline, so the model's calls end before its startToCloseTimeout does. */
function withDeadline<T extends object>(options: T | undefined): (T & { deadline?: number }) | undefined {
  if (!options) return undefined;
  const deadline = activityDeadline();
  return deadline === undefined ? options : { ...options, deadline };
}

/** How far back the planner looks for the service's rollbacks. */
const HISTORY_MS = 30 * 86_400_000;

/** The deploy's activities, bound to their dependencies (S: activities-dependency-injection). */
export function createActivities({ target, metrics, prometheus, llm }: ActivityDeps) {
  const model = llm?.client ? { client: llm.client, maxOutputTokens: llm.settings.maxOutputTokens } : undefined;
  return {
    /** Plans the rollout; reads the orchestrator's plan.md in handoff mode. */
    async plan({ input }: PlanRequest): Promise<Plan> {
      const releases = await target.releases(input.service);
      if (!releases.includes(input.version)) {
        throw ApplicationFailure.nonRetryable(
          `${input.service} has no release ${input.version}; known: ${releases.join(', ')}`,
          'UnknownRelease',
        );
      }
      const currentVersions = await target.currentVersions(input.service);
      const relative = path.posix.join(handoffDir(input.feature), 'plan.md');
      const file = path.join(resolveHandoffDir(input.workdir, handoffDir(input.feature)), 'plan.md');
      const handoffPlan = existsSync(file) ? { path: relative, text: readFileSync(file, 'utf8') } : undefined;
      const history = recentDeploys(input.workdir, {
        project: input.project,
        service: input.service,
        sinceMs: Date.now() - HISTORY_MS,
      });
      // Model call → zod → one repair → offline fallback → safety clamp; full text to .opsflow/llm only.
      const plan = await planDeploy(
        { input, currentVersions, history, ...(handoffPlan ? { handoffPlan } : {}) },
        withDeadline(model),
        {
          workdir: input.workdir,
          label: input.deployId,
        },
      );
      log.info('planned', {
        risk: plan.risk,
        source: plan.source,
        ...(plan.fallback ? { fallback: plan.fallback.reason } : {}),
        ...(plan.usage ? { llmCalls: plan.usage.calls, tokens: plan.usage.inputTokens + plan.usage.outputTokens } : {}),
      });
      return plan;
    },

    async startRelease(ref: ReleaseRef): Promise<StartReleaseResult> {
      return target.startRelease(ref);
    },

    async setTrafficWeight(ref: Omit<ReleaseRef, 'version'> & { weight: number }): Promise<TrafficResult> {
      return target.setWeight(ref);
    },

    async promoteRelease(ref: ReleaseRef): Promise<void> {
      await target.promote(ref);
    },

    async rollbackRelease(ref: ReleaseRef): Promise<RollbackResult> {
      const result = await target.rollback(ref);
      log.warn('rolled back', { environment: ref.environment, detail: result.detail });
      return result;
    },

    /** Measures the canary, and the stable version over the same window for comparison. */
    async measure(request: MeasureRequest): Promise<MeasureResult> {
      const provider = request.provider === 'prometheus' ? prometheus : metrics;
      if (!provider) {
        throw ApplicationFailure.nonRetryable(
          'analysis.provider is prometheus but this worker has no Prometheus: set metrics.prometheus.url in opsflow.yaml',
          'InvalidRequest',
        );
      }
      const query = {
        environment: request.environment,
        service: request.service,
        windowMs: request.windowMs,
        ...(request.custom?.length ? { custom: request.custom } : {}),
      };
      const [canary, stable] = await Promise.all([
        provider.window({ ...query, version: request.version }),
        request.stableVersion ? provider.window({ ...query, version: request.stableVersion }) : Promise.resolve(null),
      ]);
      return { canary, stable };
    },

    async snapshotHandoff(request: SnapshotRequest): Promise<{ existing: string[] }> {
      return snapshotHandoff(request);
    },

    async writeHandoffReport(request: ReportRequest) {
      const { workflowExecution, namespace } = Context.current().info;
      const base = request.input.uiUrl?.replace(/\/$/, '');
      const ui =
        base && workflowExecution
          ? `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/` +
            `${encodeURIComponent(workflowExecution.workflowId)}/${workflowExecution.runId}/history`
          : undefined;
      const { input, status } = request;
      const kind = status.outcome === 'rolled-back' ? 'postmortem' : 'summary';
      const narrative = await narrate(kind, deployFacts(input, status), {
        ...(model && llm?.settings.narratives ? { client: model.client } : {}),
        sink: { workdir: input.workdir, label: input.deployId },
        ...(llm ? { maxOutputTokens: llm.settings.maxOutputTokens } : {}),
        ...withDeadline({}),
      });
      const section = llmReport(llm?.settings.provider ?? 'offline', status.plan, narrative);
      const result = writeHandoffReport(request, ui ? { ui } : {}, section);
      log.info('handoff report written', {
        dir: result.dir,
        narrative: narrative.source,
        ...(narrative.fallback ? { fallback: narrative.fallback.reason } : {}),
      });
      return result;
    },
  };
}

/** The activity interface workflows proxy (type-only import there). */
export type Activities = ReturnType<typeof createActivities>;
