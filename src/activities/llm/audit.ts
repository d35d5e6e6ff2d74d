import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LlmAuditRef } from '../../config/llm';
import { checkWorkdir } from '../report/workdir';

/** Where the full text of LLM calls is kept: `<workdir>/.opsflow/llm/<label>/`. */
export interface AuditSink {
  workdir: string;
  /** Groups the calls of one deploy or one agent run, e.g. the workflow id. */
  label: string;
}

/** Everything about one call a person may want to read later; never the key. */
export interface AuditRecord {
  purpose: string;
  promptVersion: string;
  provider: string;
  model: string;
  baseUrl: string;
  at: string;
  latencyMs: number;
  request: unknown;
  response?: string;
  error?: string;
  inputTokens: number;
  outputTokens: number;
  estimatedCostUsd: number;
}

/** sha256 of the request and the answer, shortened: what history keeps of them. */
export function hashCall(request: unknown, response: string | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify(request))
    .update('\n')
    .update(response ?? '')
    .digest('hex')
    .slice(0, 16);
}

const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || 'run';

/** Writes one call's record under .opsflow/llm and returns the reference that goes into history. */
export function writeAudit(sink: AuditSink, record: AuditRecord): LlmAuditRef {
  const hash = hashCall(record.request, record.response ?? record.error);
  const relative = path.posix.join('.opsflow', 'llm', safe(sink.label), `${safe(record.purpose)}-${hash}.json`);
  const file = path.join(checkWorkdir(sink.workdir), relative);
  // Prompts and answers may quote plans and incidents: 0600 in 0700 folders.
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ hash, ...record }, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
  return { purpose: record.purpose, model: record.model, hash, file: relative };
}
