import { costImpactOf } from '../../shared/analysis/cost';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import {
  approvalWaitMs,
  restoreMs,
  resultsOf,
  totalSamples,
  type DeployStatus,
  type FilesChanged,
  type ReportResult,
} from '../../shared/deploy';
import { ErrorType } from '../../shared/errors';
import type { ReportRequest, SnapshotRequest } from '../types';
import type { LlmReport } from '../llm/report';
import { renderSummary } from './summary';
import { checkStaysInside, checkWorkdir } from './workdir';

/** The files every ending writes into the handoff folder. */
export const HANDOFF_FILES = ['summary.md', 'files-changed.json', 'report.json'] as const;

/**
 * Resolves the handoff folder; refuses (not retried) any path that would leave `<workdir>/.agency/handoff` as written,
 * or the workdir once symbolic links are resolved (a committed `.agency` or `.agency/handoff/<feature>` link).
 */
export function resolveHandoffDir(workdir: string, dir: string): string {
  workdir = checkWorkdir(workdir);
  const root = path.resolve(workdir, '.agency', 'handoff');
  const resolved = path.resolve(workdir, dir);
  if (!resolved.startsWith(root + path.sep)) {
    throw ApplicationFailure.nonRetryable(`handoff folder ${dir} would leave ${root}`, ErrorType.InvalidRequest);
  }
  checkStaysInside(resolved, workdir, `handoff folder ${dir}`);
  return resolved;
}

/** A file in the handoff folder, refused (not retried) when it is a symbolic link that leads out of the workdir. */
export function resolveHandoffFile(workdir: string, dir: string, name: string): string {
  const file = path.join(resolveHandoffDir(workdir, dir), name);
  checkStaysInside(file, workdir, `handoff file ${path.posix.join(dir, name)}`);
  return file;
}

/** Which of the handoff files exist before this run writes anything (recorded in history, so retries agree). */
export function snapshotHandoff({ workdir, dir }: SnapshotRequest): { existing: string[] } {
  const folder = resolveHandoffDir(workdir, dir);
  return {
    existing: HANDOFF_FILES.filter((f) => existsSync(path.join(folder, f))).map((f) => path.posix.join(dir, f)),
  };
}

/**
 * Writes through a temporary file and a rename, so a reader never sees half a report. The temporary file is created
 * afresh ('wx' fails on anything there, a symbolic link included): a committed link by that name leads nowhere.
 */
function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  rmSync(temp, { force: true });
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  renameSync(temp, file);
}

/** The orchestrator's view of the run: report.json. */
export function buildReport(request: ReportRequest, files: FilesChanged, llm?: LlmReport) {
  const { input, status } = request;
  const durationMs = new Date(status.endedAt ?? status.startedAt).getTime() - new Date(status.startedAt).getTime();
  return {
    schema: 'opsflow.deploy-report/v1',
    deployId: input.deployId,
    project: input.project,
    service: input.service,
    version: input.version,
    feature: input.feature,
    requestedBy: input.requestedBy,
    outcome: status.outcome,
    reason: status.reason,
    cause: status.cause ?? null,
    phase: status.phase,
    startedAt: status.startedAt,
    endedAt: status.endedAt,
    durationMs,
    approvalWaitMs: approvalWaitMs(resultsOf(status)),
    environments: Object.fromEntries(
      (status.rollout ?? input.environments).map((env) => [env.name, environmentResult(status, env.name)]),
    ),
    plan: status.plan ? { source: status.plan.source, risk: status.plan.risk, rationale: status.plan.rationale } : null,
    approvals: status.approvals,
    analysis: {
      samples: status.samples.length,
      verdicts: countBy(status.samples.map((s) => s.verdict)),
      unmeasured: totalSamples(resultsOf(status)).unmeasured,
      last: status.lastSample ?? null,
    },
    filesChanged: files,
    llm: llm
      ? {
          provider: llm.provider,
          model: llm.model ?? null,
          usage: llm.usage,
          plan: {
            source: llm.planSource ?? null,
            fallback: llm.planFallback ?? null,
            adjustments: llm.planAdjustments,
          },
          narrative: {
            kind: llm.narrative.kind,
            source: llm.narrative.source,
            fallback: llm.narrative.fallback?.reason ?? null,
            text: llm.narrative.text,
          },
          audit: llm.audit,
        }
      : null,
  };
}

/** One environment in report.json: today's before/after/promoted, plus the facts behind them. */
function environmentResult(status: DeployStatus, env: string) {
  const result = resultsOf(status).find((r) => r.environment === env);
  const before = result?.fromVersion ?? status.previousVersions[env] ?? null;
  return {
    before,
    after: result?.toVersion ?? before,
    promoted: result?.outcome === 'promoted',
    outcome: result?.outcome ?? 'not-reached',
    ...(result?.approval ? { approval: result.approval } : {}),
    failingSince: result?.failingSince ?? null,
    restoredAt: result?.restoredAt ?? null,
    restoreMs: result ? restoreMs(result) : null,
    cause: result?.cause ?? null,
    maxWeight: result?.maxWeight ?? 0,
    approximateSplit: result?.approximateSplit ?? false,
    /** Cost per 1,000 requests, canary against stable, of the last step judged with cost; null: not compared. */
    cost: costImpactOf(status.stepVerdicts, env) ?? null,
  };
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/** Writes summary.md, files-changed.json and report.json; idempotent for the same request. */
export function writeHandoffReport(request: ReportRequest, links: { ui?: string } = {}, llm?: LlmReport): ReportResult {
  const folder = resolveHandoffDir(request.workdir, request.dir);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const paths = HANDOFF_FILES.map((f) => path.posix.join(request.dir, f));
  const files: FilesChanged = {
    created: paths.filter((p) => !request.existing.includes(p)),
    modified: paths.filter((p) => request.existing.includes(p)),
    deleted: [],
  };
  writeAtomically(path.join(folder, 'summary.md'), renderSummary(request.input, request.status, files, links, llm));
  writeAtomically(path.join(folder, 'files-changed.json'), `${JSON.stringify(files, null, 2)}\n`);
  writeAtomically(path.join(folder, 'report.json'), `${JSON.stringify(buildReport(request, files, llm), null, 2)}\n`);
  return { dir: request.dir, files: paths, filesChanged: files };
}
