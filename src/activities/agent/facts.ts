import type { AnalysisSample } from '../../shared/analysis';
import type { DeployStatus } from '../../shared/deploy';

const at = (iso: string) => new Date(iso).getTime();

/** Impact of a failed rollout in one environment, measured from its samples and timeline. */
export interface Impact {
  environment: string | null;
  /** When the bad version began to hurt: the window start of the first unhealthy sample. */
  startedAt: string | null;
  /** When the environment was rolled back. */
  restoredAt: string | null;
  restoreMs: number | null;
  maxWeight: number;
  requests: number;
  errors: number;
  samples: AnalysisSample[];
}

/** Time spent waiting for a person: from each "waiting for approval" entry to the decision after it. */
export function approvalWaitMs(status: DeployStatus): number {
  let total = 0;
  status.timeline.forEach((entry, i) => {
    if (entry.phase !== 'AWAITING_APPROVAL' || !entry.message.startsWith('waiting for approval')) return;
    const next = status.timeline[i + 1];
    const end = next?.at ?? status.endedAt ?? entry.at;
    total += Math.max(0, at(end) - at(entry.at));
  });
  return total;
}

/** Where and for how long a rollout hurt, and how much traffic it touched. */
export function measureImpact(status: DeployStatus): Impact {
  const rollingBack = status.timeline.find((t) => t.phase === 'ROLLING_BACK');
  const environment = rollingBack?.environment ?? (status.outcome === 'promoted' ? null : (status.environment ?? null));
  const samples = environment ? status.samples.filter((s) => s.environment === environment) : [];
  const firstBad = samples.find((s) => s.verdict === 'critical' || s.verdict === 'warning');
  const startedMs = firstBad ? at(firstBad.at) - firstBad.windowMs : rollingBack ? at(rollingBack.at) : null;
  // Impact ends when the bad version stops getting traffic (the deploy's rollback steps say so), else at the rollback's end.
  const inEnv = environment ? status.timeline.filter((t) => t.environment === environment) : [];
  const restored =
    inEnv.find((t) => /traffic-to-zero|gets 0 %/.test(t.message)) ??
    inEnv.find((t) => t.message.startsWith(`${environment} rolled back`)) ??
    inEnv.filter((t) => t.phase === 'ROLLING_BACK').at(-1);
  const restoredMs = restored ? at(restored.at) : null;
  return {
    environment,
    startedAt: startedMs === null ? null : new Date(startedMs).toISOString(),
    restoredAt: restored?.at ?? null,
    restoreMs: startedMs !== null && restoredMs !== null ? Math.max(0, restoredMs - startedMs) : null,
    maxWeight: samples.reduce((m, s) => Math.max(m, s.weight), 0),
    requests: samples.reduce((n, s) => n + s.canary.requests, 0),
    errors: samples.reduce((n, s) => n + s.canary.errors, 0),
    samples,
  };
}

/** Counts of analysis samples that proved nothing. */
export function noisySamples(status: DeployStatus): { inconclusive: number; unmeasured: number } {
  return {
    inconclusive: status.samples.filter((s) => s.verdict === 'inconclusive').length,
    unmeasured: status.timeline.filter((t) => t.message.startsWith('sample could not be measured')).length,
  };
}
