// What `opsflow agent event|stop|review|status|list` do, loaded when one of them runs.
import { loadConfig } from '../../config/load';
import { agentEventArgsSchema, stopArgsSchema } from '../../shared/agent';
import { agentWorkflowId } from '../../shared/agent/config';
import { agentStatusQuery, recordEventUpdate, reviewNowUpdate, stopUpdate } from '../../shared/agent/messages';
import { describeIssue, nameSchema } from '../../shared/validation';
import { agentHandle, agentStartOperation, agentTargetOf, answerOrExplain } from '../agent-front-door';
import { withClient } from '../client';
import { explain, forAgent } from '../explain';
import { formatAgentStatus } from '../format';
import { CliError, print, printJson } from '../output';

/** The options that say which project's agent: --project, else the one opsflow.yaml (or --config) names. */
export interface ProjectOptions {
  project?: string;
  config?: string;
  json?: boolean;
}

/** The project: --project, else the one opsflow.yaml names. */
export function projectOf(opts: ProjectOptions): string {
  if (opts.project) {
    const checked = nameSchema.safeParse(opts.project);
    if (!checked.success) throw new CliError(`--project: ${checked.error.issues[0]?.message}`);
    return checked.data;
  }
  return loadConfig(opts.config).config.project;
}

/** The options of `opsflow agent event`. */
export interface EventOptions extends ProjectOptions {
  type?: string;
  severity?: string;
  message?: string;
  service?: string;
  by?: string;
  environment?: string;
  key?: string;
  status?: string;
}

/** Records an infrastructure event with the project's agent, starting the agent when it is not running. */
export async function recordEvent(opts: EventOptions): Promise<void> {
  const parsed = agentEventArgsSchema.safeParse({
    type: opts.type,
    severity: opts.severity,
    message: opts.message,
    ...(opts.service ? { service: opts.service } : {}),
    ...(opts.by ? { by: opts.by } : {}),
    ...(opts.environment ? { environment: opts.environment } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.status ? { status: opts.status } : {}),
  });
  if (!parsed.success) throw new CliError(`--${describeIssue(parsed.error)}`);
  const { config } = loadConfig(opts.config);
  if (opts.project && opts.project !== config.project) {
    throw new CliError(`--project: ${opts.config ?? 'opsflow.yaml'} describes ${config.project}, not ${opts.project}`);
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
}

/** Asks the agent to end once its running deploys finish. */
export async function stopAgent(opts: ProjectOptions & { by: string; reason: string }): Promise<void> {
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
}

/** Runs the agent's self-review now and says where it was written. */
export async function reviewNow(opts: ProjectOptions & { by: string }): Promise<void> {
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
}

/** Prints the agent's status, or how it ended. */
export async function showAgentStatus(opts: ProjectOptions): Promise<void> {
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
      else print(...formatAgentStatus(status));
    } catch (err) {
      throw explain(err, forAgent(project));
    }
  });
}

/** Lists the ops agents, newest first. */
export async function listAgents(opts: { limit: string; json?: boolean }): Promise<void> {
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
}
