import type { Command } from 'commander';
import { WorkflowNotFoundError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { buildDeployInput } from '../../config/deploy-request';
import { loadConfig } from '../../config/load';
import { agentWorkflowId } from '../../shared/agent/config';
import type { ApprovalRecord, DeployResult } from '../../shared/deploy';
import { FINAL_PHASES } from '../../shared/deploy';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from '../../shared/deploy/messages';
import { ENVIRONMENT_ATTRIBUTE, PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../../shared/search-attributes';
import type { deploy } from '../../workflows/deploy';
import { deployThroughAgent } from '../agent-front-door';
import { deployHandle, explainDeployMessage, hasSearchAttributes, readStatus, uiLink, withClient } from '../client';
import { explain, forDeploy } from '../explain';
import { formatSample, formatStatus, formatTimelineEntry } from '../format';
import { CliError, defaultUser, print, printJson } from '../output';
import { registerControlCommands } from './control';

interface GlobalOptions {
  config?: string;
  json?: boolean;
}

/** Exit codes of `watch`: scripts can tell the endings apart. */
export const EXIT = { promoted: 0, error: 1, rolledBack: 2, cancelled: 3, failed: 4 } as const;

/** Registers `opsflow deploy ...`. */
export function registerDeployCommands(program: Command): void {
  const deployCmd = program
    .command('deploy')
    .description('start, approve or reject, pause, resume, promote or abort, and follow deployments')
    .addHelpText(
      'after',
      `
Lifecycle: PLANNING → DEPLOYING/VERIFYING (staging) → AWAITING_APPROVAL → CANARY (steps) or BLUE_GREEN → PROMOTED
           critical sample, failure limit, abort, unanswered pause → ROLLING_BACK → ROLLED_BACK
           inconclusive data or "pause" → PAUSED (resume, promote or abort); rejected or timed out → CANCELLED

Example:
  $ opsflow deploy start --service hello --version 1.1.0
  $ opsflow deploy approve deploy-hello-1.1.0-production --by alice --comment "looks good"
  $ opsflow deploy watch deploy-hello-1.1.0-production
  $ opsflow deploy pause deploy-hello-1.1.0-production --by alice --reason "checking a dashboard"`,
    );

  deployCmd
    .command('start')
    .description(
      'start a deploy of one service version through the pipeline (idempotent: the same change returns the running deploy)',
    )
    .requiredOption('-s, --service <name>', 'service from opsflow.yaml')
    .requiredOption('-v, --version <semver>', 'version to deploy, e.g. 1.1.0')
    .option('--feature <name>', 'handoff folder name under .agency/handoff (default: deploy-<service>-<version>)')
    .option('--reason <text>', 'why this deploy (shown in the report)')
    .option('--requested-by <name>', 'who asks for it: $OPSFLOW_USER or your login', defaultUser())
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print {"workflowId","runId","uiUrl"}')
    .option('--standalone', "start the deploy directly, not through the project's ops agent")
    .action(async (opts: GlobalOptions & Record<string, string | undefined>) => {
      const { config } = loadConfig(opts.config);
      const input = buildDeployInput(
        config,
        {
          service: opts['service'],
          version: opts['version'],
          feature: opts['feature'],
          requestedBy: opts['requestedBy'],
          reason: opts['reason'],
        },
        { workdir: process.cwd(), uiUrl: config.temporal.uiUrl },
      );
      await withClient(async (client) => {
        const environments = input.environments.map((e) => e.name);
        const options = {
          taskQueue: config.temporal.taskQueue,
          workflowId: input.deployId,
          args: [input] as [typeof input],
          workflowIdConflictPolicy: 'USE_EXISTING' as const,
          staticSummary: `${input.service} ${input.version} → ${environments.join(' → ')}`,
          staticDetails:
            `Deploy **${input.service} ${input.version}** through ${environments.join(', ')}, requested by ` +
            `${input.requestedBy}${input.reason ? `: ${input.reason}` : ''}. Handoff: .agency/handoff/${input.feature}/devops-automator`,
        };
        const context = forDeploy(input.deployId);
        const previous = await deployHandle(client, input.deployId)
          .describe()
          .catch((err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return undefined;
            throw explain(err, context);
          });
        if (previous?.status.name === 'COMPLETED') {
          // Only a promoted run blocks a new one: after a rollback or a rejection the change may be tried again.
          const result: DeployResult = await deployHandle(client, input.deployId).result();
          if (result.outcome === 'promoted') {
            throw new CliError(
              `${input.service} ${input.version} was already promoted by ${input.deployId}; nothing to do`,
            );
          }
        }
        let existing = previous?.status.name === 'RUNNING';
        let runId: string;
        if (opts['standalone']) {
          // Asked first, as the agent does: a namespace without them would refuse the start.
          const searchAttributes = await hasSearchAttributes(client);
          if (!searchAttributes) {
            print(`warning: the namespace lacks opsflow's search attributes (start the worker once to register them)`);
          }
          let handle: WorkflowHandleWithFirstExecutionRunId<typeof deploy>;
          try {
            handle = await client.workflow.start<typeof deploy>('deploy', {
              ...options,
              ...(searchAttributes
                ? {
                    typedSearchAttributes: [
                      { key: SERVICE_ATTRIBUTE, value: input.service },
                      { key: ENVIRONMENT_ATTRIBUTE, value: environments },
                      { key: PHASE_ATTRIBUTE, value: 'PLANNING' },
                    ],
                  }
                : {}),
            });
          } catch (err) {
            throw explain(err, context);
          }
          runId = handle.firstExecutionRunId;
        } else {
          // The project's ops agent starts the deploy as its child, and starts itself first when it is not running.
          const accepted = await deployThroughAgent(client, config, input);
          existing = accepted.existing;
          runId = accepted.runId ?? previous?.runId ?? '';
        }
        const workflowId = input.deployId;
        const uiUrl = uiLink(config.temporal.uiUrl, client.options.namespace, workflowId, runId);
        if (opts.json) {
          printJson({ workflowId, runId, uiUrl });
          return;
        }
        const via = opts['standalone'] ? '' : ` (through ${agentWorkflowId(config.project)})`;
        print(existing ? `already running: ${workflowId}${via}` : `started ${workflowId}${via}`);
        print(`  ${uiUrl}`);
        print(`next: opsflow deploy watch ${workflowId}`);
      });
    });

  const approvalAction = (kind: 'approve' | 'reject') =>
    async function (
      this: Command,
      workflowId: string,
      opts: { by: string; comment?: string; reason?: string; signal?: boolean; json?: boolean },
    ) {
      await withClient(async (client) => {
        const handle = deployHandle(client, workflowId);
        try {
          if (opts.signal) {
            if (kind === 'approve')
              await handle.signal(approveSignal, { by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}) });
            else await handle.signal(rejectSignal, { by: opts.by, reason: opts.reason ?? '' });
            print(
              `${kind} signal sent to ${workflowId}; "opsflow deploy status ${workflowId}" shows whether it was taken`,
            );
            return;
          }
          const record: ApprovalRecord =
            kind === 'approve'
              ? await handle.executeUpdate(approveUpdate, {
                  args: [{ by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}) }],
                })
              : await handle.executeUpdate(rejectUpdate, { args: [{ by: opts.by, reason: opts.reason ?? '' }] });
          if (opts.json) printJson(record);
          else print(`${record.decision} ${record.environment} of ${workflowId} by ${record.by} at ${record.at}`);
        } catch (err) {
          throw await explainDeployMessage(handle, kind, err);
        }
      });
    };

  deployCmd
    .command('approve <workflowId>')
    .description(
      'approve the environment a deploy is waiting for (an Update: refused unless you are a listed approver)',
    )
    .requiredOption('--by <name>', 'who approves (must be a listed approver, not the requester)')
    .option('--comment <text>', 'recorded with the approval')
    .option('--signal', 'send a Signal instead of an Update (no answer; for tools that cannot send Updates)')
    .option('--json', 'print the approval record as JSON')
    .action(approvalAction('approve'));

  deployCmd
    .command('reject <workflowId>')
    .description('reject the environment a deploy is waiting for; the deploy ends as cancelled')
    .requiredOption('--by <name>', 'who rejects (a listed approver or the requester)')
    .requiredOption('--reason <text>', 'why (recorded and reported)')
    .option('--signal', 'send a Signal instead of an Update')
    .option('--json', 'print the rejection record as JSON')
    .action(approvalAction('reject'));

  deployCmd
    .command('status <workflowId>')
    .description('phase, step, weight, last analysis sample, approvals and timeline')
    .option('--json', 'print the whole status as JSON')
    .action(async (workflowId: string, opts: GlobalOptions) => {
      await withClient(async (client) => {
        const status = await readStatus(deployHandle(client, workflowId));
        if (opts.json) printJson(status);
        else print(formatStatus(status));
      });
    });

  deployCmd
    .command('watch <workflowId>')
    .description(
      `follow a deploy live until it ends; exit ${EXIT.promoted} promoted, ${EXIT.rolledBack} rolled back, ${EXIT.cancelled} cancelled, ${EXIT.failed} failed`,
    )
    .option('--interval <ms>', 'poll interval in milliseconds', '1000')
    .option('--json', 'print each new timeline entry and sample as a JSON line')
    .action(async (workflowId: string, opts: GlobalOptions & { interval: string }) => {
      const interval = Math.max(200, Number(opts.interval) || 1000);
      const code = await withClient(async (client) => {
        const handle = deployHandle(client, workflowId);
        let seenTimeline = 0;
        let seenSamples = 0;
        for (;;) {
          const status = await readStatus(handle);
          // New timeline entries and samples, interleaved in the order they happened.
          const fresh = [
            ...status.timeline.slice(seenTimeline).map((entry) => ({ at: entry.at, entry })),
            ...status.samples.slice(seenSamples).map((sample) => ({ at: sample.at, sample })),
          ].sort((a, b) => a.at.localeCompare(b.at));
          for (const item of fresh) {
            if ('entry' in item) {
              if (opts.json) printJson({ type: 'timeline', ...item.entry });
              else print(formatTimelineEntry(item.entry));
            } else if (opts.json) printJson({ type: 'sample', ...item.sample });
            else print(formatSample(item.sample));
          }
          seenTimeline = status.timeline.length;
          seenSamples = status.samples.length;
          if (FINAL_PHASES.includes(status.phase)) {
            if (!opts.json) print(`${status.phase}: ${status.reason ?? ''}`);
            return status.phase === 'PROMOTED'
              ? EXIT.promoted
              : status.phase === 'ROLLED_BACK'
                ? EXIT.rolledBack
                : status.phase === 'CANCELLED'
                  ? EXIT.cancelled
                  : EXIT.failed;
          }
          await new Promise((resolve) => setTimeout(resolve, interval));
        }
      });
      process.exitCode = code;
    });

  registerControlCommands(deployCmd);

  deployCmd
    .command('list')
    .description('recent deploys with their phase, newest first')
    .option('-n, --limit <count>', 'how many', '20')
    .option('--service <name>', 'only this service')
    .option('--json', 'print JSON')
    .action(async (opts: GlobalOptions & { limit: string; service?: string }) => {
      const limit = Math.max(1, Number(opts.limit) || 20);
      await withClient(async (client) => {
        if (opts.service && !(await hasSearchAttributes(client))) {
          throw new CliError(
            "--service: the namespace lacks opsflow's search attributes (start the worker once to register them)",
          );
        }
        const query = `WorkflowType = 'deploy'${opts.service ? ` AND OpsflowService = '${opts.service.replace(/'/g, '')}'` : ''}`;
        const rows: { workflowId: string; status: string; phase: string; service: string; started: string }[] = [];
        for await (const wf of client.workflow.list({ query, pageSize: limit })) {
          rows.push({
            workflowId: wf.workflowId,
            status: wf.status.name,
            phase: String(wf.typedSearchAttributes.get(PHASE_ATTRIBUTE) ?? '?'),
            service: String(wf.typedSearchAttributes.get(SERVICE_ATTRIBUTE) ?? ''),
            started: wf.startTime.toISOString(),
          });
          if (rows.length >= limit) break;
        }
        if (opts.json) return printJson(rows);
        if (rows.length === 0)
          return print('no deploys yet: start one with "opsflow deploy start --service <name> --version <semver>"');
        const width = Math.max(...rows.map((r) => r.workflowId.length));
        for (const r of rows)
          print(`${r.workflowId.padEnd(width)}  ${r.phase.padEnd(17)}  ${r.status.padEnd(10)}  ${r.started}`);
      });
    });
}
