/** Reading one `notifications.channels.<name>` block with its kind's schema, for the kinds' factories. */
import type { z } from 'zod';
import { ConfigError } from '../../config/errors';

/** The block as the schema reads it; a {@link ConfigError} in one line naming the channel and the field otherwise. */
export function parseChannelConfig<S extends z.ZodType>(schema: S, block: unknown, name: string): z.output<S> {
  const parsed = schema.safeParse(block);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = ['notifications.channels', name, ...(issue?.path ?? []).map(String)].join('.');
  throw new ConfigError(`${where}: ${issue?.message ?? 'invalid'}`);
}
