import type { MetricsWindow } from '../shared/analysis';
import type { CustomMetricQuery } from './metrics/provider';
import type { DeployStatus, FilesChanged, Plan, DeployInput, ReportResult } from '../shared/deploy';

/** Names one release of a service in one environment, owned by one deploy. */
export interface ReleaseRef {
  deployId: string;
  environment: string;
  service: string;
  version: string;
}

export interface StartReleaseResult {
  pid: number;
  port: number;
  alreadyPromoted: boolean;
}

export interface TrafficResult {
  weight: number;
  changedAt: number;
}

export interface RollbackResult {
  rolledBack: boolean;
  /** Epoch ms at which the canary stopped receiving traffic, when the platform reports it. */
  weightZeroAt?: number;
  detail: string;
}

export interface MeasureRequest {
  environment: string;
  service: string;
  version: string;
  stableVersion: string | null;
  windowMs: number;
  /** Which provider to ask; the local platform's figures when absent. */
  provider?: 'local' | 'prometheus';
  custom?: CustomMetricQuery[];
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
