// The opsflow CLI. Only commander and the commands' registrations load before the arguments are parsed; each
// action imports what it needs when it runs (see src/cli/commands/).
import { Command, CommanderError } from 'commander';
import { registerAgentCommands } from './commands/agent';
import { registerFreezeCommands } from './commands/freeze';
import { registerAnalysisCommands } from './commands/analysis';
import { registerChatBridgeCommand } from './commands/chat-bridge';
import { registerCodecServerCommand } from './commands/codec-server';
import { registerDeployCommands } from './commands/deploy';
import { registerDocsCommands } from './commands/docs';
import { registerLlmCommands } from './commands/llm';
import { registerPlanCommand } from './commands/plan';
import { registerKeysCommands } from './commands/keys';
import { registerTargetsCommands } from './commands/targets';
import { printError } from './output';

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
  registerFreezeCommands(program);
  registerDocsCommands(program);
  registerAnalysisCommands(program);
  registerPlanCommand(program);
  registerLlmCommands(program);
  registerTargetsCommands(program);
  registerKeysCommands(program);
  registerCodecServerCommand(program);
  registerChatBridgeCommand(program);
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
    // One line for people; the stack of what went wrong inside only when asked for. The explainer loads Temporal's
    // client and the config's errors, so it is imported here, when something failed, and --help never pays for it.
    const { explain, isPersonError } = await import('./explain.js');
    printError(`opsflow: ${explain(err).message}`);
    const inner = isPersonError(err) && err.cause !== undefined ? err.cause : err;
    if (process.env['OPSFLOW_DEBUG'] && !isPersonError(inner)) console.error(inner);
    process.exitCode = 1;
  }
}

void main(process.argv);
