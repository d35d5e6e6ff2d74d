import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { refusalDetails, type Authorised, type DeployPolicy, type Plan } from '../shared/deploy';
import { ErrorType, type ErrorTypeName } from '../shared/errors';
import type { SignedStart } from '../shared/signing';
import { uiLink } from '../shared/ui-link';
import { keepAlive } from './alive';
import { refuseEffect, type Effect } from './authority';
import type { StartLedger } from './start-ledger';
import { checkFreezeRequest, type FreezeRequest, type IncidentBoard } from './incidents';
import type { IncidentFreeze } from '../shared/agent/freeze';
import { createNotifyActivities } from './notify';
import { ChannelRegistry } from './notify/registry';
import { MetricsProviderMissing, MetricsQueryError, type MetricsQuery } from './metrics/contract';
import type { CostSource } from './cost/contract';
import type { MetricsWindow } from '../shared/analysis';
import type { MetricsRegistry } from './metrics/registry';
import { InvalidTargetRequest, stableVersions, TargetConflict, UnknownRelease } from './targets/contract';
import type { TargetRegistry } from './targets/registry';
import { deployFacts } from './llm/deploy-facts';
import { activityDeadline, narrate, type LlmRuntime } from './llm/index';
import { llmReport } from './llm/report';
import { planDeploy } from './llm/plan';
import { recentDeploys } from './planner/history';
import { snapshotHandoff, writeHandoffReport } from './report/handoff';
import { readHandoffPlan } from './planner/handoff-plan';
import type {
  MeasureRequest,
  MeasureResult,
  PlanRequest,
  PromoteResult,
  ReleaseRef,
  ReportRequest,
  RollbackResult,
  SnapshotRequest,
  StartResult,
  WeightRef,
  WeightResult,
} from './types';

/** What the activities touch; the worker builds the registries from the config, tests fill them with fakes. */
export interface ActivityDeps {
  /** The deploy target of each service (targets/registry.ts). */
  targets: TargetRegistry;
  /** The metrics providers by the name `analysis.provider` gives (metrics/registry.ts). */
  metrics: MetricsRegistry;
  /** The worker's cost source (cost/registry.ts); absent: cost is not measured, and deploys say so. */
  costs?: CostSource;
  /** The model that plans and narrates; absent or without a client: the offline planner. */
  llm?: LlmRuntime;
  /** The worker's approval policy (src/config/policy.ts): who may approve and control, with their public keys. */
  policy: DeployPolicy;
  /**
   * Whether a signed start already started another run, from the Temporal server's records (start-ledger.ts); the
   * worker passes one on its own connection. Absent (tests on the time-skipping server, which lists no runs): not
   * checked.
   */
  starts?: StartLedger;
  /** The worker's notification channels and routes (notify/registry.ts); absent: nothing is sent. */
  channels?: ChannelRegistry;
  /**
   * The incident freezes of the worker's project, as its agent keeps them (incidents.ts); the worker reads them on its
   * own connection. Absent: no incident freeze holds anything.
   */
  incidents?: IncidentBoard;
}

/**
 * A target's or provider's typed refusal as a non-retryable ApplicationFailure of the shared error vocabulary (a
 * conflict keeps its reason in the details); anything else is rethrown as it is, for Temporal to retry.
 */
function asFailure(err: unknown): unknown {
  const fail = (type: ErrorTypeName, details: unknown[] = []) =>
    ApplicationFailure.create({ type, message: (err as Error).message, nonRetryable: true, details });
  if (err instanceof TargetConflict) return fail(ErrorType.TargetConflict, [{ reason: err.reason }]);
  if (err instanceof UnknownRelease) return fail(ErrorType.UnknownRelease);
  if (
    err instanceof InvalidTargetRequest ||
    err instanceof MetricsQueryError ||
    err instanceof MetricsProviderMissing
  ) {
    return fail(ErrorType.InvalidRequest);
  }
  return err;
}

/** Runs a call on a target or provider, its typed errors turned into failures. */
async function typed<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw asFailure(err);
  }
}

/** Adds the current activity's deadline, so the model's calls end before its startToCloseTimeout does. */
function withDeadline<T extends object>(options: T | undefined): (T & { deadline?: number }) | undefined {
  if (!options) return undefined;
  const deadline = activityDeadline();
  return deadline === undefined ? options : { ...options, deadline };
}

/**
 * Refuses, as a non-retryable PolicyRefused failure, a change the worker's own policy does not allow with the evidence
 * the deploy presents; answers the target's ref without the evidence.
 */
async function authorise<R extends { service: string; environment: string }>(
  { policy, starts, incidents }: Pick<ActivityDeps, 'policy' | 'starts' | 'incidents'>,
  request: R & Authorised,
  effect: Omit<Effect, 'environment' | 'service'> & { version: string },
): Promise<R> {
  const { authority, ...ref } = request;
  const { workflowExecution, workflowNamespace, currentAttemptScheduledTimestampMs } = Context.current().info;
  const reused = await startUsedElsewhere(starts, authority?.signedStart, workflowExecution);
  // Only a start is held by a freeze; the board is asked here, never told by the deploy.
  const frozen = effect.kind === 'start' && incidents ? await incidents.active() : [];
  const refusal =
    (reused ? `the requester's start does not hold: ${reused}` : undefined) ??
    refuseEffect(
      policy,
      // An activity run outside a workflow has no run to be bound to: nothing protected verifies for it.
      {
        namespace: workflowNamespace ?? '',
        workflowId: workflowExecution?.workflowId ?? '',
        runId: workflowExecution?.runId ?? '',
        // The server's clock (when it scheduled this attempt), the one the statements' times were judged by.
        nowMs: currentAttemptScheduledTimestampMs,
      },
      { ...effect, environment: request.environment, service: request.service },
      authority,
      frozen,
    );
  if (refusal) {
    log.warn("change refused by the worker's policy", { environment: request.environment, kind: effect.kind });
    throw ApplicationFailure.create({
      type: ErrorType.PolicyRefused,
      message: `the worker refuses to ${effect.kind === 'weight' ? 'route traffic' : effect.kind} in ${request.environment}: ${refusal}`,
      nonRetryable: true,
      details: [refusalDetails('evidence')],
    });
  }
  return ref as R;
}

/** Why a signed start may not count for this run (another run used it, or a start delay outlived it), per the ledger. */
async function startUsedElsewhere(
  starts: StartLedger | undefined,
  signedStart: SignedStart | undefined,
  run: { workflowId: string; runId: string } | undefined,
): Promise<string | undefined> {
  if (!starts || !signedStart || !run) return undefined;
  const refusal = await starts.refuse({
    workflowId: run.workflowId,
    runId: run.runId,
    issuedAtMs: Date.parse(signedStart.statement.issuedAt),
    expiresAtMs: Date.parse(signedStart.statement.expiresAt),
  });
  return refusal;
}

/**
 * The window with what it cost from the worker's cost source, or why not: cost never fails a sample (a deploy that
 * cannot measure cost says so, and is blocked only where its analysis requires cost).
 */
async function priceWindow(
  costs: CostSource | undefined,
  window: MetricsWindow,
  query: MetricsQuery,
): Promise<MetricsWindow> {
  if (!costs)
    return { ...window, costError: 'no cost source is configured on this worker: set cost in its opsflow.yaml' };
  try {
    const answer = await costs.window({ ...query, requests: window.requests });
    return { ...window, cost: { source: costs.description, currency: costs.currency, ...answer } };
  } catch (err) {
    log.warn('cost not measured', { version: query.version, error: (err as Error).message });
    return { ...window, costError: (err as Error).message.slice(0, 500) };
  }
}

/** How far back the planner looks for the service's rollbacks. */
const HISTORY_MS = 30 * 86_400_000;

/** The deploy's activities, bound to their dependencies (S: activities-dependency-injection). */
export function createActivities({ targets, metrics, costs, llm, policy, starts, channels, incidents }: ActivityDeps) {
  const model = llm?.client ? { client: llm.client, maxOutputTokens: llm.settings.maxOutputTokens } : undefined;
  return {
    ...createNotifyActivities({ channels: channels ?? new ChannelRegistry({}, []) }),
    /** The incident freezes in force for the worker's project (none without a board). */
    async incidentFreezes(): Promise<IncidentFreeze[]> {
      return incidents ? incidents.active() : [];
    },

    /**
     * Checks a freeze start or end sent to the agent against the worker's own policy: answers who made it, or refuses
     * (non-retryable PolicyRefused) in one line.
     */
    async checkFreeze(request: FreezeRequest): Promise<{ person: string }> {
      const { workflowExecution, workflowNamespace, currentAttemptScheduledTimestampMs } = Context.current().info;
      const checked = checkFreezeRequest(
        policy,
        {
          namespace: workflowNamespace ?? '',
          workflowId: workflowExecution?.workflowId ?? '',
          runId: workflowExecution?.runId ?? '',
          nowMs: currentAttemptScheduledTimestampMs,
        },
        request,
      );
      if ('refusal' in checked) {
        throw ApplicationFailure.create({
          type: ErrorType.PolicyRefused,
          message: checked.refusal,
          nonRetryable: true,
        });
      }
      return checked;
    },

    /** Plans the rollout; reads the orchestrator's plan.md in handoff mode. */
    async plan({ input }: PlanRequest): Promise<Plan> {
      const currentVersions = await typed(async () => {
        const target = targets.targetFor(input.service);
        const releases = await target.releases(input.service);
        // A target that cannot list its releases (a registry) is not asked: starting the release will tell.
        if (releases && !releases.includes(input.version)) {
          throw new UnknownRelease(`${input.service} has no release ${input.version}; known: ${releases.join(', ')}`);
        }
        const environments = input.environments.map((env) => env.name);
        return stableVersions(target, input.service, environments);
      });
      // A plan.md that links outside the working directory is refused, not read.
      const handoffPlan = readHandoffPlan(input.workdir, input.feature);
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

    /** Starts the release beside stable, once the worker's policy allows it with the evidence presented. */
    async startRelease(request: ReleaseRef & Authorised): Promise<StartResult> {
      const ref = await authorise({ policy, starts, incidents }, request, { kind: 'start', version: request.version });
      return keepAlive(() => typed(() => targets.targetFor(ref.service).startRelease(ref)));
    },

    /** Routes a share of traffic to the release; a share above 0 only as the worker's policy allows. */
    async setTrafficWeight(request: WeightRef & Authorised & { version?: string }): Promise<WeightResult> {
      const { version, ...rest } = request;
      const ref = await authorise({ policy, starts, incidents }, rest, {
        kind: 'weight',
        weight: request.weight,
        version: version ?? '',
      });
      return keepAlive(() => typed(() => targets.targetFor(ref.service).setWeight(ref)));
    },

    /** Promotes the release, once the worker's policy allows it with the evidence presented. */
    async promoteRelease(request: ReleaseRef & Authorised): Promise<PromoteResult> {
      const ref = await authorise({ policy, starts, incidents }, request, {
        kind: 'promote',
        version: request.version,
      });
      return keepAlive(() => typed(() => targets.targetFor(ref.service).promote(ref)));
    },

    /**
     * Rolls the release back. The target records the step's id with what it does, the same on each retry of this
     * activity (its run and activity id), so a retry whose earlier attempt did the work says so.
     */
    async rollbackRelease(ref: ReleaseRef): Promise<RollbackResult> {
      const { workflowExecution, activityId } = Context.current().info;
      const rollbackId = `${workflowExecution?.runId ?? 'no-run'}/${activityId}`;
      const target = targets.targetFor(ref.service);
      const result = await keepAlive(() => typed(() => target.rollback({ ...ref, rollbackId })));
      log.warn('rolled back', {
        environment: ref.environment,
        rolledBack: result.rolledBack,
        ...(result.by ? { by: result.by } : {}),
        detail: result.detail,
      });
      return result;
    },

    /** Measures the canary, and the stable version over the same window for comparison. */
    async measure(request: MeasureRequest): Promise<MeasureResult> {
      const provider = await typed(async () => metrics.providerFor(request.provider ?? 'local'));
      const query = {
        environment: request.environment,
        service: request.service,
        windowMs: request.windowMs,
        ...(request.custom?.length ? { custom: request.custom } : {}),
      };
      // The target's labels for each version ({{namespace}}, {{workload}}), when its kind has them.
      const labelled = async (version: string) => {
        const target = targets.has(request.service) ? targets.targetFor(request.service) : undefined;
        const labels = await target?.metricLabels?.(
          { environment: request.environment, service: request.service },
          version,
        );
        return { ...query, version, ...(labels ? { labels } : {}) };
      };
      // Each version's window, priced by the cost source when the deploy asks (never failing the sample for it).
      const measured = async (version: string) => {
        const q = await labelled(version);
        const window = await provider.window(q);
        return request.cost ? priceWindow(costs, window, q) : window;
      };
      const [canary, stable] = await keepAlive(() =>
        typed(() =>
          Promise.all([
            measured(request.version),
            request.stableVersion ? measured(request.stableVersion) : Promise.resolve(null),
          ]),
        ),
      );
      return { canary, stable };
    },

    /** The worker's approval policy: the deploy asks for it when it starts, so it is in history and replays. */
    async workerPolicy(): Promise<DeployPolicy> {
      return policy;
    },

    /**
     * Whether the deploy's signed start may start this run: not used by an earlier run of the same deploy id, still
     * valid when a start delay let the run begin. `checked: false` where the worker has no ledger.
     */
    async checkSignedStart(signedStart: SignedStart): Promise<{ checked: boolean; refusal?: string }> {
      if (!starts) return { checked: false };
      const refusal = await startUsedElsewhere(starts, signedStart, Context.current().info.workflowExecution);
      return { checked: true, ...(refusal ? { refusal } : {}) };
    },

    async snapshotHandoff(request: SnapshotRequest): Promise<{ existing: string[] }> {
      return snapshotHandoff(request);
    },

    async writeHandoffReport(request: ReportRequest) {
      const { workflowExecution, namespace } = Context.current().info;
      const base = request.input.uiUrl;
      const ui =
        base && workflowExecution
          ? uiLink(base, namespace, workflowExecution.workflowId, workflowExecution.runId)
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
