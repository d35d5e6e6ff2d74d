/**
 * The Slack messages of an event, rendered from its fields: the deploy's one message (its latest state), the reply
 * each event posts in that message's thread, and an agent event's message. Every text that comes from an event is
 * untrusted (a comment, a reason, a name): it is escaped as Slack documents (`&`, `<`, `>` as HTML entities) so it
 * cannot mention @channel, link elsewhere or forge a date; only the `<...>` sequences written here reach Slack as such.
 */
import { eventTitle, type DeployEvent, type OpsEvent, type Severity } from '../../../shared/notify/events';
import {
  DEPLOY_MESSAGE_TYPE,
  EVENT_MESSAGE_TYPE,
  SLACK_ACTIONS,
  type ButtonElement,
  type DeployMessagePayload,
  type EventMessagePayload,
  type MessageBlock,
  type MrkdwnText,
  type PlainText,
  type SlackActionValue,
  type SlackMessage,
} from './types';

/** Slack's limit on one text object (section, context element); the notification text is kept to it too. */
export const MAX_TEXT = 3_000;

/** Characters that must not reach Slack from untrusted text: control characters (not newline or tab) and bidi marks. */
// eslint-disable-next-line no-control-regex -- stripping control characters is the point
const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Untrusted text for mrkdwn: Slack's three control characters as entities, invisible characters dropped. */
export function escapeMrkdwn(text: string): string {
  return text.replace(INVISIBLE, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escaped text cut to `max` characters without splitting an entity or a surrogate pair. */
export function fit(escaped: string, max = MAX_TEXT): string {
  if (escaped.length <= max) return escaped;
  return `${escaped
    .slice(0, max - 1)
    .replace(/&[a-z]*$/, '')
    .replace(/[\uD800-\uDBFF]$/, '')}…`;
}

/** Plain text (buttons, dialogs) is shown as written; only cut to Slack's limit for the field. */
function plain(text: string, max: number): PlainText {
  const clean = text.replace(INVISIBLE, '');
  const cut = clean.length <= max ? clean : `${clean.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, '')}…`;
  return { type: 'plain_text', text: cut };
}

function mrkdwn(text: string): MrkdwnText {
  return { type: 'mrkdwn', text: fit(text), verbatim: true };
}

/** A link to an http(s) URL, or undefined: `|` would end the URL early, so it is percent-encoded like `<` and `>`. */
export function slackLink(url: string | undefined, label: string): string | undefined {
  if (url === undefined || !URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  const href = parsed.href.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E');
  return `<${href.replace(/&/g, '&amp;')}|${escapeMrkdwn(label)}>`;
}

/** A time every reader sees in their own time zone, with the ISO time as the fallback. */
function slackDate(iso: string): string {
  const seconds = Math.floor(Date.parse(iso) / 1_000);
  return Number.isFinite(seconds)
    ? `<!date^${seconds}^{date_short_pretty} {time}|${escapeMrkdwn(iso)}>`
    : escapeMrkdwn(iso);
}

const MARKERS: Record<Severity, string> = { info: '', warning: ':warning: ', critical: ':rotating_light: ' };

/** Where a deploy stands after this event, in a few words (the deploy message's headline). */
export function phaseOf(event: DeployEvent): string {
  switch (event.type) {
    case 'deploy.started':
      return 'started';
    case 'approval.requested':
    case 'approval.reminder':
      return 'waiting for approval';
    case 'approval.decided':
      return event.decision === 'timed-out' ? 'approval timed out' : event.decision;
    case 'canary.paused':
      return 'canary paused';
    case 'canary.step-passed':
      return `canary step ${event.step}/${event.steps} at ${event.weight} %`;
    case 'cost.increase':
      return `cost alert at ${event.weight} %`;
    case 'deploy.rolled-back':
      return 'rolled back';
    case 'deploy.promoted':
      return 'promoted';
    case 'deploy.failed':
      return 'failed';
    case 'deploy.cancelled':
      return 'cancelled';
    case 'freeze.waiting':
      return 'waiting for a freeze to end';
  }
}

/** The deploy's one message: its phase and latest event, who asked, when, and the Temporal UI. */
export function deployMessage(event: DeployEvent): SlackMessage<DeployMessagePayload> {
  const phase = phaseOf(event);
  const change = escapeMrkdwn(`${event.service} ${event.version}`);
  const where = event.environment ? ` in ${escapeMrkdwn(event.environment)}` : '';
  const link = slackLink(event.uiUrl, 'Temporal UI');
  const context = [
    escapeMrkdwn(event.deployId),
    `requested by ${escapeMrkdwn(event.requestedBy)}`,
    `updated ${slackDate(event.time)}`,
    ...(link ? [link] : []),
  ].join(' · ');
  return {
    text: fit(`${MARKERS[event.severity]}${change}: ${escapeMrkdwn(phase)}${where}`),
    blocks: [
      {
        type: 'section',
        text: mrkdwn(`*${change}*: ${escapeMrkdwn(phase)}${where}\n${escapeMrkdwn(eventTitle(event))}`),
      },
      { type: 'context', elements: [mrkdwn(context)] },
    ],
    metadata: {
      event_type: DEPLOY_MESSAGE_TYPE,
      event_payload: {
        deployId: event.deployId,
        service: event.service,
        version: event.version,
        ...(event.environment ? { environment: event.environment } : {}),
        phase,
        eventId: event.id,
        eventTime: event.time,
      },
    },
  };
}

/** What a button decides for: the deploy and environment, as the chat bridge reads it back. */
function actionValue(event: DeployEvent): string {
  const value: SlackActionValue = { deployId: event.deployId, environment: event.environment ?? null };
  return JSON.stringify(value);
}

/** The buttons of an event that waits for a person: approve or reject a request, resume or abort a paused canary. */
function actionsOf(event: OpsEvent): MessageBlock | undefined {
  if (!('deployId' in event)) return undefined;
  const value = actionValue(event);
  const change = `${event.service} ${event.version}${event.environment ? ` in ${event.environment}` : ''}`;
  const confirm = (title: string, text: string, yes: string): ButtonElement['confirm'] => ({
    title: plain(title, 100),
    text: plain(text, 300),
    confirm: plain(yes, 30),
    deny: plain('Back', 30),
    style: 'danger',
  });
  switch (event.type) {
    case 'approval.requested':
    case 'approval.reminder':
      return {
        type: 'actions',
        block_id: 'opsflow_approval',
        elements: [
          { type: 'button', action_id: SLACK_ACTIONS.approve, text: plain('Approve', 75), style: 'primary', value },
          {
            type: 'button',
            action_id: SLACK_ACTIONS.reject,
            text: plain('Reject', 75),
            style: 'danger',
            value,
            confirm: confirm('Reject this deploy?', `${change} ends as cancelled.`, 'Reject'),
          },
        ],
      };
    case 'canary.paused':
      return {
        type: 'actions',
        block_id: 'opsflow_pause',
        elements: [
          { type: 'button', action_id: SLACK_ACTIONS.resume, text: plain('Resume', 75), style: 'primary', value },
          {
            type: 'button',
            action_id: SLACK_ACTIONS.abort,
            text: plain('Abort', 75),
            style: 'danger',
            value,
            confirm: confirm('Abort this canary?', `${change} rolls back now.`, 'Abort'),
          },
        ],
      };
    default:
      return undefined;
  }
}

/** The message of one event: a reply in its deploy's thread, or an agent's own message; buttons when it waits. */
export function eventMessage(event: OpsEvent): SlackMessage<EventMessagePayload> {
  const title = `${MARKERS[event.severity]}${escapeMrkdwn(eventTitle(event))}`;
  const actions = actionsOf(event);
  const link = slackLink(event.uiUrl, 'Temporal UI');
  return {
    text: fit(title),
    blocks: [
      { type: 'section', text: mrkdwn(title) },
      ...(actions ? [actions] : []),
      ...(link ? [{ type: 'context' as const, elements: [mrkdwn(link)] }] : []),
    ],
    metadata: { event_type: EVENT_MESSAGE_TYPE, event_payload: { eventId: event.id } },
  };
}
