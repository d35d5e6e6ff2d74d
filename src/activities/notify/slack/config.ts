/**
 * One Slack channel of the worker's `notifications.channels`: which channel, and the name of the worker's environment
 * variable that holds the bot token. The token itself is never written in opsflow.yaml (the config travels in
 * reviews and logs); the Temporal UI link comes from each event, so it is no channel setting either.
 */
import { z } from 'zod';
import { ConfigError } from '../../../config/errors';
import { describeIssue } from '../../../shared/validation';

/** Slack's Web API, as the SDK calls it; tests point `apiUrl` at a local server. */
export const DEFAULT_SLACK_API_URL = 'https://slack.com/api/';

/** The environment variable a channel reads its bot token from when the config names none. */
export const DEFAULT_SLACK_TOKEN_ENV = 'SLACK_BOT_TOKEN';

const SETTINGS = 'kind, channel, tokenEnv and apiUrl';

export const slackChannelConfigSchema = z.strictObject(
  {
    kind: z.literal('slack'),
    /** A channel id (public or private); names change and are not unique across a grid, ids do not. */
    channel: z
      .string()
      .regex(
        /^[CG][A-Z0-9]{6,20}$/,
        'channel must be a channel id such as C0123456789 (in Slack: the channel details, at the bottom), not its name',
      ),
    /** The worker's environment variable holding the bot token (xoxb-...). */
    tokenEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'tokenEnv must be the name of an environment variable, e.g. SLACK_BOT_TOKEN')
      .default(DEFAULT_SLACK_TOKEN_ENV),
    /** Slack's Web API base URL; only tests and proxies change it. */
    apiUrl: z
      .url({ protocol: /^https?$/, error: 'apiUrl must be an http or https URL, e.g. https://slack.com/api/' })
      .optional(),
    token: z
      .never({
        error: `token must not be written in opsflow.yaml: put the bot token in the worker's environment and name the variable in tokenEnv (default ${DEFAULT_SLACK_TOKEN_ENV})`,
      })
      .optional(),
    uiUrl: z
      .never({
        error:
          "uiUrl is not a channel setting: each event carries its Temporal UI link, from the worker's temporal.uiUrl",
      })
      .optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown setting ${issue.keys.join(', ')}: a slack channel takes ${SETTINGS}`
        : undefined,
  },
);
export type SlackChannelConfig = z.infer<typeof slackChannelConfigSchema>;

/** A channel's block checked, or a {@link ConfigError} in one line naming the setting to fix. */
export function parseSlackChannelConfig(block: unknown, name: string): SlackChannelConfig {
  const parsed = slackChannelConfigSchema.safeParse(block);
  if (parsed.success) return parsed.data;
  const path = parsed.error.issues[0]?.path.length ? '.' : ': ';
  throw new ConfigError(`notifications.channels.${name}${path}${describeIssue(parsed.error)}`);
}
