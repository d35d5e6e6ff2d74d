import type { RollbackStep } from './status';

/**
 * A rollback step's line for people, rendered from its fields: what it did or found, and who did it when that was not
 * this attempt. The timeline, `opsflow deploy status` and summary.md all show it so.
 */
export function rollbackStepText(step: Pick<RollbackStep, 'detail' | 'by'>): string {
  switch (step.by) {
    case 'earlier-attempt':
      return `${step.detail} (by an earlier attempt)`;
    case 'unknown':
      return `${step.detail} (an earlier attempt may have done it: the target keeps no record that tells)`;
    default:
      return step.detail;
  }
}
