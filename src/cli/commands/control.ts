// `opsflow deploy pause|resume|promote|abort`: names, options and help; deploy-actions.ts sends them when one runs.
import type { Command } from 'commander';
import type { ControlAction } from '../../shared/deploy';
import type { ControlOptions } from './deploy-actions';

const HELP: Record<ControlAction, { description: string; done: string; by: string }> = {
  pause: {
    description:
      'pause a running verification, canary or blue-green switch: no promotion, no rollback, no samples until ' +
      "resumed, promoted or aborted (it rolls back after the environment's pauseTimeout)",
    done: 'paused',
    by: 'who pauses (anyone: stopping is always allowed)',
  },
  resume: {
    description: 'resume a paused deploy where it stopped',
    done: 'resumed',
    by: 'who resumes (a listed approver of the environment, if it has approvers)',
  },
  promote: {
    description: 'skip the remaining canary steps (or the rest of the blue-green wait) and promote now',
    done: 'promotion requested for',
    by: 'who promotes (a listed approver of the environment, if it has approvers)',
  },
  abort: {
    description: 'stop the deploy and roll the environment back: canary traffic to 0 % first',
    done: 'abort requested for',
    by: 'who aborts (anyone: stopping is always allowed)',
  },
};

/** Registers `opsflow deploy pause|resume|promote|abort <id> --by <name> [--reason ...]`. */
export function registerControlCommands(deployCmd: Command): void {
  for (const action of Object.keys(HELP) as ControlAction[]) {
    const help = HELP[action];
    deployCmd
      .command(`${action} <workflowId>`)
      .description(help.description)
      .requiredOption('--by <name>', help.by)
      .option('--reason <text>', 'why (recorded in the history, the timeline and the report)')
      .option('--key <file>', 'the signing key (default: <name>.key in the keys folders, as for approve)')
      .option('--signal', 'send a Signal instead of an Update (no answer; for tools that cannot send Updates)')
      .option('--json', 'print the recorded action as JSON')
      .action(async (workflowId: string, opts: ControlOptions) => {
        const { control } = await import('./deploy-actions.js');
        await control(action, help.done, workflowId, opts);
      });
  }
}

/** Registers `opsflow deploy override <id> --by <name> --reason ...`: a signed break-glass override of a freeze. */
export function registerOverrideCommand(deployCmd: Command): void {
  deployCmd
    .command('override <workflowId>')
    .description(
      "sign a break-glass override of the freeze holding a deploy (phase FROZEN): the freeze's breakGlass number of " +
        'approvers of the environment, each with their own key, let it go before the freeze ends',
    )
    .requiredOption('--by <name>', 'who overrides (an approver of the frozen environment, signing with their key)')
    .requiredOption(
      '--reason <text>',
      'why the line must not stop (recorded in the history, the timeline and the report)',
    )
    .option('--key <file>', 'the signing key (default: <name>.key in the keys folders, as for approve)')
    .option('--signal', 'send a Signal instead of an Update (no answer; for tools that cannot send Updates)')
    .option('--json', 'print the recorded override as JSON')
    .action(async (workflowId: string, opts: ControlOptions) => {
      const { overrideFreeze } = await import('./deploy-actions.js');
      await overrideFreeze(workflowId, opts);
    });
}
