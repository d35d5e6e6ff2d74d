/**
 * What opsflow writes into Slack and reads back: the message metadata that finds a deploy's message and an event's
 * reply again, the ids of the buttons the chat bridge answers, and the few Block Kit shapes the messages use.
 */

/** Metadata `event_type` of the one top-level message per deploy (updated in place). */
export const DEPLOY_MESSAGE_TYPE = 'opsflow_deploy';

/** Metadata `event_type` of the message sent for one event (a reply in the deploy's thread, or an agent's message). */
export const EVENT_MESSAGE_TYPE = 'opsflow_event';

/** The deploy message's metadata payload: which deploy, and which event it shows (a later event replaces it). */
export type DeployMessagePayload = {
  deployId: string;
  service: string;
  version: string;
  environment?: string;
  phase: string;
  eventId: string;
  eventTime: string;
};

/** An event message's metadata payload: the event's id, looked up before posting so no event is posted twice. */
export type EventMessagePayload = { eventId: string };

/** `action_id` of each button; the chat bridge answers them. */
export const SLACK_ACTIONS = {
  approve: 'opsflow_approve',
  reject: 'opsflow_reject',
  resume: 'opsflow_resume',
  abort: 'opsflow_abort',
} as const;
export type SlackAction = (typeof SLACK_ACTIONS)[keyof typeof SLACK_ACTIONS];

/** A button's `value`, as JSON: the deploy and environment it decides for. */
export interface SlackActionValue {
  deployId: string;
  environment: string | null;
}

export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

/** `verbatim: true`: Slack links no bare URL, channel name or @-mention of its own; only our `<...>` sequences count. */
export interface MrkdwnText {
  type: 'mrkdwn';
  text: string;
  verbatim: true;
}

export interface ButtonElement {
  type: 'button';
  action_id: SlackAction;
  text: PlainText;
  value: string;
  style?: 'primary' | 'danger';
  confirm?: { title: PlainText; text: PlainText; confirm: PlainText; deny: PlainText; style?: 'primary' | 'danger' };
}

export type MessageBlock =
  | { type: 'section'; text: MrkdwnText }
  | { type: 'context'; elements: MrkdwnText[] }
  | { type: 'actions'; block_id: string; elements: ButtonElement[] };

/** One message as sent: blocks for people, `text` for notifications and screen readers, metadata for opsflow. */
export interface SlackMessage<P> {
  text: string;
  blocks: MessageBlock[];
  metadata: { event_type: string; event_payload: P };
}
