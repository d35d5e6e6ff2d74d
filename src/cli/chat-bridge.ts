/**
 * The chat bridge: answers the Approve / Reject / Resume / Abort buttons of opsflow's Slack messages with signed
 * decisions. Slack POSTs each button press to `/slack/interactions` as form data (`payload=<block_actions JSON>`),
 * signed with the app's signing secret. The bridge
 *
 *  1. verifies Slack's signature over the raw body, with a timestamp within five minutes, and refuses a request it has
 *     answered already (401; nothing is sent to Temporal);
 *  2. reads the payload and the button's value (400 when it is not what opsflow's buttons send);
 *  3. maps the Slack user to the person its worker's policy lists with that `slack:` id (403 for anyone else);
 *  4. reads the deploy's status for what to sign (namespace, run, plan hash), as `opsflow deploy approve` does, and
 *     only for the environment the button was for;
 *  5. signs the decision with the BRIDGE's own key for that person, saying `via: { bridge, platform: slack, user }`,
 *     and sends it as the Update the CLI would; the workflow's validator decides, against the worker's policy (which
 *     must list this bridge's key and let chat count in the environment), and its one-line answer goes back to Slack.
 *
 * The bridge holds its own private key and Slack's signing secret, never a person's key: it can approve only as people
 * its policy maps, only where the environment's `chat` rule allows, and the deploy, the activity that changes the
 * environment and `deploy verify` each check that again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import {
  SLACK_TOLERANCE_MS,
  SlackSignatureError,
  verifySlackRequest,
} from '../activities/notify/slack/request-signature';
import { escapeMrkdwn } from '../activities/notify/slack/message';
import { SLACK_ACTIONS } from '../activities/notify/slack/types';
import { signDecision, type Signer } from '../keys/keys';
import type { DeployPolicy } from '../shared/deploy';
import { abortUpdate, approveUpdate, rejectUpdate, resumeUpdate, statusQuery } from '../shared/deploy/messages';
import type { ChatVia, SignedAction, SignedStatement } from '../shared/signing';
import { slackUserIdSchema } from '../shared/signing';
import { deployIdSchema, describeIssue, nameSchema } from '../shared/validation';
import { deployHandle } from './client';

/** The path Slack's Interactivity Request URL points at (through the team's ingress). */
export const SLACK_INTERACTIONS_PATH = '/slack/interactions';

/** Slack's payloads carry the whole message; a megabyte is far above any of opsflow's. */
const MAX_BODY_BYTES = 1024 * 1024;

/** The actions a button may ask for, by its action_id. */
const ACTIONS = new Map<string, Extract<SignedAction, 'approve' | 'reject' | 'resume' | 'abort'>>(
  Object.entries(SLACK_ACTIONS).map(([action, id]) => [id, action as 'approve' | 'reject' | 'resume' | 'abort']),
);

/** What opsflow's buttons send (Slack adds more; it is ignored). */
const interactionSchema = z.looseObject({
  type: z.literal('block_actions', { error: 'not a block_actions payload (only opsflow buttons are answered)' }),
  user: z.looseObject({ id: slackUserIdSchema }),
  response_url: z.url({ protocol: /^https$/ }).optional(),
  actions: z
    .array(z.looseObject({ action_id: z.string().max(255), value: z.string().max(2000).optional() }))
    .length(1, 'one action per request, as a button press sends'),
});

/** A button's value, as src/activities/notify/slack/message.ts writes it. */
const buttonValueSchema = z.strictObject({ deployId: deployIdSchema, environment: nameSchema });

/** What the bridge answers Slack: a short ephemeral message on 200, one line of text on a refusal. */
export interface BridgeAnswer {
  status: number;
  body: { response_type: 'ephemeral'; text: string } | string;
}

/** A request as the HTTP server read it. */
export interface BridgeRequest {
  method: string | undefined;
  url: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** How a bridge is set up: a Temporal client, its worker's policy, its own name and key, and Slack's signing secret. */
export interface ChatBridgeOptions {
  client: Client;
  /** The policy of the worker's opsflow.yaml the bridge runs with: who a Slack user is. */
  policy: DeployPolicy;
  /** This bridge as the policy lists it, and the signer of its own key. */
  bridge: { name: string; signer: Signer };
  signingSecret: string;
  /** Now, in epoch ms (tests pass the test server's clock): Slack's timestamp window and the statements' times. */
  clock?: () => number | Promise<number>;
  /**
   * Sends the answer to the interaction's `response_url` too, so the person sees it in Slack (which shows no body of a
   * block_actions acknowledgement). Absent: not sent.
   */
  respond?: (
    responseUrl: string,
    message: { response_type: 'ephemeral'; replace_original: false; text: string },
  ) => Promise<void>;
  /** One line per request for the operator: status and why. Never the secret, the body or a signature. */
  onRequest?: (line: string) => void;
}

/** A refusal with its status: one line, and nothing sent to Temporal. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The bridge's core: answers one request. A function of a Temporal client, so tests run it against any server; the
 * replay memory (signatures answered within Slack's five-minute window) lives as long as the returned function.
 */
export function createChatBridge(options: ChatBridgeOptions): (request: BridgeRequest) => Promise<BridgeAnswer> {
  const clock = options.clock ?? (() => Date.now());
  const answered = new Map<string, number>();
  return async (request) => {
    let line: string;
    let answer: BridgeAnswer;
    let responseUrl: string | undefined;
    try {
      const nowMs = await clock();
      const interaction = accept(request, options.signingSecret, nowMs, answered);
      responseUrl = interaction.responseUrl;
      const person = personOfSlackUser(options.policy, interaction.user);
      if (!person) {
        throw new Refusal(
          403,
          `Slack user ${interaction.user} is not a person of the worker's policy (no policy.people.<name>.slack)`,
        );
      }
      answer = await decide(options, interaction, person, nowMs);
      line = `${answer.status} ${interaction.action} ${interaction.deployId} by ${interaction.user} as ${person}: ${text(answer)}`;
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      answer = { status: err.status, body: err.message };
      line = `${err.status} ${err.message}`;
    }
    options.onRequest?.(`${request.method ?? '?'} ${pathOf(request.url)} ${line}`);
    // Slack shows no body of a block_actions acknowledgement: the person reads the answer through response_url, which
    // is only known once Slack's signature held (a refusal before that has nobody to tell).
    if (responseUrl && options.respond) {
      options
        .respond(responseUrl, { response_type: 'ephemeral', replace_original: false, text: text(answer) })
        .catch((err: unknown) => options.onRequest?.(`could not answer on response_url: ${(err as Error).message}`));
    }
    return answer;
  };
}

/** What a verified, well-formed button press asks for. */
interface Interaction {
  action: 'approve' | 'reject' | 'resume' | 'abort';
  deployId: string;
  environment: string;
  user: string;
  responseUrl?: string;
}

function pathOf(url: string | undefined): string {
  return new URL(url ?? '/', 'http://bridge').pathname;
}

function text(answer: BridgeAnswer): string {
  return typeof answer.body === 'string' ? answer.body : answer.body.text;
}

/** The checks before anything reaches Temporal: route, Slack's signature, no replay, the payload, the person. */
function accept(request: BridgeRequest, secret: string, nowMs: number, answered: Map<string, number>): Interaction {
  const path = pathOf(request.url);
  if (path !== SLACK_INTERACTIONS_PATH) throw new Refusal(404, `no endpoint ${path}: POST ${SLACK_INTERACTIONS_PATH}`);
  if (request.method !== 'POST') throw new Refusal(405, `${request.method ?? '?'} ${path}: use POST`);
  let signature: string;
  try {
    signature = verifySlackRequest(request.body, request.headers, secret, nowMs);
  } catch (err) {
    if (err instanceof SlackSignatureError) throw new Refusal(401, err.message);
    throw err;
  }
  for (const [seen, until] of answered) if (until < nowMs) answered.delete(seen);
  if (answered.has(signature)) {
    throw new Refusal(401, 'this signed request was answered already: a replay is refused');
  }
  // Until its timestamp leaves the window: after that, the timestamp check refuses it.
  answered.set(signature, Number(request.headers['x-slack-request-timestamp']) * 1000 + SLACK_TOLERANCE_MS);
  return parse(request);
}

/** The button press a verified request carries, or a 400 saying what is wrong with it. */
function parse(request: BridgeRequest): Interaction {
  const type = String(request.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim()
    .toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new Refusal(400, `Content-Type "${type}" refused: Slack sends application/x-www-form-urlencoded`);
  }
  const raw = new URLSearchParams(request.body.toString('utf8')).get('payload');
  if (raw === null) throw new Refusal(400, 'no payload field in the form: not an interaction from Slack');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Refusal(400, 'the payload is not JSON');
  }
  const parsed = interactionSchema.safeParse(json);
  if (!parsed.success) throw new Refusal(400, `payload.${describeIssue(parsed.error)}`);
  const { user, actions } = parsed.data;
  const button = actions[0];
  const action = button ? ACTIONS.get(button.action_id) : undefined;
  if (!button || !action) throw new Refusal(400, "the action is not one of opsflow's buttons");
  let value: unknown;
  try {
    value = JSON.parse(button.value ?? '');
  } catch {
    throw new Refusal(400, "the button's value is not JSON");
  }
  const target = buttonValueSchema.safeParse(value);
  if (!target.success) throw new Refusal(400, `the button's value: ${describeIssue(target.error)}`);
  return {
    action,
    deployId: target.data.deployId,
    environment: target.data.environment,
    user: user.id,
    ...(parsed.data.response_url ? { responseUrl: parsed.data.response_url } : {}),
  };
}

/** The person of the policy whose `slack:` id this is (the policy refuses an id listed twice when it loads). */
export function personOfSlackUser(policy: DeployPolicy, user: string): string | undefined {
  return Object.entries(policy.people).find(([, p]) => p.slack === user)?.[0];
}

/** Signs the decision for the mapped person and sends it; the workflow's validator has the last word. */
async function decide(
  options: ChatBridgeOptions,
  interaction: Interaction,
  person: string,
  nowMs: number,
): Promise<BridgeAnswer> {
  const { action, deployId, environment, user } = interaction;
  const reply = (message: string): BridgeAnswer => ({
    status: 200,
    body: { response_type: 'ephemeral', text: escapeMrkdwn(message.split('\n')[0] ?? '') },
  });
  const handle = deployHandle(options.client, deployId);
  const via: ChatVia = { bridge: options.bridge.name, platform: 'slack', user };
  try {
    const status = await handle.query(statusQuery);
    if (status.environment !== environment) {
      return reply(
        `Nothing sent: ${deployId} is ${status.phase}${status.environment ? ` in ${status.environment}` : ''}, ` +
          `not in ${environment} any more`,
      );
    }
    const planHash = status.signing?.planHashes[environment];
    let signed: SignedStatement | undefined;
    if (status.signing && planHash) {
      signed = await signDecision(
        options.bridge.signer,
        {
          namespace: status.signing.namespace,
          workflowId: deployId,
          runId: status.signing.runId,
          environment,
          planHash,
        },
        { action, person, via },
        { nowMs },
      );
    }
    const proof = signed ? { signed } : {};
    const said = `in Slack by ${user}`;
    switch (action) {
      case 'approve':
        await handle.executeUpdate(approveUpdate, { args: [{ by: person, ...proof }] });
        return reply(`Approved ${environment} of ${deployId} as ${person}, signed by the bridge ${via.bridge}.`);
      case 'reject':
        await handle.executeUpdate(rejectUpdate, { args: [{ by: person, reason: `rejected ${said}`, ...proof }] });
        return reply(`Rejected ${environment} of ${deployId} as ${person}: it ends as cancelled.`);
      case 'resume':
        await handle.executeUpdate(resumeUpdate, { args: [{ by: person, reason: `resumed ${said}`, ...proof }] });
        return reply(`Resumed ${deployId} in ${environment} as ${person}.`);
      case 'abort':
        await handle.executeUpdate(abortUpdate, { args: [{ by: person, reason: `aborted ${said}`, ...proof }] });
        return reply(`Abort requested for ${deployId} in ${environment} as ${person}: it rolls back.`);
    }
  } catch (err) {
    // The validator's refusal (or Temporal's), in one line, as the CLI would print it.
    const { explain, forDeploy } = await import('./explain.js');
    return reply(`Not done: ${explain(err, forDeploy(deployId)).message}`);
  }
}

/** A listening bridge. */
export interface ChatBridgeServer {
  /** `http://<host>:<port>`; Slack reaches `<url>/slack/interactions` through the team's ingress. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the bridge on `host` (127.0.0.1 unless told) and `port` (0: any free one); resolves once it listens. */
export async function startChatBridge(
  options: ChatBridgeOptions & { host?: string; port: number },
): Promise<ChatBridgeServer> {
  const answer = createChatBridge(options);
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    readBody(req)
      .then((body) => answer({ method: req.method, url: req.url, headers: req.headers, body }))
      .catch((err: unknown) => {
        if (err instanceof Refusal) {
          options.onRequest?.(`${req.method ?? '?'} ${pathOf(req.url)} ${err.status} ${err.message}`);
          return { status: err.status, body: err.message };
        }
        options.onRequest?.(`${req.method ?? '?'} ${req.url ?? ''} 500 ${(err as Error).message.split('\n')[0]}`);
        return { status: 500, body: 'the bridge failed to answer; see its log' };
      })
      .then((a: BridgeAnswer) => {
        const json = typeof a.body !== 'string';
        res.writeHead(a.status, {
          'content-type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
        });
        res.end(json ? JSON.stringify(a.body) : `${a.body}\n`);
      })
      .catch(() => res.destroy());
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The raw body, up to {@link MAX_BODY_BYTES}: Slack's signature is over these bytes. */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES
        ? reject(new Refusal(413, `the body is larger than ${MAX_BODY_BYTES} bytes`))
        : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}
