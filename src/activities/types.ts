import type { MetricsWindow } from '../shared/analysis';
import type { CustomMetricQuery } from './metrics/contract';
import type { MetricsProviderName } from './metrics/registry';
import type { DeployStatus, FilesChanged, Plan, DeployInput, ReportResult } from '../shared/deploy';

/** The target operations' arguments and results, as the activities pass them through (see targets/contract.ts). */
export type {
  DeployRef,
  PromoteResult,
  ReleaseRef,
  RollbackRef,
  RollbackResult,
  StartResult,
  WeightRef,
  WeightResult,
} from './targets/contract';

export interface MeasureRequest {
  environment: string;
  service: string;
  version: string;
  stableVersion: string | null;
  windowMs: number;
  /** Which provider to ask; the local platform's figures when absent. */
  provider?: MetricsProviderName;
  custom?: CustomMetricQuery[];
  /** Also price each version's window with the worker's cost source (rules revision cost). */
  cost?: boolean;
}

export interface MeasureResult {
  canary: MetricsWindow;
  stable: MetricsWindow | null;
}

export interface PlanRequest {
  input: DeployInput;
}

export interface ReportRequest {
  input: DeployInput;
  workdir: string;
  dir: string;
  status: DeployStatus;
  /** Files of the handoff folder that existed before this run wrote anything. */
  existing: string[];
}

export type { FilesChanged, Plan, ReportResult };

export interface SnapshotRequest {
  workdir: string;
  dir: string;
}
