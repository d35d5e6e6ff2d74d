/**
 * The `pagerduty` channel: incidents through PagerDuty's Events API v2 (`POST <apiUrl>/v2/enqueue`, JSON, the
 * routing key in the body; 202 `{status: "success", message: "Event processed", dedup_key}`).
 *
 * Plain `fetch` with the v2 wire format, not `@pagerduty/pdjs`'s `event()`: pdjs 2.2.4 builds its URL as
 * `https://${server}/v2/enqueue` (a host can be set, the scheme cannot, so no plain-http receiver on loopback can stand
 * in for PagerDuty in tests); it waits 20 s and retries itself on a 429, up to 3 times, ignoring Retry-After (retries
 * here are Temporal's, with the Retry-After as the next delay); its `requestTimeout` arms a timer that aborts nothing;
 * and it parses every answer as JSON, while PagerDuty answers an unknown routing key with a plain-text 400. The body is
 * typed with pdjs's own `EventPayloadV2`, so the wire format is the one PagerDuty's library writes.
 *
 * Which events touch an incident ({@link incidentSteps}), one incident per deploy and environment
 * (`dedup_key` = `opsflow/<deploy id>/<environment>`, `opsflow/<project>` for the agent's escalations):
 * - trigger: `deploy.failed`; `deploy.rolled-back`; `approval.reminder` from level 2 (the paging level); `canary.paused`
 *   and `agent.escalation` when critical (a pause about to roll back, an outage);
 * - resolve, once the wait is over or the environment is known good: `approval.decided` (approved, rejected or timed
 *   out), `deploy.promoted` (each environment it names), `deploy.cancelled`, and a `deploy.rolled-back` with
 *   `restored: true`, which is sent as a trigger and then a resolve: the rollback pages at once and is on record, and
 *   is closed because stable was verified healthy. A rollback not verified (`restored: false`) and a failure stay open
 *   for a person.
 * - every other event is no incident's business: {@link PagerDutyChannel.wants} says false and `send` sends nothing.
 *
 * At most one incident per event: a retried trigger carries the same dedup_key, and PagerDuty folds it into the alert
 * that key has open; a retried resolve of a resolved alert changes nothing. PagerDuty does not say whether an event was
 * new, so `duplicate` is always false. The one gap: a trigger whose alert was resolved in between opens a new one, so
 * a restored rollback whose trigger and resolve both went through, but whose activity result was lost (the worker
 * killed in between), opens and closes a second incident when retried.
 *
 * 429 (Retry-After honoured when given), 5xx, timeouts and unreachable hosts are retryable; 400 (an invalid event, an
 * unknown routing key) and other 4xx are not. The routing key is in no message.
 */
import { createHash } from 'node:crypto';
import type { event as pdEvent } from '@pagerduty/pdjs';
import { z } from 'zod';
import { eventTitle, groupKey, type OpsEvent } from '../../../shared/notify/events';
import { parseChannelConfig } from '../channel-config';
import { ChannelError, type Channel, type SendResult } from '../contract';
import { credentialSource, readCredential, type Env } from '../credentials';
import { failureOf, originOf, post } from '../http';
import { DEFAULT_ROUTING_KEY_ENV, pagerDutyChannelConfigSchema, type PagerDutyChannelConfig } from './config';

/** An Events API v2 event, as pdjs types it. */
export type PagerDutyEvent = Parameters<typeof pdEvent>[0]['data'];

/** PagerDuty's limits: a summary of at most 1024 characters, a dedup_key of at most 255. */
export const MAX_SUMMARY_LENGTH = 1024;
export const MAX_DEDUP_KEY_LENGTH = 255;

/** One call to the Events API an event leads to. */
export interface IncidentStep {
  action: 'trigger' | 'resolve';
  dedupKey: string;
}

/** The dedup_key of a group: `opsflow/<group>`; a group too long for PagerDuty is cut and made unique by its hash. */
export function dedupKeyOf(group: string): string {
  const key = `opsflow/${group}`;
  if (key.length <= MAX_DEDUP_KEY_LENGTH) return key;
  const hash = createHash('sha256').update(group).digest('hex').slice(0, 40);
  return `opsflow/${group.slice(0, MAX_DEDUP_KEY_LENGTH - 'opsflow/'.length - hash.length - 1)}/${hash}`;
}

/** The calls an event leads to, in order; none for an event that is no incident's business. */
export function incidentSteps(event: OpsEvent): IncidentStep[] {
  const own = dedupKeyOf(groupKey(event));
  const trigger: IncidentStep[] = [{ action: 'trigger', dedupKey: own }];
  const resolve: IncidentStep[] = [{ action: 'resolve', dedupKey: own }];
  switch (event.type) {
    case 'deploy.failed':
      return trigger;
    case 'deploy.rolled-back':
      return event.restored ? [...trigger, ...resolve] : trigger;
    case 'approval.reminder':
      return event.level >= 2 ? trigger : [];
    case 'canary.paused':
    case 'agent.escalation':
      return event.severity === 'critical' ? trigger : [];
    case 'approval.decided':
    case 'deploy.cancelled':
      return resolve;
    case 'deploy.promoted': {
      // An incident may be open in any environment the deploy went through (a pause in staging, a reminder in production).
      const keys = new Set([own, ...event.environments.map((env) => dedupKeyOf(`${event.deployId}/${env}`))]);
      return [...keys].map((dedupKey) => ({ action: 'resolve', dedupKey }));
    }
    default:
      return [];
  }
}

/** At most `max` characters (code points), the last one an ellipsis when cut. */
function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** The Events API v2 body of one step. */
export function pagerDutyEvent(event: OpsEvent, step: IncidentStep, routingKey: string): PagerDutyEvent {
  return {
    routing_key: routingKey,
    event_action: step.action,
    dedup_key: step.dedupKey,
    payload: {
      summary: truncate(eventTitle(event), MAX_SUMMARY_LENGTH),
      source: 'opsflow',
      severity: event.severity,
      timestamp: event.time,
      ...('service' in event ? { component: event.service } : {}),
      ...('environment' in event && event.environment ? { group: event.environment } : {}),
      class: event.type,
      custom_details: event,
    },
    ...(event.uiUrl ? { links: [{ href: event.uiUrl, text: 'Temporal UI' }] } : {}),
  };
}

/** What the Events API answers: 202 with the dedup_key, or a 400 with the errors (or a plain-text reason). */
const answerSchema = z.looseObject({
  status: z.string().optional(),
  message: z.string().optional(),
  dedup_key: z.string().optional(),
  errors: z.array(z.string()).optional(),
});

/** What PagerDuty said, in one line: its message and errors for a JSON answer, the text otherwise. */
function reasonOf(text: string): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text.slice(0, 300);
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) return text.slice(0, 300);
  const { message, errors } = parsed.data;
  return [message, ...(errors ?? [])].filter(Boolean).join('; ');
}

/** What a PagerDuty channel needs besides its config; tests pass their own. */
export interface PagerDutyDeps {
  env?: Env;
  fetch?: typeof fetch;
}

/** Triggers and resolves PagerDuty incidents for the events that need a person. */
export class PagerDutyChannel implements Channel {
  readonly kind = 'pagerduty';
  private readonly env: Env;
  private readonly fetchImpl: typeof fetch;

  constructor(
    private readonly config: PagerDutyChannelConfig,
    deps: PagerDutyDeps = {},
  ) {
    this.env = deps.env ?? process.env;
    this.fetchImpl = deps.fetch ?? fetch;
  }

  /** Whether the event triggers or resolves an incident; the router skips the others. */
  wants(event: OpsEvent): boolean {
    return incidentSteps(event).length > 0;
  }

  async send(event: OpsEvent): Promise<SendResult> {
    const steps = incidentSteps(event);
    if (steps.length === 0) return { ref: '', duplicate: false, detail: 'not an incident event: nothing sent' };
    const source = credentialSource(this.config.routingKeyFile, this.config.routingKeyEnv, DEFAULT_ROUTING_KEY_ENV);
    const routingKey = readCredential('the PagerDuty routing key', source, this.env);
    const url = `${this.config.apiUrl.replace(/\/+$/, '')}/v2/enqueue`;
    const where = `PagerDuty ${originOf(url)}`;
    const done: string[] = [];
    for (const step of steps) {
      const body = JSON.stringify(pagerDutyEvent(event, step, routingKey));
      const headers = { 'content-type': 'application/json', 'user-agent': 'opsflow-pagerduty' };
      let failure: ChannelError | undefined;
      try {
        const answer = await post(where, url, body, headers, this.config.timeout, this.fetchImpl);
        if (answer.status >= 200 && answer.status < 300) {
          done.push(`${step.action === 'trigger' ? 'triggered' : 'resolved'} ${step.dedupKey}`);
          continue;
        }
        failure = failureOf(where, answer, reasonOf(answer.text), routingKey);
      } catch (err) {
        if (!(err instanceof ChannelError)) throw err;
        failure = err;
      }
      // A retry sends the steps that went through again: harmless, as the header says.
      const before = done.length ? ` (after it ${done.join(', ')})` : '';
      throw new ChannelError(`${failure.message}${before}`, failure.retryable, failure.retryAfterMs);
    }
    const keys = [...new Set(steps.map((s) => s.dedupKey))];
    return {
      ref: keys.join(' '),
      duplicate: false,
      detail: `PagerDuty ${done.join(', then ')} (${event.severity})`,
    };
  }
}

/** The registry's factory: the channel of a `notifications.channels.<name>` block, or a ConfigError in one line. */
export function createPagerDutyChannel(block: unknown, context: { name: string; env: Env }): PagerDutyChannel {
  return new PagerDutyChannel(parseChannelConfig(pagerDutyChannelConfigSchema, block, context.name), {
    env: context.env,
  });
}
