// The self-review's part in OPERATIONS.md: the document refreshed from the review and the worker's config, and the
// files-changed.json of the review, classified once so a retried activity reports what its first attempt found.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { log } from '@temporalio/activity';
import { z } from 'zod';
import type { OpsflowConfig } from '../../config/schema';
import type { SelfReview } from '../../shared/agent';
import type { FilesChanged } from '../../shared/deploy';
import { agentFactsFromReview, configFacts, readDeployLog, renderOperations } from '../operations';
import { loggedLine, resolveDoc } from './files';

/** The worker's own opsflow.yaml, which OPERATIONS.md's config sections come from. */
export interface OperationsConfig {
  config: OpsflowConfig;
  /** Where the worker read it. */
  path: string;
}

/** A config path as the document names it: relative to the workdir when inside it, else as it is. */
export function shownPath(workdir: string, file: string): string {
  const relative = path.relative(path.resolve(workdir), path.resolve(file));
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/**
 * OPERATIONS.md as of this review: the agent's figures and improvement items from the review, the project's sections
 * from the worker's config (when it describes this project), runbooks and changelog from the agent's log. Null, and a
 * warning, when it cannot be rendered: the review itself is written regardless.
 */
export function operationsDoc(
  workdir: string,
  review: SelfReview,
  source: OperationsConfig | undefined,
): string | null {
  try {
    const generatedBy = `the ops agent's ${review.manual ? 'self-review asked for' : 'daily self-review'} of ${review.date}`;
    return renderOperations({
      project: review.project,
      generatedAt: review.to,
      generatedBy,
      linkBase: '',
      config: source
        ? configFacts(review.project, { config: source.config, path: shownPath(workdir, source.path) })
        : { missing: 'the worker that wrote this was given no opsflow.yaml' },
      agent: agentFactsFromReview(review),
      log: readDeployLog(workdir, review.project),
    });
  } catch (err) {
    log.warn('OPERATIONS.md could not be rendered; the review is written without it', {
      error: (err as Error).message,
    });
    return null;
  }
}

const filesChangedSchema = z.object({
  created: z.array(z.string()),
  modified: z.array(z.string()),
  deleted: z.array(z.string()),
});

/**
 * Which of `files` this review creates and which it modifies: as its log line recorded them when an earlier attempt
 * logged it, else as the workdir stands now (before anything is written).
 */
export function reviewFilesChanged(workdir: string, key: string, files: readonly string[]): FilesChanged {
  const earlier = filesChangedSchema.safeParse(loggedLine(workdir, key)?.['filesChanged']);
  if (earlier.success) return earlier.data;
  const exists = (file: string) => existsSync(resolveDoc(workdir, file));
  return {
    created: files.filter((f) => !exists(f)),
    modified: files.filter((f) => exists(f)),
    deleted: [],
  };
}

/** files-changed.json's text. */
export function filesChangedJson(files: FilesChanged): string {
  return `${JSON.stringify(files, null, 2)}\n`;
}
