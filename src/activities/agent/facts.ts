import { emptySecurity, type SecurityCounts } from '../../shared/agent/security';
import type { AnalysisSample } from '../../shared/analysis';
import {
  approvalWaitMs as waitedForApproval,
  restoreMs,
  resultsOf,
  stoppedEnvironment,
  totalSamples,
  type DeployResult,
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

/**
 * opsflow's own security facts of one deploy, from the typed fields of its status (its result's cause when the status
 * cannot be read): why the worker's policy refused it, a start without a signature where approvals are signed (and one
 * whose signature did not hold), the break-glass overrides it took.
 */
export function securityFacts(status: DeployStatus | null, result: DeployResult): SecurityCounts {
  const counts = emptySecurity();
  const cause = status?.cause ?? result.cause;
  if (cause?.kind === 'error' && cause.refusal) {
    if (cause.refusal === 'unsigned-start') counts.unsignedRefused += 1;
    else if (cause.refusal === 'loosening') counts.looseningRefused += 1;
    else counts.forgeriesRefused += 1;
  }
  const requester = status?.requester;
  if (status?.trust?.mode === 'signed' && requester && !requester.signed) {
    counts.unsignedStarts += 1;
    if (requester.signatureRefused) counts.forgeriesRefused += 1;
  }
  // Statuses recorded before operator controls existed have none.
  const controls: DeployStatus['controls'] | undefined = status?.controls;
  counts.breakGlassOverrides = controls?.filter((c) => c.action === 'override').length ?? 0;
  return counts;
}
