import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load';
import { RequestError } from '../config/deploy-request';
import { registerAgentCommands } from './agent-commands';
import { registerDeployCommands } from './deploy-commands';
import { registerLlmCommands } from './llm-commands';
import { registerPlanCommand } from './plan-command';
import { CliError } from './output';

/** Builds the `opsflow` command; exported so tests can run it in-process. */
export function buildProgram(): Command {
  const program = new Command('opsflow')
    .description(
      'A durable DevOps agent on Temporal: deploys through staging, a production approval and a canary with ' +
        'automated rollback, and writes a handoff report.',
    )
    .version('0.1.0', '-V, --version', 'print the opsflow version')
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Connection: Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TLS settings, or a profile with TEMPORAL_PROFILE); default localhost:7233, the dev server "npm start" runs.

Start here:
  $ npm start                                          # dev server + UI, worker, local platform
  $ opsflow deploy start --service hello --version 1.1.0
  $ opsflow deploy --help`,
    );
  registerDeployCommands(program);
  registerAgentCommands(program);
  registerPlanCommand(program);
  registerLlmCommands(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError || err instanceof ConfigError || err instanceof RequestError) {
      console.error(`opsflow: ${err.message}`);
    } else {
      console.error(`opsflow: ${(err as Error).message?.split('\n')[0] ?? String(err)}`);
      if (process.env['OPSFLOW_DEBUG']) console.error(err);
    }
    process.exitCode = 1;
  }
}

void main(process.argv);
