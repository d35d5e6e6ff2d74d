/**
 * The root folder the worker writes into: a request's workdir (handoff reports, agent docs, LLM audit files) must lie
 * inside it, so a request cannot make the worker write wherever it names. The worker's entry point sets it
 * (`--workdir-root`, OPSFLOW_WORKDIR_ROOT, else its cwd); code that never sets it (tests, the benchmark's in-process
 * workers) is not restricted.
 */
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../shared/errors';

let root: string | undefined;

/** Sets the folder every workdir must lie inside; the worker calls it once at start. */
export function setWorkdirRoot(folder: string): void {
  root = path.resolve(folder);
}

/** The configured root, if any. */
export function workdirRoot(): string | undefined {
  return root;
}

/** The resolved workdir; refuses (not retried) one outside the worker's root with one line. */
export function checkWorkdir(workdir: string): string {
  const resolved = path.resolve(workdir);
  if (root !== undefined && resolved !== root && !resolved.startsWith(root + path.sep)) {
    throw ApplicationFailure.nonRetryable(
      `workdir ${resolved} is outside the worker's root ${root}: run opsflow inside it, or start the worker with --workdir-root`,
      ErrorType.InvalidRequest,
    );
  }
  return resolved;
}
