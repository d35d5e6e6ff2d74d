import type { Command } from 'commander';
import type { ControlAction, ControlArgs, ControlRecord } from '../../shared/deploy';
import {
  abortSignal,
  abortUpdate,
  pauseSignal,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  resumeSignal,
  resumeUpdate,
} from '../../shared/deploy/messages';
import { deployHandle, explainDeployMessage, withClient } from '../client';
import { print, printJson } from '../output';

const MESSAGES = {
  pause: { update: pauseUpdate, signal: pauseSignal },
  resume: { update: resumeUpdate, signal: resumeSignal },
  promote: { update: promoteUpdate, signal: promoteSignal },
  abort: { update: abortUpdate, signal: abortSignal },
} as const;

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
  for (const action of Object.keys(MESSAGES) as ControlAction[]) {
    const help = HELP[action];
    deployCmd
      .command(`${action} <workflowId>`)
      .description(help.description)
      .requiredOption('--by <name>', help.by)
      .option('--reason <text>', 'why (recorded in the history, the timeline and the report)')
      .option('--signal', 'send a Signal instead of an Update (no answer; for tools that cannot send Updates)')
      .option('--json', 'print the recorded action as JSON')
      .action(async (workflowId: string, opts: { by: string; reason?: string; signal?: boolean; json?: boolean }) => {
        const args: ControlArgs = { by: opts.by, ...(opts.reason ? { reason: opts.reason } : {}) };
        await withClient(async (client) => {
          const handle = deployHandle(client, workflowId);
          try {
            if (opts.signal) {
              await handle.signal(MESSAGES[action].signal, args);
              print(
                `${action} signal sent to ${workflowId}; "opsflow deploy status ${workflowId}" shows whether it was taken`,
              );
              return;
            }
            const record: ControlRecord = await handle.executeUpdate(MESSAGES[action].update, { args: [args] });
            if (opts.json) printJson(record);
            else print(`${help.done} ${workflowId} by ${record.by} at ${record.at} (was ${record.phase})`);
          } catch (err) {
            throw await explainDeployMessage(handle, action, err);
          }
        });
      });
  }
}
