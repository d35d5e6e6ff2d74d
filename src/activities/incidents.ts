/**
 * Incident freezes as the worker sees them: the freezes the project's agent keeps, read from the Temporal server
 * through the worker's own connection (never from what a deploy says), and the check of a signed freeze statement
 * against the worker's own policy.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { agentWorkflowId } from '../shared/agent/config';
import { freezeScope, statementEnvironment, type IncidentFreeze } from '../shared/agent/freeze';
import { freezesQuery } from '../shared/agent/messages';
import { bridgeKeyOf, isApprover, personOf, workerRules, type DeployPolicy } from '../shared/deploy';
import { hashOf, refuseStatement, type SignedStatement } from '../shared/signing';

/** The incident freezes in force for the worker's project. */
export interface IncidentBoard {
  active(): Promise<IncidentFreeze[]>;
}

/**
 * The board of a project: the running agent's freezes (its `freezes` query). No agent running: no incident freeze. A
 * server or query error is thrown, so the activity asking fails and Temporal retries it: the line is not opened by an
 * answer nobody gave.
 */
export function temporalIncidentBoard(client: Client, project: string): IncidentBoard {
  return {
    async active() {
      const handle = client.workflow.getHandle(agentWorkflowId(project));
      try {
        const { status } = await handle.describe();
        if (status.name !== 'RUNNING') return [];
        return await handle.query(freezesQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return [];
        throw err;
      }
    },
  };
}

/** What a freeze statement must be bound to: the agent's run, as the server told the activity. */
export interface FreezeContext {
  namespace: string;
  workflowId: string;
  runId: string;
  nowMs: number;
}

/** A freeze start or end to check: who says they make it, for which environment, and the statement they signed. */
export interface FreezeRequest {
  action: 'freeze' | 'unfreeze';
  /** Absent: every environment that needs approval. */
  environment?: string;
  by: string;
  /** What the statement's plan hash binds (freezeSubject): the freeze's words (start) or its id (end). */
  subject: Record<string, string>;
  signed?: SignedStatement;
}

/**
 * Who may stop or reopen the line: an approver of the environment in the worker's policy (anyone it knows where the
 * environment names no approver; an approver of any protected environment for a freeze of all of them), proven by a signed statement bound to the agent's run, or by a typed name where the
 * worker trusts typed names. Answers the person, or why not (one line).
 */
export function checkFreezeRequest(
  policy: DeployPolicy,
  where: FreezeContext,
  request: FreezeRequest,
): { person: string } | { refusal: string } {
  const verb = request.action === 'freeze' ? 'freeze' : 'end a freeze of';
  const target = freezeScope(request.environment);
  let person = request.by;
  if (!policy.trustTypedNames) {
    const signed = request.signed;
    if (!signed)
      return { refusal: `to ${verb} ${target} needs a signed statement (opsflow freeze signs with your key)` };
    const refusal = refuseStatement(
      signed,
      {
        ...where,
        environment: statementEnvironment(request.environment),
        action: request.action,
        planHash: hashOf(request.subject),
      },
      (name) => personOf(policy, name)?.publicKey,
      bridgeKeyOf(policy),
    );
    if (refusal) return { refusal };
    if (signed.statement.via) return { refusal: `a freeze is signed with a person's own key, not a chat bridge` };
    person = signed.statement.person;
  }
  const groups = personOf(policy, person)?.groups ?? [];
  const environments = request.environment
    ? [request.environment]
    : Object.keys(policy.environments).filter((name) => policy.environments[name]?.protected);
  // An environment nobody approves (a staging that needs no approval) may be frozen by anyone the policy knows.
  const allowed = environments.some((name) => {
    const rules = workerRules(policy, name);
    if (!rules) return false;
    return rules.approvers.length === 0 ? personOf(policy, person) !== undefined : isApprover(rules, person, groups);
  });
  if (!allowed)
    return { refusal: `${person} is not an approver of ${target} in the worker's policy: only they may ${verb} it` };
  return { person };
}
