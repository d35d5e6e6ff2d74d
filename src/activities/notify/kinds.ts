/**
 * Every notification channel kind, one line each: the name `notifications.channels.<name>.kind` gives, and the factory
 * that checks its block and builds it (each kind in a folder of its own).
 */
import { createEmailChannel } from './email/channel';
import { createGithubChannel } from './github/channel';
import { createPagerDutyChannel } from './pagerduty/channel';
import type { ChannelFactory } from './registry';
import { createSlackChannel } from './slack/channel';
import { createWebhookChannel } from './webhook/channel';

export const CHANNEL_KINDS: Readonly<Record<string, ChannelFactory>> = {
  slack: createSlackChannel,
  webhook: createWebhookChannel,
  pagerduty: createPagerDutyChannel,
  github: createGithubChannel,
  email: createEmailChannel,
};
