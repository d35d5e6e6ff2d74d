import type { AnalysisSample } from '../../shared/analysis';
import {
  approvalWaitMs as waitedForApproval,
  restoreMs,
  resultsOf,
  stoppedEnvironment,
  totalSamples,
  type DeployStatus,
} from '../../shared/deploy';

/** Impact of a failed rollout in one environment, from the facts the deploy recorded. */
export interface Impact {
  environment: string | null;
  /** When the bad version began to hurt: the window start of the first failing or critical sample. */
  startedAt: string | null;
  /** When the bad version stopped taking traffic. */
  restoredAt: string | null;
  restoreMs: number | null;
  maxWeight: number;
  requests: number;
  errors: number;
  samples: AnalysisSample[];
}

/** Time spent waiting for people to approve. */
export function approvalWaitMs(status: DeployStatus): number {
  return waitedForApproval(resultsOf(status));
}

/** Where and for how long a rollout hurt, and how much traffic it touched. */
export function measureImpact(status: DeployStatus): Impact {
  const stopped = stoppedEnvironment(resultsOf(status));
  const environment = stopped?.environment ?? null;
  const samples = environment ? status.samples.filter((s) => s.environment === environment) : [];
  return {
    environment,
    startedAt: stopped?.failingSince ?? null,
    restoredAt: stopped?.restoredAt ?? null,
    restoreMs: stopped ? restoreMs(stopped) : null,
    maxWeight: stopped?.maxWeight ?? 0,
    requests: samples.reduce((n, s) => n + s.canary.requests, 0),
    errors: samples.reduce((n, s) => n + s.canary.errors, 0),
    samples,
  };
}

/** Counts of analysis samples that proved nothing. */
export function noisySamples(status: DeployStatus): { inconclusive: number; unmeasured: number } {
  const { inconclusive, unmeasured } = totalSamples(resultsOf(status));
  return { inconclusive, unmeasured };
}
