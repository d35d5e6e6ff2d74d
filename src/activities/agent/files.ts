import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../shared/errors';
import { nameSchema, versionSchema } from '../../shared/validation';
import { checkWorkdir } from '../report/workdir';

/** Where the agent writes, relative to the working directory (the spec's output locations). */
export const AGENT_PATHS = {
  log: 'docs/operations/agent-log.jsonl',
  runbook: 'docs/operations/runbook.md',
  selfReview: (date: string) => `docs/operations/self-review/${date}.md`,
  incident: (date: string, service: string, version: string) => `docs/incidents/${date}-${service}-${version}.md`,
  finalReport: (project: string, date: string, ext: 'md' | 'json') =>
    `docs/operations/ops-agent-${project}-${date}.${ext}`,
  /** The spec's OPERATIONS.md, refreshed by every self-review and by `opsflow docs operations`. */
  operations: 'docs/OPERATIONS.md',
  /** The files the latest self-review wrote, `{"created": [], "modified": [], "deleted": []}` as the handoff protocol has it. */
  filesChanged: 'docs/operations/files-changed.json',
} as const;

/** Resolves a path under the working directory's docs/ folder; refuses (not retried) anything that would leave it. */
export function resolveDoc(workdir: string, relative: string): string {
  const root = checkWorkdir(workdir);
  const docs = path.join(root, 'docs');
  const file = path.resolve(root, relative);
  if (!file.startsWith(docs + path.sep)) {
    throw ApplicationFailure.nonRetryable(`${relative} would leave ${docs}`, ErrorType.InvalidRequest);
  }
  return file;
}

/** A service or version that becomes part of a file name: validated, so it cannot hold a path. */
function fileNamePart(value: string, kind: 'service' | 'version'): string {
  const parsed = (kind === 'service' ? nameSchema : versionSchema).safeParse(value);
  if (!parsed.success || value.includes('..')) {
    throw ApplicationFailure.nonRetryable(
      `${kind} ${JSON.stringify(value)} cannot name a file: ${parsed.error?.issues[0]?.message ?? 'no ".."'}`,
      ErrorType.InvalidRequest,
    );
  }
  return parsed.data;
}

/** Writes through a temporary file and a rename, so a reader never sees half a document. */
export function writeDoc(workdir: string, relative: string, text: string): void {
  const file = resolveDoc(workdir, relative);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, file);
}

/**
 * The post-mortem's file: `<date>-<service>-<version>.md`, or `-2`, `-3`... when the same release failed earlier
 * that day. The file that carries `marker` is this deploy's own, so a retried activity rewrites the same file.
 */
export function incidentFile(workdir: string, date: string, service: string, version: string, marker: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
    throw ApplicationFailure.nonRetryable(`date "${date}" is not YYYY-MM-DD`, ErrorType.InvalidRequest);
  }
  service = fileNamePart(service, 'service');
  version = fileNamePart(version, 'version');
  for (let n = 1; ; n++) {
    const relative = AGENT_PATHS.incident(date, service, n === 1 ? version : `${version}-${n}`);
    const file = resolveDoc(workdir, relative);
    if (!existsSync(file) || readFileSync(file, 'utf8').includes(marker)) return relative;
  }
}

/** Appends a block once: a retried activity finds its marker and writes nothing. Returns whether it wrote. */
export function appendOnce(workdir: string, relative: string, marker: string, text: string, header = ''): boolean {
  const file = resolveDoc(workdir, relative);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : header;
  if (current.includes(marker)) return false;
  writeDoc(workdir, relative, current + text);
  return true;
}

/** Appends one JSON line to the agent's log, once per key. */
export function appendLogLine(workdir: string, entry: { key: string } & Record<string, unknown>): boolean {
  return appendOnce(workdir, AGENT_PATHS.log, `"key":${JSON.stringify(entry.key)}`, `${JSON.stringify(entry)}\n`);
}

/** The log line written under `key`, parsed, when there is one (a retried activity reads what its first attempt logged). */
export function loggedLine(workdir: string, key: string): Record<string, unknown> | undefined {
  const file = resolveDoc(workdir, AGENT_PATHS.log);
  if (!existsSync(file)) return undefined;
  const marker = `"key":${JSON.stringify(key)}`;
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.includes(marker));
  if (!line) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
