// `opsflow llm ...`: names, options and help only; llm-actions.ts, and the LLM SDKs, load when a command runs.
import type { Command } from 'commander';

/** Registers `opsflow llm ...`. */
export function registerLlmCommands(program: Command): void {
  const llm = program.command('llm').description('the LLM that plans and narrates: which one, and whether it answers');
  llm
    .command('check')
    .description('say which provider is configured, reach it with one tiny call, report the model and latency')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { llmCheck } = await import('./llm-actions.js');
      await llmCheck(opts);
    });
}
