// `opsflow freeze ...`: names, options and help only; freeze-actions.ts is loaded when a command runs.
import type { Command } from 'commander';
import type { FreezeEndOptions, FreezeListOptions, FreezeStartOptions } from './freeze-actions';

/** Registers `opsflow freeze start|end|list`. */
export function registerFreezeCommands(program: Command): void {
  const freeze = program
    .command('freeze')
    .description('stop the line during an incident: no new release starts in a frozen environment until it ends')
    .addHelpText(
      'after',
      `
An incident freeze is kept by the project's ops agent (ops-agent-<project>). A deploy reaching a frozen
environment waits in phase FROZEN and goes on when the freeze ends; a release already ramping goes on (pause
or abort it). The worker checks the freeze again before it starts any release. Starting and ending one is
signed with your key, and only an approver of the environment in the worker's policy may. A critical
incident event ("opsflow agent event --type incident --severity critical --environment production --key K")
raises one too, and the event with the same key and --status resolved lifts it. Freeze windows (holidays,
weekends) are the worker's policy.freezes instead. A deploy can pass a freeze with the policy's break-glass
number of signed overrides ("opsflow deploy override").

Example:
  $ opsflow freeze start --env production --reason "payments outage INC-42" --by alice
  $ opsflow freeze list
  $ opsflow freeze end incident-1 --by alice --reason "payments restored"`,
    );

  freeze
    .command('start')
    .description('freeze an environment (or every protected one with --all), signed with your key')
    .option('--env <name>', 'the environment to freeze')
    .option('--all', 'freeze every environment that needs approval')
    .requiredOption('--reason <text>', 'why the line stops (everyone notified reads it)')
    .option('--by <name>', 'who freezes (an approver of the environment)', process.env['OPSFLOW_USER'])
    .option('--key <file>', 'the signing key (default: <by>.key in the keys folders, or ssh-agent)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the freeze as JSON')
    .action(async (opts: FreezeStartOptions) => {
      const { startFreeze } = await import('./freeze-actions.js');
      await startFreeze(opts);
    });

  freeze
    .command('end')
    .description('end an incident freeze, signed with your key; held deploys go on at once')
    .argument('<id>', 'the freeze (incident-<n>, from "opsflow freeze list")')
    .option('--by <name>', 'who ends it (an approver of the environment)', process.env['OPSFLOW_USER'])
    .option('--reason <text>', 'why it is safe again')
    .option('--key <file>', 'the signing key (default: <by>.key in the keys folders, or ssh-agent)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the ended freeze as JSON')
    .action(async (id: string, opts: FreezeEndOptions) => {
      const { endFreeze } = await import('./freeze-actions.js');
      await endFreeze(id, opts);
    });

  freeze
    .command('list')
    .description('the incident freezes in force, and the latest ended ones')
    .option('--project <name>', 'project (default: the one opsflow.yaml names)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print JSON')
    .action(async (opts: FreezeListOptions) => {
      const { listFreezes } = await import('./freeze-actions.js');
      await listFreezes(opts);
    });
}
