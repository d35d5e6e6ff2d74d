import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { handoffDir } from '../../shared/deploy';
import { resolveHandoffDir } from '../report/handoff';

/** plan.md from `.agency/handoff/<feature>/devops-automator/`, when the orchestrator left one (handoff mode). */
export function readHandoffPlan(workdir: string, feature: string): { path: string; text: string } | undefined {
  const relative = path.posix.join(handoffDir(feature), 'plan.md');
  const file = path.join(resolveHandoffDir(workdir, handoffDir(feature)), 'plan.md');
  return existsSync(file) ? { path: relative, text: readFileSync(file, 'utf8') } : undefined;
}
