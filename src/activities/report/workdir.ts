/**
 * The root folder the worker writes into: a request's workdir (handoff reports, agent docs, LLM audit files) must lie
 * inside it, so a request cannot make the worker write wherever it names. The worker's entry point sets it
 * (`--workdir-root`, OPSFLOW_WORKDIR_ROOT, else its cwd); code that never sets it (tests, the benchmark's in-process
 * workers) is not restricted. Paths are compared where they really are, symbolic links resolved: a link committed to a
 * repository must not lead a write out of it.
 */
import { lstatSync, realpathSync } from 'node:fs';
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

/** A request the worker will not act on: one line, not retried. */
function refuse(message: string): never {
  throw ApplicationFailure.nonRetryable(message, ErrorType.InvalidRequest);
}

/** Whether `file` is `folder` or lies inside it (both absolute and normalised). */
function isInside(file: string, folder: string): boolean {
  const relative = path.relative(folder, file);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/**
 * Where `file` really is, every symbolic link resolved (fs.realpathSync); for a path not created yet, the real path of
 * its deepest existing ancestor joined with the rest. A link that leads nowhere, or in a loop, is refused: where a
 * write through it would land cannot be known.
 */
export function realPath(file: string): string {
  const rest: string[] = [];
  for (let current = path.resolve(file); ; current = path.dirname(current)) {
    try {
      return path.join(realpathSync(current), ...rest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && lstatSync(current, { throwIfNoEntry: false })?.isSymbolicLink()) {
        refuse(`${current} is a symbolic link to a path that does not exist: remove it, or create what it points to`);
      }
      if (code !== 'ENOENT' || path.dirname(current) === current) {
        refuse(`cannot resolve ${current} (${code ?? 'error'}): fix or remove it`);
      }
      rest.unshift(path.basename(current));
    }
  }
}

/**
 * Refuses (not retried) `file` when where it really is, symbolic links resolved, leaves where `folder` really is;
 * `what` names it in the line ("handoff folder .agency/handoff/f/devops-automator").
 */
export function checkStaysInside(file: string, folder: string, what: string): void {
  const real = realPath(file);
  const realFolder = realPath(folder);
  if (!isInside(real, realFolder)) {
    refuse(
      `${what} leads to ${real} through a symbolic link, outside ${realFolder}: ` +
        `remove the link, or make it point inside ${realFolder}`,
    );
  }
}

/**
 * The resolved workdir; refuses (not retried) one outside the worker's root with one line, symbolic links resolved on
 * both sides.
 */
export function checkWorkdir(workdir: string): string {
  const resolved = path.resolve(workdir);
  if (root === undefined) return resolved;
  const real = realPath(resolved);
  const realRoot = realPath(root);
  if (!isInside(real, realRoot)) {
    const through = real === resolved ? '' : ` (${real} through a symbolic link)`;
    refuse(
      `workdir ${resolved}${through} is outside the worker's root ${realRoot}: ` +
        'run opsflow inside it, or start the worker with --workdir-root',
    );
  }
  return resolved;
}
