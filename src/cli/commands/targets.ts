// `opsflow targets`: names, options and help only; targets-actions.ts, the config and the targets load when it runs.
import type { Command } from 'commander';
import type { TargetsCheckOptions } from './targets-actions';

/** Registers `opsflow targets check`: reaches each configured deploy target and says what it found. */
export function registerTargetsCommands(program: Command): void {
  const targets = program.command('targets').description('the deploy targets of opsflow.yaml');
  targets
    .command('check')
    .description(
      'reach each service’s deploy target in each environment and print what runs there, or one line saying what is ' +
        'wrong; exits 1 when a target could not be checked',
    )
    .option('-s, --service <name>', 'check this service only')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the findings as JSON')
    .action(async (opts: TargetsCheckOptions) => {
      const { checkTargets } = await import('./targets-actions.js');
      await checkTargets(opts);
    });
}
