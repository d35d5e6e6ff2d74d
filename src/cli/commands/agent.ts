import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { agentEventArgsSchema, EVENT_TYPES, SEVERITIES, stopArgsSchema } from '../../shared/agent';
import { agentWorkflowId } from '../../shared/agent/config';
import { agentStatusQuery, recordEventUpdate, reviewNowUpdate, stopUpdate } from '../../shared/agent/messages';
import { describeIssue, nameSchema } from '../../shared/validation';
import { agentStartOperation, agentTargetOf, answerOrExplain } from '../agent-front-door';
import { agentHandle, withClient } from '../client';
import { explain, forAgent } from '../explain';
import { formatAgentStatus } from '../format';
import { CliError, print, printJson } from '../output';

/** The project: --project, else the one opsflow.yaml names. */
function projectOf(opts: { project?: string; config?: string }): string {
  if (opts.project) {
    const checked = nameSchema.safeParse(opts.project);
    if (!checked.success) throw new CliError(`--project: ${checked.error.issues[0]?.message}`);
    return checked.data;
  }
  return loadConfig(opts.config).config.project;
}

/** Registers `opsflow agent ...`. */
export function registerAgentCommands(program: Command): void {
  const agent = program
    .command('agent')
    .description("the project's long-lived ops agent: events, status, stop")
    .addHelpText(
      'after',
      `
One agent per project (workflow id ops-agent-<project>). "opsflow deploy start" goes through it and starts it
when it is not running. It writes docs/operations/self-review/<date>.md daily, docs/incidents/ post-mortems
after rollbacks, and ends after 48 idle hours (agent.idleTimeout in opsflow.yaml) or on "opsflow agent stop".

Example:
  $ opsflow agent event --type alert --severity critical --service hello --message "error rate 12 %"
  $ opsflow agent status
  $ opsflow agent stop --by orchestrator --reason "phase complete"`,
    );

  agent
    .command('event')
    .description(
      'record an infrastructure event (starts the agent if needed); a critical alert aborts the service’s running deploy',
    )
    .option('--project <name>', 'project (default: the one opsflow.yaml names; must match it)')
    .requiredOption('--type <type>', EVENT_TYPES.join('|'))
    .requiredOption('--severity <severity>', SEVERITIES.join('|'))
    .requiredOption('--message <text>', 'what happened')
    .option('--service <name>', 'the service it concerns')
    .option('--by <name>', 'who or what reports it')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the recorded event as JSON')
    .action(async (opts: Record<string, string | undefined> & { json?: boolean }) => {
      const parsed = agentEventArgsSchema.safeParse({
        type: opts['type'],
        severity: opts['severity'],
        message: opts['message'],
        ...(opts['service'] ? { service: opts['service'] } : {}),
        ...(opts['by'] ? { by: opts['by'] } : {}),
      });
      if (!parsed.success) throw new CliError(`--${describeIssue(parsed.error)}`);
      const { config } = loadConfig(opts['config']);
      if (opts['project'] && opts['project'] !== config.project) {
        throw new CliError(
          `--project: ${opts['config'] ?? 'opsflow.yaml'} describes ${config.project}, not ${opts['project']}`,
        );
      }
      const target = agentTargetOf(config, process.cwd());
      await withClient(async (client) => {
        const recorded = await answerOrExplain(
          client.workflow.executeUpdateWithStart(recordEventUpdate, {
            args: [parsed.data],
            startWorkflowOperation: agentStartOperation(target),
          }),
          target,
        );
        if (opts.json) return printJson(recorded);
        print(`recorded event ${recorded.id} for ${agentWorkflowId(config.project)} at ${recorded.at}`);
        for (const action of recorded.actions) print(`  ${action}`);
      });
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
    .action(async (opts: { project?: string; by: string; reason: string; config?: string; json?: boolean }) => {
      const args = stopArgsSchema.safeParse({ by: opts.by, reason: opts.reason });
      if (!args.success) throw new CliError(`--${describeIssue(args.error)}`);
      const project = projectOf(opts);
      await withClient(async (client) => {
        const handle = agentHandle(client, project);
        try {
          const status = await handle.executeUpdate(stopUpdate, { args: [args.data] });
          if (opts.json) return printJson(status);
          print(
            status.running.length
              ? `${status.workflowId} stops after ${status.running.length} running deploys finish: ${status.running.map((r) => r.deployId).join(', ')}`
              : `${status.workflowId} stops now and writes its final report`,
          );
        } catch (err) {
          throw explain(err, forAgent(project));
        }
      });
    });

  agent
    .command('review')
    .description('run the self-review now, for the window since the last one (the daily schedule is unchanged)')
    .option('--project <name>', 'project (default: the one opsflow.yaml names)')
    .option('--by <name>', 'who asks', process.env['OPSFLOW_USER'] ?? 'operator')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print {"date","file"}')
    .action(async (opts: { project?: string; by: string; config?: string; json?: boolean }) => {
      const by = nameSchema.safeParse(opts.by);
      if (!by.success) throw new CliError(`--by: ${by.error.issues[0]?.message}`);
      const project = projectOf(opts);
      await withClient(async (client) => {
        const handle = agentHandle(client, project);
        try {
          const written = await handle.executeUpdate(reviewNowUpdate, { args: [{ by: by.data }] });
          if (!written) throw new CliError('the self-review could not be written; see the worker log');
          if (opts.json) return printJson(written);
          print(`self-review written to ${written.file}`);
        } catch (err) {
          throw explain(err, forAgent(project));
        }
      });
    });

  agent
    .command('status')
    .description('started, idle deadline, next review, figures, running deploys, recent events')
    .option('--project <name>', 'project (default: the one opsflow.yaml names)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the whole status as JSON')
    .action(async (opts: { project?: string; config?: string; json?: boolean }) => {
      const project = projectOf(opts);
      await withClient(async (client) => {
        const handle = agentHandle(client, project);
        try {
          const description = await handle.describe();
          if (description.status.name !== 'RUNNING') {
            const result = await handle.result();
            if (opts.json) return printJson({ status: description.status.name, result });
            return print(`${handle.workflowId}: ended (${result.reason}) at ${result.endedAt}: ${result.detail}`);
          }
          const status = await handle.query(agentStatusQuery);
          if (opts.json) printJson(status);
          else print(formatAgentStatus(status));
        } catch (err) {
          throw explain(err, forAgent(project));
        }
      });
    });

  agent
    .command('list')
    .description('ops agents, newest first')
    .option('-n, --limit <count>', 'how many', '20')
    .option('--json', 'print JSON')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Math.max(1, Number(opts.limit) || 20);
      await withClient(async (client) => {
        const rows: { workflowId: string; status: string; started: string; closed: string | null }[] = [];
        for await (const wf of client.workflow.list({
          query: "WorkflowType = 'opsAgent' AND ExecutionStatus != 'ContinuedAsNew'",
          pageSize: limit,
        })) {
          rows.push({
            workflowId: wf.workflowId,
            status: wf.status.name,
            started: wf.startTime.toISOString(),
            closed: wf.closeTime?.toISOString() ?? null,
          });
          if (rows.length >= limit) break;
        }
        if (opts.json) return printJson(rows);
        if (rows.length === 0) return print('no ops agent yet: "opsflow deploy start" starts the project\'s agent');
        const width = Math.max(...rows.map((r) => r.workflowId.length));
        for (const r of rows) print(`${r.workflowId.padEnd(width)}  ${r.status.padEnd(16)}  ${r.started}`);
      });
    });
}
