// `opsflow deploy start`, apart from the other deploy actions because it alone reads opsflow.yaml (yaml, zod).
import { WorkflowNotFoundError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { buildDeployInput } from '../../config/deploy-request';
import { loadConfig } from '../../config/load';
import { policyPublicKey, signedStartEnvironments } from '../../config/policy';
import { agentWorkflowId } from '../../shared/agent/config';
import type { DeployInput, DeployResult } from '../../shared/deploy';
import { fingerprintOf } from '../../shared/signing';
import { ENVIRONMENT_ATTRIBUTE, PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../../shared/search-attributes';
import type { deploy } from '../../workflows/deploy';
import { deployThroughAgent } from '../agent-front-door';
import { deployHandle, hasSearchAttributes, uiLink, withClient } from '../client';
import { explain, forDeploy } from '../explain';
import { CliError, print, printJson } from '../output';
import { signStartFor } from '../sign';
import { temporalTarget, temporalUiUrl } from '../../temporal/connection';

/** The options of `opsflow deploy start`, as commander parses them. */
export interface StartOptions {
  service?: string;
  version?: string;
  feature?: string;
  reason?: string;
  requestedBy?: string;
  /** The requester's signing key: a private key file, or a public key whose private half ssh-agent holds. */
  key?: string;
  config?: string;
  json?: boolean;
  standalone?: boolean;
  /** Follow the deploy to its end, as `deploy watch` does, and exit as it does (CI: one step). */
  wait?: boolean;
}

/**
 * Starts a deploy through the project's ops agent (or directly with --standalone) and says where to follow it; with
 * --wait, follows it to its end and answers `deploy watch`'s exit code (0 promoted, 2 rolled back, ...). Answers 0
 * otherwise.
 */
export async function startDeploy(opts: StartOptions): Promise<number> {
  const workflowId = await start(opts);
  if (!opts.wait) return 0;
  const { watchDeploy } = await import('./deploy-actions.js');
  return watchDeploy(workflowId, { interval: '1000', ...(opts.json ? { json: true } : {}) });
}

/** Starts (or finds) the deploy; answers its workflow id. */
async function start(opts: StartOptions): Promise<string> {
  const { config, path: configPath } = loadConfig(opts.config);
  const ui = temporalUiUrl(config.temporal.uiUrl, temporalTarget().address);
  const request = buildDeployInput(
    config,
    {
      service: opts.service,
      version: opts.version,
      feature: opts.feature,
      requestedBy: opts.requestedBy,
      reason: opts.reason,
    },
    { workdir: process.cwd(), ...(ui ? { uiUrl: ui } : {}) },
  );
  return withClient(async (client) => {
    const context = forDeploy(request.deployId);
    const previous = await deployHandle(client, request.deployId)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw explain(err, context);
      });
    if (previous?.status.name === 'COMPLETED') {
      // Only a promoted run blocks a new one: after a rollback or a rejection the change may be tried again.
      const result: DeployResult = await deployHandle(client, request.deployId).result();
      if (result.outcome === 'promoted') {
        throw new CliError(
          `${request.service} ${request.version} was already promoted by ${request.deployId}; nothing to do`,
        );
      }
    }
    // The requester signs the start, so self-approval is judged by key; a running deploy is returned as it is.
    const start =
      previous?.status.name === 'RUNNING'
        ? undefined
        : await signStartFor(request, client.options.namespace, {
            ...(opts.key ? { key: opts.key } : {}),
            ...withPublicKey(policyPublicKey(config, configPath, request.requestedBy)),
            required: signedStartEnvironments(config),
          });
    const input: DeployInput = start ? { ...request, signedStart: start.signed } : request;
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
    let existing = previous?.status.name === 'RUNNING';
    let runId: string;
    if (opts.standalone) {
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
    const uiUrl = ui ? uiLink(ui, client.options.namespace, workflowId, runId) : null;
    if (opts.json) {
      printJson({ workflowId, runId, uiUrl });
      return workflowId;
    }
    const via = opts.standalone ? '' : ` (through ${agentWorkflowId(config.project)})`;
    print(existing ? `already running: ${workflowId}${via}` : `started ${workflowId}${via}`);
    if (!existing) {
      print(
        start
          ? `  requested by ${input.requestedBy}, signed with ${fingerprintOf(start.signer.publicKey)} (${start.signer.source})`
          : `  requested by ${input.requestedBy}, unsigned: a typed name (no key found; the policy does not need one here)`,
      );
    }
    print(uiUrl ? `  ${uiUrl}` : `  (no Temporal UI link: set temporal.uiUrl in ${configPath})`);
    if (!opts.wait) print(`next: opsflow deploy watch ${workflowId}`);
    return workflowId;
  });
}

function withPublicKey(publicKey: string | undefined): { publicKey?: string } {
  return publicKey ? { publicKey } : {};
}
