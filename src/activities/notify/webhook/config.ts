import { z } from 'zod';
import { durationBetween } from '../../../shared/analysis-config';
import { envVarNameSchema } from '../credentials';
import { sendableUrlSchema } from '../http';

/** The variable the signing secret is read from when the config names neither a variable nor a file. */
export const DEFAULT_WEBHOOK_SECRET_ENV = 'OPSFLOW_WEBHOOK_SECRET';

/** Shorter secrets are refused when a message is signed: an HMAC key is only as strong as it is long. */
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

const SECRET_IN_CONFIG =
  'the signing secret does not belong in opsflow.yaml: name a variable of the worker with secretEnv ' +
  `(default ${DEFAULT_WEBHOOK_SECRET_ENV}) or a file with secretFile`;

/**
 * `notifications.channels.<name>: { kind: webhook, ... }`: every routed event POSTed to `url` as a CloudEvents 1.0
 * JSON document, signed with HMAC-SHA256 (see signature.ts). The secret is the worker's: read from `secretEnv`
 * (default OPSFLOW_WEBHOOK_SECRET) or `secretFile`, never written here.
 */
export const webhookChannelConfigSchema = z
  .object({
    kind: z.literal('webhook'),
    url: sendableUrlSchema(),
    /** The worker's environment variable holding the shared secret. */
    secretEnv: envVarNameSchema.optional(),
    /** A file of the worker holding the shared secret (mode 600), for hosts that mount secrets as files. */
    secretFile: z.string().min(1).optional(),
    /** One delivery's time limit, answer included. */
    timeout: durationBetween(100, 60_000).default(10_000),
    secret: z.never({ error: SECRET_IN_CONFIG }).optional(),
  })
  .strict()
  .refine((c) => c.secretEnv === undefined || c.secretFile === undefined, {
    message: 'give secretEnv or secretFile, not both',
  });
export type WebhookChannelConfig = z.infer<typeof webhookChannelConfigSchema>;
