/**
 * The `github` channel: one GitHub deployment per deploy and environment in the configured repository, its statuses
 * following the deploy, the Temporal UI as its log URL, so the repository's Environments page shows what opsflow did.
 * Built on `@octokit/rest` (`repos.listDeployments`, `createDeployment`, `listDeploymentStatuses`,
 * `createDeploymentStatus`), which has no retries of its own: Temporal's activity retry sends again, honouring a rate
 * limit's wait.
 *
 * Which status each event sets ({@link statusSteps}):
 * - `in_progress` when an environment's work starts: the first environment of `deploy.started` (the deploy is under
 *   way from its start, also while that environment waits for an approval), and the environment of an
 *   `approval.decided` that approved it;
 * - `success` for each environment a `deploy.promoted` names;
 * - `failure` for the environment of a `deploy.rolled-back` or `deploy.failed`;
 * - `inactive` for the environment of a `deploy.cancelled`, when it has a deployment (one never started is not made
 *   only to be closed);
 * - and, because a deploy works on one environment at a time and moves on only after promoting the one before, an
 *   approval that starts an environment and every end of the deploy also set `success` on the deploy's other
 *   deployments still `in_progress`: staging shows promoted once production starts, not when the whole deploy ends.
 * Every other event changes no deployment: {@link GithubChannel.wants} says false and `send` sends nothing.
 *
 * The worker's default route has no `deploy.started`: a route that gives this channel `deploy.started` along with the
 * decisions and ends shows the first environment as soon as the deploy starts; without it, that environment's
 * deployment appears only when the deploy ends.
 *
 * At most one deployment per deploy and environment: before creating one, the deployments of the ref are listed
 * (`?ref=`, every environment at once, since an approval or an end also looks at the deploy's other environments; at
 * most 5 pages of 100, so the ref template must name the version) and the one whose `payload.deployId` is this deploy's
 * is used, so a retry after a lost answer finds what the first attempt created; two sends that race to create it both
 * continue with the earliest (lowest id) and mark the other `inactive`. A retried deploy (a new run of the same deploy
 * id) continues its deployments.
 *
 * At most one status per event: GitHub's statuses are append-only, so each status opsflow posts ends its description
 * with a marker, `[opsflow <hash of the event id> <event time>]`, and the deployment's statuses are read first (in id
 * order: GitHub documents no order for the list). Nothing is posted when the latest opsflow status already has the
 * state (the same event's, or an earlier one's: a status that changes nothing is noise), nor when a later event has
 * already set one (a retried send arriving after the next event never turns a promoted deployment back to
 * in_progress). `duplicate` is true when this event's status was already there.
 *
 * 429 and a 403 that says it is a rate limit (`x-ratelimit-remaining: 0`, a `retry-after`, or GitHub's "rate limit"
 * message for its secondary limits) wait `retry-after` or until `x-ratelimit-reset` (a minute when neither is given);
 * 5xx, timeouts and unreachable hosts are retryable; 401, 403, 404, 409, 422 and other 4xx are not, in one line naming
 * the variable or file the token came from, never the token.
 */
import { createHash } from 'node:crypto';
import type { Octokit } from '@octokit/rest';
import { z } from 'zod';
import type { DeployEvent, OpsEvent } from '../../../shared/notify/events';
import { redact } from '../../llm/errors';
import { parseChannelConfig } from '../channel-config';
import { ChannelError, type Channel, type SendResult } from '../contract';
import { credentialSource, readCredential, type CredentialSource, type Env } from '../credentials';
import { originOf } from '../http';
import { oneLine, truncate } from '../text';
import { DEFAULT_GITHUB_TOKEN_ENV, githubChannelConfigSchema, type GithubChannelConfig } from './config';

/** The REST API version every request asks for. */
export const GITHUB_API_VERSION = '2022-11-28';
/** GitHub refuses a status description longer than this. */
export const MAX_DESCRIPTION_LENGTH = 140;
/** Items per page, and pages read at most, when deployments or statuses are looked up. */
export const PAGE_SIZE = 100;
export const DEPLOYMENT_PAGES = 5;
export const STATUS_PAGES = 3;
/** How long to wait on a secondary rate limit that names no time (GitHub: at least a minute). */
export const SECONDARY_LIMIT_WAIT_MS = 60_000;

/** The deployment states opsflow sets. */
export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'inactive';

/** One status an event sets directly. */
export interface StatusStep {
  environment: string;
  state: DeploymentState;
  /** Create the environment's deployment when it has none (not for a cancellation). */
  create: boolean;
}

/** The statuses an event sets on the environments it names, in order; none for an event that changes nothing. */
export function statusSteps(event: OpsEvent): StatusStep[] {
  if (!('deployId' in event)) return [];
  const environment = event.environment;
  switch (event.type) {
    case 'deploy.started': {
      const first = event.environments[0];
      return first ? [{ environment: first, state: 'in_progress', create: true }] : [];
    }
    case 'approval.decided':
      return event.decision === 'approved' && environment ? [{ environment, state: 'in_progress', create: true }] : [];
    case 'deploy.promoted':
      return [...new Set(event.environments)].map((env) => ({ environment: env, state: 'success', create: true }));
    case 'deploy.rolled-back':
    case 'deploy.failed':
      return environment ? [{ environment, state: 'failure', create: true }] : [];
    case 'deploy.cancelled':
      return environment ? [{ environment, state: 'inactive', create: false }] : [];
    default:
      return [];
  }
}

/** Whether the event also marks the deploy's other environments still in progress as promoted (see the header). */
function closesOthers(event: OpsEvent): boolean {
  return (
    event.type === 'deploy.rolled-back' ||
    event.type === 'deploy.failed' ||
    event.type === 'deploy.cancelled' ||
    event.type === 'deploy.promoted' ||
    (event.type === 'approval.decided' && event.decision === 'approved')
  );
}

/** The ref a deploy's deployments name, from the config's template. */
export function refOf(template: string, event: DeployEvent): string {
  return template.replaceAll('{{version}}', event.version).replaceAll('{{service}}', event.service);
}

/** The marker ending each status description opsflow posts: which event set it, and that event's time. */
export function statusMarker(event: OpsEvent): string {
  return `[opsflow ${eventHash(event.id)} ${event.time}]`;
}

const MARKER = /\[opsflow ([0-9a-f]{12}) (\S+)\]$/;

function eventHash(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 12);
}

/** A status description: what happened, for people, cut so that the marker fits within GitHub's 140 characters. */
export function statusDescription(event: DeployEvent, environment: string, state: DeploymentState): string {
  const change = `${event.service} ${event.version}`;
  let text: string;
  if (state === 'in_progress') text = `deploying ${change} to ${environment}`;
  else if (state === 'success') text = `${change} runs in ${environment}`;
  else if (event.type === 'deploy.rolled-back') text = `${change} rolled back (${event.cause}): ${event.reason}`;
  else if (event.type === 'deploy.failed') text = `${change} failed: ${event.reason}`;
  else if (event.type === 'deploy.cancelled') text = `${change} cancelled: ${event.reason}`;
  else text = `${change}: ${state}`;
  const marker = statusMarker(event);
  return `${truncate(oneLine(text), MAX_DESCRIPTION_LENGTH - marker.length - 1)} ${marker}`;
}

/** A deployment as the channel reads it back: only what it decides on. */
const deploymentSchema = z.looseObject({
  id: z.number(),
  environment: z.string(),
  payload: z.unknown().optional(),
});
type Deployment = z.infer<typeof deploymentSchema>;

const statusSchema = z.looseObject({
  id: z.number(),
  state: z.string(),
  description: z.string().nullable().optional(),
});
type Status = z.infer<typeof statusSchema>;

/** The deploy id a deployment's payload names (GitHub may hand a payload back as an object or as JSON text). */
function deployIdOf(deployment: Deployment): string | undefined {
  let payload = deployment.payload;
  if (typeof payload === 'string') {
    try {
      payload = JSON.parse(payload);
    } catch {
      return undefined;
    }
  }
  const id = payload && typeof payload === 'object' ? (payload as Record<string, unknown>).deployId : undefined;
  return typeof id === 'string' ? id : undefined;
}

/** The statuses opsflow posted on a deployment, newest (highest id) first, with their markers read. */
function ourStatuses(statuses: Status[]): { status: Status; hash: string; time: number }[] {
  return statuses
    .flatMap((status) => {
      const m = MARKER.exec(status.description ?? '');
      return m ? [{ status, hash: m[1]!, time: Date.parse(m[2]!) }] : [];
    })
    .sort((a, b) => b.status.id - a.status.id);
}

/** What one status step came to, for the result. */
interface StepOutcome {
  posted: boolean;
  /** This event's status was there already. */
  duplicate: boolean;
  note: string;
}

/** What every request carries: its time limit and the API version. */
interface RequestOptions {
  request: { signal: AbortSignal };
  headers: Record<string, string>;
}

const SILENT_LOG = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

let octokitModule: Promise<{ Octokit: typeof Octokit }> | undefined;

/** @octokit/rest is an ES module: loaded once, when the first GitHub event is sent. */
function loadOctokit(): Promise<{ Octokit: typeof Octokit }> {
  octokitModule ??= import('@octokit/rest');
  return octokitModule;
}

/** What a GitHub channel needs besides its config; tests pass their own. */
export interface GithubDeps {
  env?: Env;
  /** The clock an `x-ratelimit-reset` is measured against. */
  now?: () => number;
}

/** Keeps one GitHub deployment per deploy and environment, its statuses following the deploy. */
export class GithubChannel implements Channel {
  readonly kind = 'github';
  private readonly env: Env;
  private readonly now: () => number;
  private readonly owner: string;
  private readonly repo: string;
  private readonly source: CredentialSource;

  constructor(
    private readonly config: GithubChannelConfig,
    deps: GithubDeps = {},
  ) {
    this.env = deps.env ?? process.env;
    this.now = deps.now ?? Date.now;
    const [owner = '', repo = ''] = config.repository.split('/');
    this.owner = owner;
    this.repo = repo;
    this.source = credentialSource(config.tokenFile, config.tokenEnv, DEFAULT_GITHUB_TOKEN_ENV);
  }

  /** Whether the event changes a deployment; the router skips the others. */
  wants(event: OpsEvent): boolean {
    return statusSteps(event).length > 0;
  }

  async send(event: OpsEvent): Promise<SendResult> {
    const steps = statusSteps(event);
    if (!steps.length || !('deployId' in event)) {
      return { ref: '', duplicate: false, detail: 'changes no GitHub deployment: nothing sent' };
    }
    const token = readCredential('the GitHub token', this.source, this.env);
    const { Octokit } = await loadOctokit();
    const api = new Octokit({
      auth: token,
      baseUrl: this.config.apiUrl.replace(/\/+$/, ''),
      userAgent: 'opsflow-github',
      log: SILENT_LOG,
    });
    const ref = refOf(this.config.ref, event);
    const done: string[] = [];
    try {
      return await this.apply(api, event, steps, ref, token, done);
    } catch (err) {
      const failure = err instanceof ChannelError ? err : new ChannelError(redact(String(err), token), true);
      const before = done.length ? ` (after it ${done.join(', ')})` : '';
      throw new ChannelError(`${failure.message}${before}`, failure.retryable, failure.retryAfterMs);
    }
  }

  private async apply(
    api: Octokit,
    event: DeployEvent,
    steps: StatusStep[],
    ref: string,
    token: string,
    done: string[],
  ): Promise<SendResult> {
    const found = await this.deploymentsOf(api, event.deployId, ref, token);
    const ids: number[] = [];
    let posted = 0;
    let duplicates = 0;
    const count = (outcome: StepOutcome) => {
      done.push(outcome.note);
      if (outcome.posted) posted += 1;
      if (outcome.duplicate) duplicates += 1;
    };
    for (const step of steps) {
      let deployment = found.get(step.environment);
      if (!deployment) {
        if (!step.create) {
          done.push(`found no ${step.environment} deployment to mark ${step.state}`);
          continue;
        }
        deployment = await this.create(api, event, ref, step.environment, token);
        found.set(step.environment, deployment);
        done.push(`created the ${step.environment} deployment ${deployment.id}`);
      }
      ids.push(deployment.id);
      count(await this.setStatus(api, deployment, step, event, token));
    }
    if (closesOthers(event)) {
      const named = new Set(steps.map((s) => s.environment));
      for (const [environment, deployment] of found) {
        if (named.has(environment)) continue;
        const step: StatusStep = { environment, state: 'success', create: false };
        const outcome = await this.setStatus(api, deployment, step, event, token, 'in_progress');
        if (outcome.posted || outcome.duplicate) {
          ids.push(deployment.id);
          count(outcome);
        }
      }
    }
    const where = `GitHub ${this.config.repository}`;
    return {
      ref: ids.map((id) => `${this.config.repository}#${id}`).join(' '),
      duplicate: posted === 0 && duplicates > 0,
      detail: `${where}: ${done.join('; ')}`,
    };
  }

  /** The earliest deployment of this deploy per environment, among the deployments of its ref. */
  private async deploymentsOf(
    api: Octokit,
    deployId: string,
    ref: string,
    token: string,
  ): Promise<Map<string, Deployment>> {
    const found = new Map<string, Deployment>();
    for (let page = 1; page <= DEPLOYMENT_PAGES; page++) {
      const answer = await this.call(`list the deployments of ${ref}`, token, (options) =>
        api.rest.repos.listDeployments({
          owner: this.owner,
          repo: this.repo,
          ref,
          per_page: PAGE_SIZE,
          page,
          ...options,
        }),
      );
      const items = this.listOf(answer.data, `list the deployments of ${ref}`);
      for (const item of items) {
        const parsed = deploymentSchema.safeParse(item);
        if (!parsed.success || deployIdOf(parsed.data) !== deployId) continue;
        const earlier = found.get(parsed.data.environment);
        if (!earlier || parsed.data.id < earlier.id) found.set(parsed.data.environment, parsed.data);
      }
      if (items.length < PAGE_SIZE) break;
    }
    return found;
  }

  /**
   * Creates the environment's deployment; when another send created one for the same deploy meanwhile, the earliest is
   * kept and the other marked inactive, so both continue with one.
   */
  private async create(
    api: Octokit,
    event: DeployEvent,
    ref: string,
    environment: string,
    token: string,
  ): Promise<Deployment> {
    const answer = await this.call(`create the ${environment} deployment of ${ref}`, token, (options) =>
      api.rest.repos.createDeployment({
        owner: this.owner,
        repo: this.repo,
        ref,
        environment,
        auto_merge: false,
        required_contexts: [],
        payload: { deployId: event.deployId, version: event.version },
        description: truncate(
          oneLine(`opsflow: ${event.service} ${event.version} to ${environment} (${event.deployId})`),
          MAX_DESCRIPTION_LENGTH,
        ),
        ...options,
      }),
    );
    if (answer.status !== 201) {
      // 202 is GitHub's answer to a merge it made instead of a deployment: never asked for (auto_merge is false).
      throw new ChannelError(
        `GitHub ${this.config.repository} created no ${environment} deployment of ${ref}: HTTP ${answer.status}`,
        false,
      );
    }
    const parsed = deploymentSchema.safeParse(answer.data);
    if (!parsed.success) {
      throw new ChannelError(
        `GitHub ${originOf(this.config.apiUrl)} answered the ${environment} deployment's creation without its id`,
        true,
      );
    }
    const created = parsed.data;
    const all = await this.deploymentsOf(api, event.deployId, ref, token);
    const earliest = all.get(environment);
    if (!earliest || earliest.id === created.id) return created;
    await this.call(`mark the duplicate deployment ${created.id} inactive`, token, (options) =>
      api.rest.repos.createDeploymentStatus({
        owner: this.owner,
        repo: this.repo,
        deployment_id: created.id,
        state: 'inactive',
        description: `created twice: deployment ${earliest.id} stands for ${event.deployId}`.slice(
          0,
          MAX_DESCRIPTION_LENGTH,
        ),
        ...options,
      }),
    );
    return earliest;
  }

  /**
   * Posts the step's status unless the deployment already has it or a later event's (see the header); with `onlyFrom`,
   * only when the latest opsflow status has that state.
   */
  private async setStatus(
    api: Octokit,
    deployment: Deployment,
    step: StatusStep,
    event: DeployEvent,
    token: string,
    onlyFrom?: DeploymentState,
  ): Promise<StepOutcome> {
    const { state, environment } = step;
    const name = `${environment} deployment ${deployment.id}`;
    const statuses: Status[] = [];
    for (let page = 1; page <= STATUS_PAGES; page++) {
      const answer = await this.call(`list the statuses of deployment ${deployment.id}`, token, (options) =>
        api.rest.repos.listDeploymentStatuses({
          owner: this.owner,
          repo: this.repo,
          deployment_id: deployment.id,
          per_page: PAGE_SIZE,
          page,
          ...options,
        }),
      );
      const items = this.listOf(answer.data, `list the statuses of deployment ${deployment.id}`);
      for (const item of items) {
        const parsed = statusSchema.safeParse(item);
        if (parsed.success) statuses.push(parsed.data);
      }
      if (items.length < PAGE_SIZE) break;
    }
    const ours = ourStatuses(statuses);
    const hash = eventHash(event.id);
    if (ours.some((s) => s.hash === hash && s.status.state === state)) {
      return { posted: false, duplicate: true, note: `${name} was already ${state} for this event` };
    }
    const latest = ours[0];
    if (onlyFrom && latest?.status.state !== onlyFrom) return { posted: false, duplicate: false, note: '' };
    if (latest?.status.state === state) {
      return { posted: false, duplicate: false, note: `${name} was already ${state}` };
    }
    const newest = Math.max(...ours.map((s) => s.time).filter(Number.isFinite));
    if (newest > Date.parse(event.time)) {
      return {
        posted: false,
        duplicate: false,
        note: `${name} left ${latest?.status.state ?? 'as it is'}: a later event set it`,
      };
    }
    const url = this.config.environmentUrls?.[environment];
    await this.call(`set the ${name} to ${state}`, token, (options) =>
      api.rest.repos.createDeploymentStatus({
        owner: this.owner,
        repo: this.repo,
        deployment_id: deployment.id,
        state,
        description: statusDescription(event, environment, state),
        ...(event.uiUrl ? { log_url: event.uiUrl } : {}),
        ...(url ? { environment_url: url } : {}),
        ...options,
      }),
    );
    return { posted: true, duplicate: false, note: `set the ${name} to ${state}` };
  }

  /** A list GitHub answered; anything else is a retryable failure (a proxy's error page, a truncated answer). */
  private listOf(data: unknown, what: string): unknown[] {
    if (Array.isArray(data)) return data;
    throw new ChannelError(`GitHub ${originOf(this.config.apiUrl)} did not answer a list (${what})`, true);
  }

  /** One request within the time limit; its failure as a {@link ChannelError} in one line. */
  private async call<T>(what: string, token: string, send: (options: RequestOptions) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.config.timeout);
    try {
      return await send({ request: { signal }, headers: { 'x-github-api-version': GITHUB_API_VERSION } });
    } catch (err) {
      throw this.failure(what, err, token, signal);
    }
  }

  /** What a failed request means, in one line naming where the token came from but never the token. */
  private failure(what: string, err: unknown, token: string, signal: AbortSignal): ChannelError {
    const where = `GitHub ${originOf(this.config.apiUrl)}`;
    const repo = this.config.repository;
    const e = err as { status?: unknown; response?: { headers?: Record<string, string | undefined>; data?: unknown } };
    if (!e.response) {
      if (signal.aborted)
        return new ChannelError(`${where} did not answer within ${this.config.timeout} ms (${what})`, true);
      const cause = (err as { cause?: { code?: string; cause?: { code?: string } } }).cause;
      const why = cause?.code ?? cause?.cause?.code ?? (err instanceof Error ? err.message : String(err));
      return new ChannelError(`${where} cannot be reached (${what}): ${redact(oneLine(why), token)}`, true);
    }
    const status = typeof e.status === 'number' ? e.status : 0;
    const headers = e.response.headers ?? {};
    const said = reasonOf(e.response.data);
    const because = said ? `: ${redact(said, token)}` : '';
    const tokenFrom = 'env' in this.source ? this.source.env : `the file ${this.source.file}`;
    const wait = this.waitOf(headers);
    const limited =
      status === 429 ||
      (status === 403 &&
        (headers['x-ratelimit-remaining'] === '0' || headers['retry-after'] !== undefined || /rate limit/i.test(said)));
    if (limited) {
      const ms = wait ?? SECONDARY_LIMIT_WAIT_MS;
      return new ChannelError(
        `${where} is rate limiting the token in ${tokenFrom}: HTTP ${status}, retry in ${Math.ceil(ms / 1000)} s (${what})`,
        true,
        ms,
      );
    }
    if (status >= 500) return new ChannelError(`${where} failed: HTTP ${status}${because} (${what})`, true);
    if (status === 401) {
      return new ChannelError(
        `${where} refused the token in ${tokenFrom}: HTTP 401${because} (${what}): set a valid token there`,
        false,
      );
    }
    if (status === 403) {
      return new ChannelError(
        `${where} did not let the token in ${tokenFrom} ${what}: HTTP 403${because}: it needs Deployments write access to ${repo} (repo_deployment for a classic token)`,
        false,
      );
    }
    if (status === 404) {
      return new ChannelError(
        `${where} found no repository ${repo} that the token in ${tokenFrom} can see: HTTP 404 (${what})`,
        false,
      );
    }
    return new ChannelError(`${where} refused to ${what}: HTTP ${status}${because}`, false);
  }

  /** How long GitHub asked to wait: `retry-after` seconds, or until `x-ratelimit-reset` (epoch seconds). */
  private waitOf(headers: Record<string, string | undefined>): number | undefined {
    const after = Number(headers['retry-after']);
    if (headers['retry-after'] !== undefined && Number.isFinite(after) && after >= 0) return Math.round(after * 1000);
    const reset = Number(headers['x-ratelimit-reset']);
    if (headers['x-ratelimit-remaining'] === '0' && Number.isFinite(reset) && reset > 0) {
      return Math.max(0, reset * 1000 - this.now());
    }
    return undefined;
  }
}

/** GitHub's error body in one line: its message and each error's message or code (never its documentation URL). */
function reasonOf(data: unknown): string {
  if (typeof data === 'string') return truncate(oneLine(data), 300);
  const parsed = z
    .looseObject({
      message: z.string().optional(),
      errors: z
        .array(
          z.union([
            z.string(),
            z.looseObject({
              message: z.string().optional(),
              code: z.string().optional(),
              field: z.string().optional(),
            }),
          ]),
        )
        .optional(),
    })
    .safeParse(data);
  if (!parsed.success) return '';
  const errors = (parsed.data.errors ?? []).map((e) =>
    typeof e === 'string' ? e : (e.message ?? [e.field, e.code].filter(Boolean).join(' ')),
  );
  return truncate(oneLine([parsed.data.message, ...errors].filter(Boolean).join('; ')), 300);
}

/** The registry's factory: the channel of a `notifications.channels.<name>` block, or a ConfigError in one line. */
export function createGithubChannel(block: unknown, context: { name: string; env: Env }): GithubChannel {
  return new GithubChannel(parseChannelConfig(githubChannelConfigSchema, block, context.name), { env: context.env });
}
