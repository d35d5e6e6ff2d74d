import { z } from 'zod';
import { durationBetween } from '../../../shared/analysis-config';
import { EVENT_TYPES, type EventType } from '../../../shared/notify/events';
import { envVarNameSchema } from '../credentials';

/** What an email channel sends when its block names no events: what asks a person to act, and what went wrong. */
export const DEFAULT_EMAIL_EVENTS: readonly EventType[] = [
  'approval.requested',
  'approval.reminder',
  'canary.paused',
  'deploy.rolled-back',
  'deploy.failed',
];

const PASSWORD_IN_CONFIG =
  'the SMTP password does not belong in opsflow.yaml: name a variable of the worker with passwordEnv or a file with passwordFile';

const USER_IN_CONFIG = 'name the variable of the worker that holds the SMTP user with userEnv';

/** A host name or an IP address, without scheme or port. */
const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[?[0-9A-Fa-f:.]+\]?)$/,
    'must be a host name or an IP address, such as smtp.example.com (no scheme, no port)',
  );

const addressSchema = z.email({ error: 'must be an email address such as opsflow@example.com' });

/**
 * `notifications.channels.<name>: { kind: email, ... }`: each routed event as one plain-text email through an SMTP
 * server (see channel.ts). The login, when the server wants one, is the worker's: the user from `smtp.userEnv`, the
 * password from `smtp.passwordEnv` or `smtp.passwordFile`, never written here.
 */
export const emailChannelConfigSchema = z
  .object({
    kind: z.literal('email'),
    smtp: z
      .object({
        host: hostSchema,
        /** 587 (submission with STARTTLS) unless given; 465 is TLS from the first byte. */
        port: z.number().int().min(1).max(65_535).default(587),
        /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it (required with a login). */
        secure: z.boolean().optional(),
        /** The worker's variable holding the login's user name. */
        userEnv: envVarNameSchema.optional(),
        /** The worker's variable holding the login's password. */
        passwordEnv: envVarNameSchema.optional(),
        /** A file of the worker holding the password (mode 600). */
        passwordFile: z.string().min(1).optional(),
        password: z.never({ error: PASSWORD_IN_CONFIG }).optional(),
        user: z.never({ error: USER_IN_CONFIG }).optional(),
      })
      .strict()
      .refine((s) => s.passwordEnv === undefined || s.passwordFile === undefined, {
        message: 'give passwordEnv or passwordFile, not both',
      })
      .refine((s) => (s.userEnv === undefined) === (s.passwordEnv === undefined && s.passwordFile === undefined), {
        message: 'a login needs both: userEnv and passwordEnv (or passwordFile), or neither for a server without one',
      }),
    from: addressSchema,
    to: z.array(addressSchema).min(1, 'name at least one recipient').max(50),
    /** The events this channel sends (the routes still choose which reach it). */
    events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
    /** The SMTP conversation's time limits: connecting, the greeting, and each answer. */
    timeout: durationBetween(100, 60_000).default(10_000),
  })
  .strict();
export type EmailChannelConfig = z.infer<typeof emailChannelConfigSchema>;
