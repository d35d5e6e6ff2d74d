/**
 * The notify activity: sends one event to every channel the worker's routes name for it. A channel that fails never
 * fails the deploy: a failure a retry can help is retried by Temporal (honouring a 429's Retry-After) within the
 * activity's attempts; the channels already done are kept in the heartbeat, so a retry (or a worker killed mid-send)
 * does not send them again; what still fails after the last attempt, or cannot be helped, is answered as a failed
 * delivery for the timeline, once.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { NOTIFY_ATTEMPTS } from '../../shared/notify/delivery';
import { opsEventSchema, type Delivery, type OpsEvent } from '../../shared/notify/events';
import { ChannelError } from './contract';
import type { ChannelRegistry } from './registry';

/** How often the activity says it is alive while it sends (the workflows' heartbeat timeout is 10 s). */
const HEARTBEAT_EVERY_MS = 2_000;

export interface NotifyDeps {
  channels: ChannelRegistry;
}

/** A retryable failure's message and how long the channel asked to wait. */
interface Pending {
  channel: string;
  message: string;
  retryAfterMs?: number;
}

export function createNotifyActivities({ channels }: NotifyDeps) {
  return {
    async notify(event: OpsEvent): Promise<Delivery[]> {
      const parsed = opsEventSchema.safeParse(event);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(
          `not an event of the catalogue: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
        );
      }
      const context = Context.current();
      const earlier = (context.info.heartbeatDetails as Delivery[] | undefined) ?? [];
      const done = new Map(earlier.map((d) => [d.channel, d]));
      const pending: Pending[] = [];
      // Alive while a channel answers slowly (or asks to wait): the workflow's heartbeat timeout then measures a dead
      // worker, not a slow channel.
      const alive = setInterval(() => context.heartbeat([...done.values()]), HEARTBEAT_EVERY_MS);
      try {
        for (const { name, channel } of channels.route(parsed.data)) {
          if (done.has(name)) continue;
          try {
            const sent = await channel.send(parsed.data);
            done.set(name, {
              channel: name,
              ok: true,
              ...(sent.ref ? { ref: sent.ref } : {}),
              ...(sent.duplicate ? { duplicate: true } : {}),
              detail: sent.detail,
            });
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            const retryable = !(err instanceof ChannelError) || err.retryable;
            if (retryable) {
              pending.push({
                channel: name,
                message,
                ...(err instanceof ChannelError && err.retryAfterMs ? { retryAfterMs: err.retryAfterMs } : {}),
              });
            } else {
              done.set(name, { channel: name, ok: false, detail: message });
            }
          }
          context.heartbeat([...done.values()]);
        }
      } finally {
        clearInterval(alive);
      }
      const lastAttempt = context.info.attempt >= NOTIFY_ATTEMPTS;
      if (pending.length && !lastAttempt) {
        const wait = Math.max(0, ...pending.map((p) => p.retryAfterMs ?? 0));
        throw ApplicationFailure.create({
          message: pending.map((p) => `${p.channel}: ${p.message}`).join('; '),
          type: 'ChannelUnavailable',
          ...(wait ? { nextRetryDelay: wait } : {}),
        });
      }
      for (const p of pending) {
        done.set(p.channel, {
          channel: p.channel,
          ok: false,
          detail: `gave up after ${context.info.attempt} attempts: ${p.message}`,
        });
      }
      const deliveries = [...done.values()];
      const failed = deliveries.filter((d) => !d.ok);
      if (failed.length)
        log.warn('notification not delivered', { event: event.type, channels: failed.map((d) => d.channel) });
      return deliveries;
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
