/**
 * The catalogue of events opsflow tells people about: one typed shape each, with a stable `type` (the CloudEvents type
 * suffix, the Slack text, the PagerDuty summary are rendered from the fields, never the other way round). Workflow-safe:
 * the deploy and agent workflows build them; the notify activity routes and sends them.
 */
import { z } from 'zod';
import { freezeScope } from '../agent/freeze';
import { formatMoney } from '../cost';

/** Every event type, in the order a deploy meets them. */
export const EVENT_TYPES = [
  'deploy.started',
  'approval.requested',
  'approval.reminder',
  'approval.decided',
  'canary.paused',
  'canary.step-passed',
  'cost.increase',
  'deploy.rolled-back',
  'deploy.promoted',
  'deploy.failed',
  'deploy.cancelled',
  'freeze.waiting',
  'freeze.changed',
  'agent.review',
  'agent.escalation',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** How loud an event is: info is posted, warning asks for a person, critical pages. */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

const base = {
  /** Unique and stable: the same event sent twice (a retried activity, a replayed workflow) has the same id. */
  id: z.string().min(1).max(300),
  time: z.iso.datetime(),
  project: z.string().min(1).max(100),
  severity: z.enum(SEVERITIES),
  /** The Temporal UI page of the deploy or agent, when the worker knows the UI. */
  uiUrl: z.string().url().optional(),
};

/** What every deploy event names: the deploy, the change and where it is. */
const deployBase = {
  ...base,
  deployId: z.string().min(1).max(200),
  service: z.string().min(1).max(100),
  version: z.string().min(1).max(200),
  environment: z.string().min(1).max(100).optional(),
  requestedBy: z.string().min(1).max(100),
};

export const opsEventSchema = z.discriminatedUnion('type', [
  z.object({ ...deployBase, type: z.literal('deploy.started'), environments: z.array(z.string()) }).strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('approval.requested'),
      approvers: z.array(z.string()),
      required: z.number().int().min(1),
      deadline: z.iso.datetime(),
    })
    .strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('approval.reminder'),
      approvers: z.array(z.string()),
      /** 1 for the first reminder, 2 for the next... */
      level: z.number().int().min(1),
      waitingMs: z.number().int().nonnegative(),
      deadline: z.iso.datetime(),
    })
    .strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('approval.decided'),
      decision: z.enum(['approved', 'rejected', 'timed-out']),
      by: z.string().optional(),
      /** approvals so far of the required number (N of M) */
      approvals: z.number().int().nonnegative(),
      required: z.number().int().min(1),
    })
    .strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('canary.paused'),
      cause: z.string(),
      by: z.string(),
      reason: z.string().max(1000),
      deadline: z.iso.datetime(),
    })
    .strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('canary.step-passed'),
      step: z.number().int().min(1),
      steps: z.number().int().min(1),
      weight: z.number(),
    })
    .strict(),
  z
    .object({
      ...deployBase,
      /** A step's cost per 1,000 requests above stable's by more than the tolerance (issue 22). */
      type: z.literal('cost.increase'),
      weight: z.number(),
      canaryPer1k: z.number(),
      stablePer1k: z.number(),
      /** canary / stable − 1. */
      increase: z.number(),
      limit: z.number(),
      currency: z.string().max(10),
      source: z.string().max(200),
      /** What the deploy does about it: alert (the step passed) or fail (the step failed). */
      action: z.enum(['alert', 'fail']),
    })
    .strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('deploy.rolled-back'),
      /** The stop cause's kind (critical, budget, abort, pause-timeout, error, ...). */
      cause: z.string(),
      reason: z.string().max(2000),
      /** From the first harm to the canary's traffic at 0 %, when known. */
      timeToRestoreMs: z.number().nonnegative().optional(),
      /** Whether stable was verified healthy after the rollback (the incident can be resolved). */
      restored: z.boolean(),
    })
    .strict(),
  z.object({ ...deployBase, type: z.literal('deploy.promoted'), environments: z.array(z.string()) }).strict(),
  z.object({ ...deployBase, type: z.literal('deploy.failed'), reason: z.string().max(2000) }).strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('deploy.cancelled'),
      reason: z.string().max(2000),
    })
    .strict(),
  z
    .object({
      ...deployBase,
      type: z.literal('freeze.waiting'),
      freeze: z.string(),
      until: z.iso.datetime().optional(),
    })
    .strict(),
  z
    .object({
      ...base,
      type: z.literal('freeze.changed'),
      /** An incident freeze of the project started or ended. */
      change: z.enum(['started', 'ended']),
      freezeId: z.string().max(40),
      /** Absent: every environment that needs approval. */
      environment: z.string().min(1).max(100).optional(),
      reason: z.string().max(1000),
      by: z.string().max(200),
    })
    .strict(),
  z
    .object({
      ...base,
      type: z.literal('agent.review'),
      day: z.string(),
      /** Where the review was written, relative to the project's working directory. */
      path: z.string(),
      summary: z.string().max(2000),
    })
    .strict(),
  z
    .object({
      ...base,
      type: z.literal('agent.escalation'),
      /** outage, security-incident, severe-degradation, ... */
      kind: z.string(),
      summary: z.string().max(2000),
      source: z.string().max(200),
    })
    .strict(),
]);
export type OpsEvent = z.infer<typeof opsEventSchema>;
export type DeployEvent = Extract<OpsEvent, { deployId: string }>;

/** The key an event's incident or message thread is grouped by: the deploy and environment, or the agent's project. */
export function groupKey(event: OpsEvent): string {
  return 'deployId' in event ? `${event.deployId}${event.environment ? `/${event.environment}` : ''}` : event.project;
}

/** One line for people, rendered from the fields (never parsed back). */
export function eventTitle(event: OpsEvent): string {
  const change = 'deployId' in event ? `${event.service} ${event.version}` : event.project;
  const where = 'environment' in event && event.environment ? ` in ${event.environment}` : '';
  switch (event.type) {
    case 'deploy.started':
      return `${change}: deploy started through ${event.environments.join(' → ')} by ${event.requestedBy}`;
    case 'approval.requested':
      return `${change}${where} waits for approval by ${event.required > 1 ? `${event.required} of ` : ''}${event.approvers.join(', ')} until ${event.deadline}`;
    case 'approval.reminder':
      return `${change}${where} still waits for approval (reminder ${event.level}, waiting ${Math.round(event.waitingMs / 60_000)} min)`;
    case 'approval.decided':
      return `${change}${where} ${event.decision}${event.by ? ` by ${event.by}` : ''} (${event.approvals} of ${event.required})`;
    case 'canary.paused':
      return `${change}${where} paused by ${event.by}: ${event.reason}; rolls back at ${event.deadline} unless someone decides`;
    case 'canary.step-passed':
      return `${change}${where} step ${event.step}/${event.steps} passed at ${event.weight} %`;
    case 'cost.increase':
      return (
        `${change}${where} COST ALERT at ${event.weight} %: ${formatMoney(event.canaryPer1k, event.currency)} per ` +
        `1,000 requests vs stable ${formatMoney(event.stablePer1k, event.currency)} (+${Math.round(event.increase * 100)} %, ` +
        `tolerated +${Math.round(event.limit * 100)} %; ${event.source})${event.action === 'fail' ? ': the step fails' : ''}`
      );
    case 'deploy.rolled-back':
      return `${change}${where} ROLLED BACK (${event.cause}): ${event.reason}`;
    case 'deploy.promoted':
      return `${change} promoted: runs in ${event.environments.join(' and ')}`;
    case 'deploy.failed':
      return `${change}${where} FAILED: ${event.reason}`;
    case 'deploy.cancelled':
      return `${change}${where} cancelled: ${event.reason}`;
    case 'freeze.waiting':
      return `${change}${where} waits for the freeze "${event.freeze}"${event.until ? ` to end at ${event.until}` : ''}`;
    case 'freeze.changed':
      return event.change === 'started'
        ? `${event.project}: ${freezeScope(event.environment)} FROZEN (${event.freezeId}) by ${event.by}: ${event.reason}`
        : `${event.project}: the freeze ${event.freezeId} of ${freezeScope(event.environment)} ended by ${event.by}${event.reason ? `: ${event.reason}` : ''}`;
    case 'agent.review':
      return `${event.project}: daily review for ${event.day} (${event.path}): ${event.summary}`;
    case 'agent.escalation':
      return `${event.project}: ${event.kind} from ${event.source}: ${event.summary}`;
  }
}

/** What became of one event on one channel, as the notify activity answers it (and the timeline shows it). */
export interface Delivery {
  channel: string;
  ok: boolean;
  /** The channel's own handle of what it sent: a Slack ts, a PagerDuty dedup key, a CloudEvent id, a deployment id. */
  ref?: string;
  /** True when the channel already had it (a retry after a send that went through): nothing was sent twice. */
  duplicate?: boolean;
  /** For people: what was sent, or why not. */
  detail: string;
}
