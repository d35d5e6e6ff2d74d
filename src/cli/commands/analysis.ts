// `opsflow analysis replay`: names, options and help; analysis-actions.ts reads the history when it runs.
import type { Command } from 'commander';
import type { ReplayOptions } from './analysis-actions';

/** Registers `opsflow analysis replay <deploy-id> [--config other.yaml]`. */
export function registerAnalysisCommands(program: Command): void {
  const analysis = program.command('analysis').description('the canary analysis of deploys that ran');
  analysis
    .command('replay')
    .description(
      "re-judge a finished deploy's recorded samples from its history: with the settings it ran with (which must " +
        'give back exactly its verdicts), and with the analysis settings of another opsflow.yaml to see where they ' +
        'would have decided otherwise; exits 1 when the replay does not reproduce the record',
    )
    .argument('<deploy-id>', 'the deploy workflow id, e.g. deploy/hello/1.1.0/production')
    .option('-c, --config <file>', "another configuration: its environments' analysis settings are tried")
    .option('--json', 'print the replay as JSON')
    .addHelpText(
      'after',
      `
Only the analysis settings change (thresholds, limits, score, minStepRequests, maxBakeFactor): the steps and
bakes are the ones the deploy ran, and a sample that was never taken cannot be judged. A step the other
settings would have held longer than the deploy did shows as pending.

  $ opsflow analysis replay deploy/hello/1.1.0/production
  $ opsflow analysis replay deploy/hello/1.1.0/production --config looser.yaml`,
    )
    .action(async (deployId: string, opts: ReplayOptions) => {
      const { replayAnalysis } = await import('./analysis-actions.js');
      process.exitCode = await replayAnalysis(deployId, opts);
    });
}
