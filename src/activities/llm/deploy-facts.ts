import { restoreMs, resultsOf, stoppedEnvironment, type DeployInput, type DeployStatus } from '../../shared/deploy';

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const seconds = (fromIso: string, toIso: string) => round((Date.parse(toIso) - Date.parse(fromIso)) / 1000, 1);

/** Who and what a rollback touched, from the samples of the environment where it happened. */
function impactOf(input: DeployInput, status: DeployStatus) {
  const stopped = stoppedEnvironment(resultsOf(status));
  const rolledBack = stopped?.environment;
  const samples = status.samples.filter((s) => s.environment === rolledBack);
  if (!stopped || !rolledBack || samples.length === 0) return undefined;
  const restore = restoreMs(stopped);
  const requests = samples.reduce((sum, s) => sum + s.canary.requests, 0);
  const errors = samples.reduce((sum, s) => sum + s.canary.errors, 0);
  const p95s = samples.map((s) => s.canary.p95Ms).filter((v): v is number => v !== null);
  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    environment: rolledBack,
    version: input.version,
    highestCanaryWeightPercent: Math.max(...samples.map((s) => s.weight)),
    canaryRequests: requests,
    canaryErrors: errors,
    canaryErrorRatePercent: requests > 0 ? round((errors / requests) * 100) : null,
    worstP95Ms: p95s.length ? Math.round(Math.max(...p95s)) : null,
    exposureSeconds: first && last ? round(seconds(first.at, last.at) + last.windowMs / 1000, 1) : null,
    decidingSample: last ? { verdict: last.verdict, reason: last.reason, at: last.at } : null,
    cause: stopped.cause ?? null,
    timeToRestoreSeconds: restore === null ? null : round(restore / 1000, 1),
  };
}

/**
 * The facts a deploy's narrative may use: every figure here is measured or recorded by the workflow,
 * and nothing else may appear in the text.
 */
export function deployFacts(input: DeployInput, status: DeployStatus): Record<string, unknown> {
  const verdicts: Record<string, number> = {};
  for (const s of status.samples) verdicts[s.verdict] = (verdicts[s.verdict] ?? 0) + 1;
  const results = resultsOf(status);
  const facts: Record<string, unknown> = {
    ...(status.outcome === 'rolled-back' ? { impact: impactOf(input, status) ?? 'no samples were taken' } : {}),
    service: input.service,
    version: input.version,
    outcome: status.outcome ?? 'failed',
    reason: status.reason ?? '',
    requestedBy: input.requestedBy,
    startedAt: status.startedAt,
    endedAt: status.endedAt ?? null,
    durationSeconds: status.endedAt ? seconds(status.startedAt, status.endedAt) : null,
    environments: (status.rollout ?? input.environments).map((env) => {
      const result = results.find((r) => r.environment === env.name);
      const before = result?.fromVersion ?? status.previousVersions[env.name] ?? null;
      return {
        name: env.name,
        strategy: env.strategy,
        outcome: result?.outcome ?? 'not-reached',
        before,
        now: result?.toVersion ?? before,
      };
    }),
    plan: status.plan ? { source: status.plan.source, risk: status.plan.risk, rationale: status.plan.rationale } : null,
    approvals: status.approvals.map((a) => ({ environment: a.environment, decision: a.decision, by: a.by })),
    samples: { total: status.samples.length, byVerdict: verdicts },
    lastSample: status.lastSample
      ? {
          environment: status.lastSample.environment,
          weightPercent: status.lastSample.weight,
          requests: status.lastSample.canary.requests,
          errors: status.lastSample.canary.errors,
          errorRatePercent: status.lastSample.errorRate === null ? null : round(status.lastSample.errorRate * 100),
          p95Ms: status.lastSample.canary.p95Ms === null ? null : Math.round(status.lastSample.canary.p95Ms),
          verdict: status.lastSample.verdict,
        }
      : null,
  };
  return facts;
}
