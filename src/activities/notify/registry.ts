/**
 * Builds the worker's notification channels from its `notifications.channels` (one line per kind in {@link KINDS}, each
 * kind in a folder of its own with its config schema) and routes events to them by its `notifications.routes`.
 */
import { ConfigError } from '../../config/errors';
import { channelsFor, routesOf, type NotificationsConfig, type RouteConfig } from '../../config/notifications';
import type { OpsEvent } from '../../shared/notify/events';
import type { Channel } from './contract';

/** What a kind's factory gets: its own block (unchecked: the factory parses it), its name, the worker's environment. */
export type ChannelFactory = (block: unknown, context: { name: string; env: NodeJS.ProcessEnv }) => Channel;

/** The worker's channels by name and the routes in force. */
export class ChannelRegistry {
  private readonly channels: ReadonlyMap<string, Channel>;

  constructor(
    channels: Readonly<Record<string, Channel>>,
    readonly routes: readonly RouteConfig[],
  ) {
    this.channels = new Map(Object.entries(channels));
  }

  /** The channels an event goes to, by name, in route order. */
  route(event: OpsEvent): { name: string; channel: Channel }[] {
    const names = channelsFor(this.routes, {
      type: event.type,
      ...('service' in event ? { service: event.service } : {}),
      ...('environment' in event && event.environment ? { environment: event.environment } : {}),
    });
    return names.flatMap((name) => {
      const channel = this.channels.get(name);
      return channel && (channel.wants?.(event) ?? true) ? [{ name, channel }] : [];
    });
  }
}

/**
 * The channels of a config, each built by its kind's factory; a kind nobody registered, or a block its schema refuses,
 * is a ConfigError naming the channel.
 */
export function channelsFromConfig(
  block: NotificationsConfig | undefined,
  kinds: Readonly<Record<string, ChannelFactory>>,
  env: NodeJS.ProcessEnv = process.env,
): ChannelRegistry {
  if (!block) return new ChannelRegistry({}, []);
  const channels: Record<string, Channel> = {};
  for (const [name, channel] of Object.entries(block.channels)) {
    const factory = Object.hasOwn(kinds, channel.kind) ? kinds[channel.kind] : undefined;
    if (!factory) {
      throw new ConfigError(
        `notifications.channels.${name}.kind: unknown kind "${channel.kind}": use one of ${Object.keys(kinds).join(', ')}`,
      );
    }
    channels[name] = factory(channel, { name, env });
  }
  return new ChannelRegistry(channels, routesOf(block));
}
