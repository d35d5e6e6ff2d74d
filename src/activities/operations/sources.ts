// Where OPERATIONS.md's facts come from: the config, the agent (its self-review or its status), the agent's log.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { NotificationsConfig } from '../../config/notifications';
import type { OpsflowConfig } from '../../config/schema';
import { agentWorkflowId, reviewName, type AgentStatus, type AgentTargets, type SelfReview } from '../../shared/agent';
import { nameSchema, versionSchema } from '../../shared/validation';
import { AGENT_PATHS, resolveDoc } from '../agent/files';
import { DEFAULT_GITHUB_TOKEN_ENV, githubChannelConfigSchema } from '../notify/github/config';
import { DEFAULT_ROUTING_KEY_ENV, pagerDutyChannelConfigSchema } from '../notify/pagerduty/config';
import { DEFAULT_SLACK_TOKEN_ENV, slackChannelConfigSchema } from '../notify/slack/config';
import { DEFAULT_WEBHOOK_SECRET_ENV, webhookChannelConfigSchema } from '../notify/webhook/config';
import { emailChannelConfigSchema } from '../notify/email/config';
import type { AgentFacts, ChannelFacts, ConfigFacts, DeployLogFacts, LoggedDeploy, Missing } from './types';

/** Whether a source gave its facts. */
export function known<T extends object>(source: T | Missing): source is T {
  return !('missing' in source);
}

/**
 * The config as the source of a project's sections: the worker's (or the CLI's) opsflow.yaml when it describes this
 * project, else why not.
 */
export function configFacts(
  project: string,
  loaded: { config: OpsflowConfig; path: string } | undefined,
): ConfigFacts | Missing {
  if (!loaded) return { missing: 'no opsflow.yaml was given to the process that wrote this' };
  if (loaded.config.project !== project) {
    return { missing: `${loaded.path} describes project ${loaded.config.project}, not ${project}` };
  }
  return { config: loaded.config, path: loaded.path };
}

/** The agent's facts as the self-review it just made holds them. */
export function agentFactsFromReview(review: SelfReview): AgentFacts {
  return {
    source: `the ops agent's ${review.manual ? 'self-review asked for' : 'daily self-review'} of ${review.date}`,
    workflowId: agentWorkflowId(review.project),
    asOf: review.to,
    total: review.total,
    deploysPerDay: review.deploysPerDay,
    targets: review.targets,
    improvements: review.improvements,
    improvementsClosed: review.improvementsClosed,
    lastReview: { date: review.date, file: AGENT_PATHS.selfReview(reviewName(review)) },
    measures: review.measures ?? null,
  };
}

/** The agent's facts as its status query answers them; its targets are the config's (the agent's own input). */
export function agentFactsFromStatus(status: AgentStatus, targets: AgentTargets, asOf: string): AgentFacts {
  return {
    source: `the status query of ${status.workflowId}`,
    workflowId: status.workflowId,
    asOf,
    startedAt: status.startedAt,
    total: status.figures.total,
    deploysPerDay: status.figures.deploysPerDay,
    targets,
    improvements: status.improvements,
    improvementsClosed: [],
    lastReview: status.reviews.last ?? null,
    measures: null,
  };
}

/** A post-mortem path as the feedback loop writes it (docs/incidents/<date>-<service>-<version>.md), nothing else. */
const POST_MORTEM = /^docs\/incidents\/[A-Za-z0-9][A-Za-z0-9._-]*\.md$/;

/** The fields of a deploy line of the agent's log that OPERATIONS.md reads; other lines and fields are ignored. */
const loggedDeploySchema = z.object({
  type: z.literal('deploy'),
  at: z.iso.datetime(),
  project: nameSchema,
  deployId: z.string().min(1).max(200),
  service: nameSchema,
  version: versionSchema,
  outcome: z.enum(['promoted', 'rolled-back', 'rejected', 'approval-timed-out', 'failed']),
  cause: z.string().max(100).nullable(),
  restoreMs: z.number().nonnegative().nullable(),
  files: z.array(z.string()),
});

/**
 * The deploys the agent logged for `project` in `workdir` (docs/operations/agent-log.jsonl, JSON lines the feedback
 * loop appends), with the post-mortem each wrote, and the runbook when there is one. A line that is not such a record
 * is skipped; no log is a Missing saying so.
 */
export function readDeployLog(workdir: string, project: string): DeployLogFacts | Missing {
  const file = resolveDoc(workdir, AGENT_PATHS.log);
  if (!existsSync(file)) {
    return { missing: `no ${AGENT_PATHS.log} yet: the ops agent has not finished a deploy in this folder` };
  }
  const deploys: LoggedDeploy[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"type":"deploy"')) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = loggedDeploySchema.safeParse(json);
    if (!parsed.success || parsed.data.project !== project) continue;
    const d = parsed.data;
    deploys.push({
      at: d.at,
      deployId: d.deployId,
      service: d.service,
      version: d.version,
      outcome: d.outcome,
      cause: d.cause,
      restoreMs: d.restoreMs,
      postMortem: d.files.find((f) => POST_MORTEM.test(f)) ?? null,
    });
  }
  const runbook = existsSync(resolveDoc(workdir, AGENT_PATHS.runbook)) ? AGENT_PATHS.runbook : null;
  return { path: AGENT_PATHS.log, deploys, runbook };
}

const variable = (name: string) => `$${name}`;
const workerFile = (setting: string) => `a file of the worker (${setting})`;

/** Where each kind reads its credential from, by its own schema: a variable's name or "a file", never a value. */
const CREDENTIALS: Record<string, (block: unknown) => string | undefined> = {
  slack: (block) => {
    const c = slackChannelConfigSchema.safeParse(block);
    return c.success ? variable(c.data.tokenEnv ?? DEFAULT_SLACK_TOKEN_ENV) : undefined;
  },
  webhook: (block) => {
    const c = webhookChannelConfigSchema.safeParse(block);
    if (!c.success) return undefined;
    return c.data.secretFile ? workerFile('secretFile') : variable(c.data.secretEnv ?? DEFAULT_WEBHOOK_SECRET_ENV);
  },
  pagerduty: (block) => {
    const c = pagerDutyChannelConfigSchema.safeParse(block);
    if (!c.success) return undefined;
    return c.data.routingKeyFile
      ? workerFile('routingKeyFile')
      : variable(c.data.routingKeyEnv ?? DEFAULT_ROUTING_KEY_ENV);
  },
  github: (block) => {
    const c = githubChannelConfigSchema.safeParse(block);
    if (!c.success) return undefined;
    return c.data.tokenFile ? workerFile('tokenFile') : variable(c.data.tokenEnv ?? DEFAULT_GITHUB_TOKEN_ENV);
  },
  email: (block) => {
    const c = emailChannelConfigSchema.safeParse(block);
    if (!c.success) return undefined;
    const { userEnv, passwordEnv, passwordFile } = c.data.smtp;
    if (!userEnv) return 'no SMTP login';
    return `${variable(userEnv)} and ${passwordFile ? workerFile('smtp.passwordFile') : variable(passwordEnv ?? '')}`;
  },
};

/** The worker's channels: kind and credential source each, in the config's order. */
export function channelFacts(block: NotificationsConfig | undefined): ChannelFacts[] {
  return Object.entries(block?.channels ?? {}).map(([name, channel]) => {
    const read = Object.hasOwn(CREDENTIALS, channel.kind) ? CREDENTIALS[channel.kind] : undefined;
    const credential = read
      ? (read(channel) ?? 'its settings do not pass its kind’s checks: the worker refuses to start with them')
      : `unknown kind: the worker refuses to start with it`;
    return { name, kind: channel.kind, credential };
  });
}
