/**
 * The `notifications` block of the worker's opsflow.yaml: the channels (each a kind with its own settings; credentials
 * are named, never written: an environment variable or a file of the worker), the routes that say which events go to
 * which channels per service and environment, and the escalation of waits per environment. Routing belongs to the
 * worker, like the policy: a deploy request carries none of it, so a requester cannot silence, redirect or add
 * channels.
 */
import { z } from 'zod';
import { durationSchema } from '../shared/duration';
import { EVENT_TYPES, type EventType } from '../shared/notify/events';
import { nameSchema } from '../shared/validation';

/** One route: events of these types, for these services and environments (all when absent), to these channels. */
const routeSchema = z
  .object({
    events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
    services: z.array(nameSchema).min(1).optional(),
    environments: z.array(nameSchema).min(1).optional(),
    channels: z.array(nameSchema).min(1),
  })
  .strict();
export type RouteConfig = z.infer<typeof routeSchema>;

/** How long a wait may go unanswered before people are reminded, then paged; per environment. */
const escalationSchema = z
  .object({
    /** After each of these since an approval was requested, an approval.reminder (level 1, 2, ...; 2+ is critical). */
    approvalReminders: z.array(durationSchema).max(10).default([]),
    /** This long before a paused canary's pauseTimeout rolls it back, the pause is sent again as critical. */
    pauseAlertBefore: durationSchema.optional(),
  })
  .strict();

/** The default route: what a team needs to hear of, to every channel. */
export const DEFAULT_EVENTS: readonly EventType[] = [
  'deploy.started',
  'approval.requested',
  'approval.reminder',
  'approval.decided',
  'canary.paused',
  'deploy.rolled-back',
  'deploy.promoted',
  'deploy.failed',
  'deploy.cancelled',
  'freeze.waiting',
  'freeze.changed',
  'agent.review',
  'agent.escalation',
];

export const notificationsConfigSchema = z
  .object({
    /**
     * Channels by name: `{ kind: slack | webhook | pagerduty, ... }`, each kind's settings checked by its own schema
     * when the worker builds it (src/activities/notify/registry.ts).
     */
    channels: z.record(nameSchema, z.looseObject({ kind: z.string().min(1) })).default({}),
    /** Absent: every channel gets the default events. */
    routes: z.array(routeSchema).optional(),
    escalation: z.record(nameSchema, escalationSchema).default({}),
  })
  .strict()
  .superRefine((block, ctx) => {
    (block.routes ?? []).forEach((route, i) => {
      route.channels.forEach((channel, j) => {
        if (!Object.hasOwn(block.channels, channel)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'channels', j],
            message: `no channel "${channel}" under notifications.channels (${Object.keys(block.channels).join(', ') || 'none'})`,
          });
        }
      });
    });
  });
export type NotificationsConfig = z.infer<typeof notificationsConfigSchema>;

/** The routes in force: the configured ones, or every channel for the default events. */
export function routesOf(block: NotificationsConfig): RouteConfig[] {
  const channels = Object.keys(block.channels);
  if (block.routes) return block.routes;
  return channels.length ? [{ events: [...DEFAULT_EVENTS], channels }] : [];
}

/** The channels a route table sends an event to, in the order the table names them, each once. */
export function channelsFor(
  routes: readonly RouteConfig[],
  event: { type: EventType; service?: string; environment?: string },
): string[] {
  const matches = (list: readonly string[] | undefined, value: string | undefined) =>
    !list || (value !== undefined && list.includes(value));
  const names = routes
    .filter(
      (r) =>
        (!r.events || r.events.includes(event.type)) &&
        matches(r.services, event.service) &&
        (!r.environments || event.environment === undefined || r.environments.includes(event.environment)),
    )
    .flatMap((r) => r.channels);
  return [...new Set(names)];
}

/** The event types some route wants: the deploy workflow builds only these (so unrouted events cost no history). */
export function wantedEvents(block: NotificationsConfig): EventType[] {
  const types = new Set<EventType>();
  for (const route of routesOf(block)) for (const type of route.events ?? EVENT_TYPES) types.add(type);
  return EVENT_TYPES.filter((t) => types.has(t));
}
