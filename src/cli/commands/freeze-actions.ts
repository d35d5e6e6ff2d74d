// What `opsflow freeze start|end|list` do, loaded when one of them runs.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { loadConfig } from '../../config/load';
import { signDecision } from '../../keys/keys';
import {
  freezeEndArgsSchema,
  freezeScope,
  freezeStartArgsSchema,
  freezeSubject,
  noSuchFreeze,
  statementEnvironment,
  type FreezeEndArgs,
  type FreezeStartArgs,
  type IncidentFreeze,
} from '../../shared/agent';
import { agentWorkflowId } from '../../shared/agent/config';
import { agentStatusQuery, freezeUpdate, unfreezeUpdate } from '../../shared/agent/messages';
import { hashOf, type SignedStatement } from '../../shared/signing';
import { describeIssue, nameSchema } from '../../shared/validation';
import type { opsAgent } from '../../workflows/agent';
import { agentStartOperation, agentTargetOf, answerOrExplain, type AgentTarget } from '../agent-front-door';
import { withClient } from '../client';
import { projectOf, type ProjectOptions } from './agent-actions';
import { explain, forAgent } from '../explain';
import { formatIncidentFreeze } from '../format';
import { CliError, print, printJson } from '../output';
import { findSigner, NoKeyError } from '../sign';

interface SignOptions {
  by?: string;
  key?: string;
  config?: string;
  json?: boolean;
}

export interface FreezeStartOptions extends SignOptions {
  env?: string;
  all?: boolean;
  reason?: string;
}

export interface FreezeEndOptions extends SignOptions {
  reason?: string;
}

export type FreezeListOptions = ProjectOptions;

/** The person who signs: --by (or OPSFLOW_USER), checked. */
function personOf(opts: SignOptions): string {
  if (!opts.by) throw new CliError('--by: say who you are (or set OPSFLOW_USER)');
  const checked = nameSchema.safeParse(opts.by);
  if (!checked.success) throw new CliError(`--by: ${checked.error.issues[0]?.message}`);
  return checked.data;
}

/**
 * The agent's handle, started when it is not running (the same start options as every other request), and its
 * current run: the run a freeze statement is bound to.
 */
async function runningAgent(
  client: Client,
  target: AgentTarget,
): Promise<{ handle: WorkflowHandle<typeof opsAgent>; runId: string }> {
  const start = agentStartOperation(target);
  const handle = await client.workflow.start<typeof opsAgent>('opsAgent', start.options);
  const { runId } = await handle.describe();
  return { handle, runId };
}

/**
 * Signs the freeze statement for the agent's current run, or sends it unsigned when the person has no key (a worker
 * that trusts typed names takes it; any other refuses it in one line).
 */
async function signFreeze(
  client: Client,
  runId: string,
  person: string,
  opts: SignOptions,
  what: { action: 'freeze' | 'unfreeze'; environment: string; subject: Record<string, string> },
  workflowId: string,
): Promise<SignedStatement | undefined> {
  let signer;
  try {
    signer = await findSigner(person, opts.key ? { key: opts.key } : {});
  } catch (err) {
    if (err instanceof NoKeyError && !opts.key) return undefined;
    throw err;
  }
  return signDecision(
    signer,
    {
      namespace: client.options.namespace,
      workflowId,
      runId,
      environment: what.environment,
      planHash: hashOf(what.subject),
    },
    { action: what.action, person },
  );
}

/** The freeze statement is for the agent's run: one that continued as new meanwhile is signed for again, once. */
async function withRunBoundRetry<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (!/another runId/.test((err as Error).message)) throw err;
    return send();
  }
}

/** `opsflow freeze start`: a signed incident freeze of an environment (or every protected one). */
export async function startFreeze(opts: FreezeStartOptions): Promise<void> {
  const by = personOf(opts);
  if (Boolean(opts.env) === Boolean(opts.all)) throw new CliError('name the environment with --env <name>, or --all');
  const draft = freezeStartArgsSchema.safeParse({
    ...(opts.env ? { environment: opts.env } : {}),
    reason: opts.reason,
    by,
  });
  if (!draft.success) {
    const issue = describeIssue(draft.error);
    throw new CliError(`--${issue.startsWith('environment') ? issue.replace(/^environment/, 'env') : issue}`);
  }
  const { config } = loadConfig(opts.config);
  const target = agentTargetOf(config, process.cwd());
  await withClient(async (client) => {
    const freeze = await withRunBoundRetry(async () => {
      const { handle, runId } = await runningAgent(client, target);
      const signed = await signFreeze(
        client,
        runId,
        by,
        opts,
        {
          action: 'freeze',
          environment: statementEnvironment(draft.data.environment),
          subject: freezeSubject(draft.data),
        },
        handle.workflowId,
      );
      const args: FreezeStartArgs = { ...draft.data, ...(signed ? { signed } : {}) };
      return answerOrExplain(handle.executeUpdate(freezeUpdate, { args: [args] }), target);
    });
    if (opts.json) return printJson(freeze);
    print(
      `${freezeScope(freeze.environment)} of ${config.project} is frozen: ${freeze.id} ` +
        `(end it with "opsflow freeze end ${freeze.id}")`,
    );
  });
}

/** `opsflow freeze end <id>`: ends an incident freeze, signed. */
export async function endFreeze(id: string, opts: FreezeEndOptions): Promise<void> {
  const by = personOf(opts);
  const draft = freezeEndArgsSchema.safeParse({ id, by, ...(opts.reason ? { reason: opts.reason } : {}) });
  if (!draft.success) throw new CliError(describeIssue(draft.error).replace(/^id: /, `${id}: `));
  const { config } = loadConfig(opts.config);
  const target = agentTargetOf(config, process.cwd());
  await withClient(async (client) => {
    const ended = await withRunBoundRetry(async () => {
      const handle = client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(config.project));
      let runId: string;
      let freezes: IncidentFreeze[];
      try {
        const description = await handle.describe();
        if (description.status.name !== 'RUNNING')
          throw new CliError(`${handle.workflowId} is not running: no freeze is in force`);
        runId = description.runId;
        freezes = (await handle.query(agentStatusQuery)).freezes ?? [];
      } catch (err) {
        throw err instanceof CliError ? err : explain(err, forAgent(config.project));
      }
      const freeze = freezes.find((f) => f.id === id);
      if (!freeze) throw new CliError(noSuchFreeze(id, freezes));
      const signed = await signFreeze(
        client,
        runId,
        by,
        opts,
        { action: 'unfreeze', environment: statementEnvironment(freeze.environment), subject: freezeSubject({ id }) },
        handle.workflowId,
      );
      const args: FreezeEndArgs = { ...draft.data, ...(signed ? { signed } : {}) };
      return answerOrExplain(handle.executeUpdate(unfreezeUpdate, { args: [args] }), target);
    });
    if (opts.json) return printJson(ended);
    print(`${ended.id} ended: ${freezeScope(ended.environment)} of ${config.project} is open again`);
  });
}

/** `opsflow freeze list`: the freezes in force and the latest ended. */
export async function listFreezes(opts: FreezeListOptions): Promise<void> {
  const name = projectOf(opts);
  await withClient(async (client) => {
    const handle = client.workflow.getHandle<typeof opsAgent>(agentWorkflowId(name));
    let freezes: IncidentFreeze[] = [];
    let ended: (IncidentFreeze & { endedAt: string; endedBy: string })[] = [];
    try {
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') {
        const status = await handle.query(agentStatusQuery);
        freezes = status.freezes ?? [];
        ended = status.endedFreezes ?? [];
      }
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw explain(err, forAgent(name));
    }
    if (opts.json) return printJson({ project: name, freezes, ended });
    print(
      `${name}: ${freezes.length ? `${freezes.length} incident freeze${freezes.length > 1 ? 's' : ''} in force` : 'no incident freeze in force'}`,
    );
    for (const f of freezes) print(`  ${formatIncidentFreeze(f)}`);
    if (ended.length) print('  ended lately:');
    for (const f of ended.slice(-5)) print(`    ${formatIncidentFreeze(f)} (ended ${f.endedAt} by ${f.endedBy})`);
  });
}
