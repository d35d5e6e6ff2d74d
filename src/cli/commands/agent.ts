// `opsflow agent ...`: names, options and help only; agent-actions.ts is loaded when a command runs.
import type { Command } from 'commander';
import { EVENT_TYPES, SEVERITIES } from '../../shared/agent/events';
import type { EventOptions, ProjectOptions } from './agent-actions';

/** Registers `opsflow agent ...`. */
export function registerAgentCommands(program: Command): void {
  const agent = program
    .command('agent')
    .description("the project's long-lived ops agent: events, status, stop")
    .addHelpText(
      'after',
      `
One agent per project (workflow id ops-agent-<project>). "opsflow deploy start" goes through it and starts it
when it is not running. It writes docs/operations/self-review/<date>.md daily (and refreshes docs/OPERATIONS.md,
see "opsflow docs operations"), docs/incidents/ post-mortems after rollbacks, and ends after 48 idle hours
(agent.idleTimeout in opsflow.yaml) or on "opsflow agent stop".

Example:
  $ opsflow agent event --type alert --severity critical --service hello --message "error rate 12 %"
  $ opsflow agent status
  $ opsflow agent stop --by orchestrator --reason "phase complete"`,
    );

  agent
    .command('event')
    .description(
      'record an infrastructure event (starts the agent if needed); a critical alert aborts the service’s running ' +
        'deploy, a critical incident freezes its environment until resolved',
    )
    .option('--project <name>', 'project (default: the one opsflow.yaml names; must match it)')
    .requiredOption('--type <type>', EVENT_TYPES.join('|'))
    .requiredOption('--severity <severity>', SEVERITIES.join('|'))
    .requiredOption('--message <text>', 'what happened')
    .option('--service <name>', 'the service it concerns')
    .option('--by <name>', 'who or what reports it')
    .option(
      '--environment <name>',
      'the environment it concerns: a critical incident freezes it (default: every protected one)',
    )
    .option('--key <key>', "the incident's key (an alert fingerprint): its resolved event lifts the freeze")
    .option('--status <status>', 'firing|resolved (default firing)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the recorded event as JSON')
    .action(async (opts: EventOptions) => {
      const { recordEvent } = await import('./agent-actions.js');
      await recordEvent(opts);
    });

  agent
    .command('stop')
    .description(
      'ask the agent to end: no new deploys, running ones finish (a canary is never cut), then its final report',
    )
    .option('--project <name>', 'project (default: the one opsflow.yaml names)')
    .requiredOption('--by <name>', 'who asks (recorded)')
    .requiredOption('--reason <text>', 'why (recorded in the final report)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the agent status as JSON')
    .action(async (opts: ProjectOptions & { by: string; reason: string }) => {
      const { stopAgent } = await import('./agent-actions.js');
      await stopAgent(opts);
    });

  agent
    .command('review')
    .description('run the self-review now, for the window since the last one (the daily schedule is unchanged)')
    .option('--project <name>', 'project (default: the one opsflow.yaml names)')
    .option('--by <name>', 'who asks', process.env['OPSFLOW_USER'] ?? 'operator')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print {"date","file"}')
    .action(async (opts: ProjectOptions & { by: string }) => {
      const { reviewNow } = await import('./agent-actions.js');
      await reviewNow(opts);
    });

  agent
    .command('status')
    .description('started, idle deadline, next review, figures, running deploys, recent events')
    .option('--project <name>', 'project (default: the one opsflow.yaml names)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the whole status as JSON')
    .action(async (opts: ProjectOptions) => {
      const { showAgentStatus } = await import('./agent-actions.js');
      await showAgentStatus(opts);
    });

  agent
    .command('list')
    .description('ops agents, newest first')
    .option('-n, --limit <count>', 'how many', '20')
    .option('--json', 'print JSON')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const { listAgents } = await import('./agent-actions.js');
      await listAgents(opts);
    });
}
