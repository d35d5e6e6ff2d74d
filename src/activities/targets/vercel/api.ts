/**
 * The calls the Vercel target makes, through `@vercel/sdk`: each answers in the SDK's own models (it validates them
 * with its zod schemas) and fails with the target contract's errors: a refused token is one line naming the variable
 * that holds it, a refusal Vercel gives (400, 404, 409, 410, 422) is final, anything else (429, 5xx, no connection) is
 * retried by Temporal.
 */
import { VercelCore } from '@vercel/sdk/core.js';
import { aliasesAssignAlias } from '@vercel/sdk/funcs/aliasesAssignAlias.js';
import { aliasesGetAlias } from '@vercel/sdk/funcs/aliasesGetAlias.js';
import { deploymentsGetDeployments } from '@vercel/sdk/funcs/deploymentsGetDeployments.js';
import { projectsRequestPromote } from '@vercel/sdk/funcs/projectsRequestPromote.js';
import { projectsRequestRollback } from '@vercel/sdk/funcs/projectsRequestRollback.js';
import { rollingReleaseApproveRollingReleaseStage } from '@vercel/sdk/funcs/rollingReleaseApproveRollingReleaseStage.js';
import { rollingReleaseCompleteRollingRelease } from '@vercel/sdk/funcs/rollingReleaseCompleteRollingRelease.js';
import { rollingReleaseGetRollingRelease } from '@vercel/sdk/funcs/rollingReleaseGetRollingRelease.js';
import { rollingReleaseStartRollingRelease } from '@vercel/sdk/funcs/rollingReleaseStartRollingRelease.js';
import { HTTPClientError } from '@vercel/sdk/models/httpclienterrors.js';
import type { GetRollingReleaseRollingRelease } from '@vercel/sdk/models/getrollingreleaseop.js';
import { ResponseValidationError } from '@vercel/sdk/models/responsevalidationerror.js';
import { UpdateRollingReleaseConfigResponseBody$inboundSchema } from '@vercel/sdk/models/updaterollingreleaseconfigop.js';
import { VercelError } from '@vercel/sdk/models/vercelerror.js';
import { z } from 'zod';
import { InvalidTargetRequest } from '../contract';
import type { VercelTargetConfig } from './config';

/** A deployment as the target needs it: which version it is, and whether it can serve. */
export interface Deployment {
  id: string;
  url: string;
  /** Its meta `opsflow.version`, when set. */
  version?: string;
  /** The git commit it was built from, when Vercel knows it. */
  sha?: string;
  readyState: string;
  target: string | null;
  createdAt: number;
}

/** The project's rolling release as Vercel reports it (the latest one: active, aborted or complete). */
export type RollingRelease = GetRollingReleaseRollingRelease;

/** The meta key that names a deployment's version. */
export const VERSION_META = 'opsflow.version';

/** How many of the newest deployments a version is looked for among. */
export const DEPLOYMENT_PAGE = 100;

/** A call the SDK could not complete (connection, timeout, 429, 5xx, a malformed answer): retried by Temporal. */
export class VercelUnavailable extends Error {
  override name = 'VercelUnavailable';
}

const vercelErrorBody = z.object({ error: z.object({ code: z.string().optional(), message: z.string() }) });

/** One Vercel project in one team, reached with the token the worker's environment holds. */
export class VercelApi {
  private readonly team: { teamId: string } | { slug: string };

  constructor(
    private readonly config: VercelTargetConfig,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly timeoutMs = 20_000,
  ) {
    this.team = config.team.startsWith('team_') ? { teamId: config.team } : { slug: config.team };
  }

  /** The project's newest deployments (`production` only, when asked), newest first. */
  async deployments(target?: 'production'): Promise<Deployment[]> {
    const answer = await this.call('list deployments', (sdk) =>
      deploymentsGetDeployments(sdk, {
        projectId: this.config.project,
        limit: DEPLOYMENT_PAGE,
        ...(target ? { target } : {}),
        ...this.team,
      }),
    );
    return answer.deployments
      .map((d) => ({
        id: d.uid,
        url: d.url,
        ...(d.meta?.[VERSION_META] ? { version: d.meta[VERSION_META] } : {}),
        ...(d.meta?.['githubCommitSha'] ? { sha: d.meta['githubCommitSha'] } : {}),
        readyState: d.readyState,
        target: d.target ?? null,
        createdAt: d.createdAt,
      }))
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  /** The deployment `host` points at, or null when the alias does not exist. */
  async aliasTarget(host: string): Promise<string | null> {
    try {
      const alias = await this.call(`read alias ${host}`, (sdk) =>
        aliasesGetAlias(sdk, { idOrAlias: host, projectId: this.config.project, ...this.team }),
      );
      return alias.deploymentId;
    } catch (err) {
      if (err instanceof AliasMissing) return null;
      throw err;
    }
  }

  /** Points `host` at the deployment. */
  async assignAlias(deploymentId: string, host: string): Promise<void> {
    await this.call(`point ${host} at ${deploymentId}`, (sdk) =>
      aliasesAssignAlias(sdk, { id: deploymentId, requestBody: { alias: host }, ...this.team }),
    );
  }

  /** Points all the project's production domains at the deployment (no rebuild). */
  async promote(deploymentId: string): Promise<void> {
    await this.call(`promote ${deploymentId}`, (sdk) =>
      projectsRequestPromote(sdk, { projectId: this.config.project, deploymentId, ...this.team }),
    );
  }

  /** Instant rollback: the production domains back on an earlier production deployment; aborts a rolling release. */
  async rollbackTo(deploymentId: string, description: string): Promise<void> {
    await this.call(`roll production back to ${deploymentId}`, (sdk) =>
      projectsRequestRollback(sdk, { projectId: this.config.project, deploymentId, description, ...this.team }),
    );
  }

  /** The project's latest rolling release, or null when it never had one. */
  async rollingRelease(): Promise<RollingRelease | null> {
    const answer = await this.call('read the rolling release', (sdk) =>
      rollingReleaseGetRollingRelease(sdk, { idOrName: this.config.project, ...this.team }),
    );
    return answer.rollingRelease;
  }

  /**
   * Sets the project's rolling release to these stages (percentages, the last 100) with manual approval. SDK 1.28.35's
   * `updateRollingReleaseConfig` sends no request body, so this one call is made here, shaped as the Vercel CLI's
   * `rolling-release configure` sends it; its answer is checked with the SDK's model.
   */
  async configureRollingRelease(stages: readonly number[]): Promise<void> {
    const token = this.token();
    const url = new URL(
      `v1/projects/${encodeURIComponent(this.config.project)}/rolling-release/config`,
      this.apiBase(),
    );
    for (const [key, value] of Object.entries(this.team)) url.searchParams.set(key, value);
    const body = {
      enabled: true,
      advancementType: 'manual-approval',
      stages: stages.map((targetPercentage) => ({ targetPercentage, requireApproval: targetPercentage < 100 })),
    };
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new VercelUnavailable(`configure the rolling release: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await response.text();
    if (!response.ok) throw this.refusal('configure the rolling release', response.status, text);
    const parsed = UpdateRollingReleaseConfigResponseBody$inboundSchema.safeParse(safeJson(text));
    if (!parsed.success) throw new VercelUnavailable('configure the rolling release: Vercel answered an unknown shape');
  }

  /** Starts a rolling release of the deployment at the configured first stage; the same again changes nothing. */
  async startRollingRelease(canaryDeploymentId: string): Promise<RollingRelease | null> {
    const answer = await this.call(`start a rolling release of ${canaryDeploymentId}`, (sdk) =>
      rollingReleaseStartRollingRelease(sdk, {
        idOrName: this.config.project,
        requestBody: { canaryDeploymentId },
        ...this.team,
      }),
    );
    return answer.rollingRelease as RollingRelease | null;
  }

  /** Approves the active rolling release's move to stage `nextStageIndex`. */
  async approveStage(canaryDeploymentId: string, nextStageIndex: number): Promise<void> {
    await this.call(`approve stage ${nextStageIndex} of ${canaryDeploymentId}`, (sdk) =>
      rollingReleaseApproveRollingReleaseStage(sdk, {
        idOrName: this.config.project,
        requestBody: { canaryDeploymentId, nextStageIndex },
        ...this.team,
      }),
    );
  }

  /** Completes the rolling release: the canary serves all traffic. */
  async completeRollingRelease(canaryDeploymentId: string): Promise<void> {
    await this.call(`complete the rolling release of ${canaryDeploymentId}`, (sdk) =>
      rollingReleaseCompleteRollingRelease(sdk, {
        idOrName: this.config.project,
        requestBody: { canaryDeploymentId },
        ...this.team,
      }),
    );
  }

  private apiBase(): string {
    const url = this.config.apiUrl;
    return url.endsWith('/') ? url : `${url}/`;
  }

  /** The token, read from the worker's environment at each call. */
  private token(): string {
    const token = this.env[this.config.token];
    if (!token) {
      throw new InvalidTargetRequest(
        `the worker's environment has no ${this.config.token}: export the Vercel access token of ${this.config.team} there`,
      );
    }
    return token;
  }

  /**
   * Runs one of the SDK's standalone functions (they load only their own models, where the SDK's class loads them all:
   * seconds of every worker's start), turning its error into the contract's.
   */
  private async call<T>(
    what: string,
    fn: (sdk: VercelCore) => PromiseLike<{ ok: true; value: T } | { ok: false; error: unknown }>,
  ): Promise<T> {
    const sdk = new VercelCore({ bearerToken: this.token(), serverURL: this.config.apiUrl, timeoutMs: this.timeoutMs });
    const result = await fn(sdk);
    if (result.ok) return result.value;
    const err = result.error;
    if (err instanceof ResponseValidationError) {
      throw new VercelUnavailable(`${what}: Vercel answered a shape the SDK does not know (${err.message})`);
    }
    if (err instanceof VercelError) {
      if (err.statusCode === 404 && what.startsWith('read alias')) throw new AliasMissing(what);
      throw this.refusal(what, err.statusCode, err.body);
    }
    if (err instanceof HTTPClientError) throw new VercelUnavailable(`${what}: ${err.message}`);
    throw err instanceof Error ? err : new VercelUnavailable(`${what}: ${String(err)}`);
  }

  /** The error for a status Vercel answered: the token's, final, or retried. */
  private refusal(what: string, status: number, body: string): Error {
    const parsed = vercelErrorBody.safeParse(safeJson(body));
    const said = parsed.success ? oneLine(parsed.data.error.message) : `HTTP ${status}`;
    if (status === 401 || status === 403) {
      return new InvalidTargetRequest(
        `Vercel refused the token in ${this.config.token} (${status}: ${said}): it has expired or cannot reach ` +
          `project ${this.config.project} of ${this.config.team}; give the worker a valid one there`,
      );
    }
    if (status === 429 || status >= 500) return new VercelUnavailable(`${what}: Vercel answered ${status}: ${said}`);
    return new InvalidTargetRequest(`${what}: Vercel refused (${status}): ${said}`);
  }
}

/** An alias Vercel does not have (404 on reading it). */
class AliasMissing extends Error {}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Text from Vercel, on one line and bounded, for an error message. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}
