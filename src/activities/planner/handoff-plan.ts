import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { handoffDir } from '../../shared/deploy';
import { resolveHandoffFile } from '../report/handoff';

/**
 * plan.md from `.agency/handoff/<feature>/devops-automator/`, when the orchestrator left one (handoff mode); refused
 * when it, or a folder on the way, is a symbolic link that leads out of the workdir.
 */
export function readHandoffPlan(workdir: string, feature: string): { path: string; text: string } | undefined {
  const relative = path.posix.join(handoffDir(feature), 'plan.md');
  const file = resolveHandoffFile(workdir, handoffDir(feature), 'plan.md');
  return existsSync(file) ? { path: relative, text: readFileSync(file, 'utf8') } : undefined;
}
