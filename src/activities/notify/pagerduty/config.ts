import { z } from 'zod';
import { durationBetween } from '../../../shared/analysis-config';
import { envVarNameSchema } from '../credentials';
import { sendableUrlSchema } from '../http';

/** The variable the routing key is read from when the config names neither a variable nor a file. */
export const DEFAULT_ROUTING_KEY_ENV = 'PAGERDUTY_ROUTING_KEY';

/** PagerDuty's Events API; EU accounts use https://events.eu.pagerduty.com. */
export const DEFAULT_PAGERDUTY_API_URL = 'https://events.pagerduty.com';

const KEY_IN_CONFIG =
  'the routing key does not belong in opsflow.yaml: name a variable of the worker with routingKeyEnv ' +
  `(default ${DEFAULT_ROUTING_KEY_ENV}) or a file with routingKeyFile`;

/**
 * `notifications.channels.<name>: { kind: pagerduty, ... }`: incidents through PagerDuty's Events API v2 for the events
 * that need a person now (see channel.ts for which). The routing key (the integration key of an Events API v2
 * integration on a PagerDuty service) is the worker's: read from `routingKeyEnv` (default PAGERDUTY_ROUTING_KEY) or
 * `routingKeyFile`.
 */
export const pagerDutyChannelConfigSchema = z
  .object({
    kind: z.literal('pagerduty'),
    /** The worker's environment variable holding the routing key. */
    routingKeyEnv: envVarNameSchema.optional(),
    /** A file of the worker holding the routing key (mode 600). */
    routingKeyFile: z.string().min(1).optional(),
    /** The Events API's base URL (without /v2/enqueue). */
    apiUrl: sendableUrlSchema().default(DEFAULT_PAGERDUTY_API_URL),
    /** One request's time limit, answer included. */
    timeout: durationBetween(100, 60_000).default(10_000),
    routingKey: z.never({ error: KEY_IN_CONFIG }).optional(),
  })
  .strict()
  .refine((c) => c.routingKeyEnv === undefined || c.routingKeyFile === undefined, {
    message: 'give routingKeyEnv or routingKeyFile, not both',
  });
export type PagerDutyChannelConfig = z.infer<typeof pagerDutyChannelConfigSchema>;
