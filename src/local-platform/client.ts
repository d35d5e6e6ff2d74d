/**
 * Typed client of the local platform's control API, used by the worker's activities and by tests. Every response is
 * validated with the schemas in `api.ts`; every failure is a {@link PlatformError} that says whether a retry can help.
 */
import path from 'node:path';
import type { z } from 'zod';
import { describeIssue } from '../shared/validation';
import {
  errorBodySchema,
  eventsSchema,
  healthSchema,
  promoteResultSchema,
  releasesSchema,
  rollbackResultSchema,
  setWeightResultSchema,
  startCanaryResultSchema,
  stateSchema,
  windowStatsSchema,
  type Health,
  type PlatformEvent,
  type PlatformState,
  type PromoteResult,
  type Releases,
  type RollbackResult,
  type SetWeightResult,
  type StartCanaryResult,
  type WindowStats,
} from './api';
import { DEFAULT_TOKEN_FILE, readTokenIfAny } from './token';

/**
 * A failed call. `status` is the HTTP status (undefined when there was no answer); `code` is the platform's error code
 * (e.g. `canary_busy`) or `unreachable`, `timeout`, `network`, `bad_response`. 4xx answers other than 408 and 429 are
 * not retryable; 5xx answers and network failures are.
 */
export class PlatformError extends Error {
  override name = 'PlatformError';

  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** One service in one environment. */
export interface TrackRef {
  environment: string;
  service: string;
}

/** How a client reaches the platform: each call's time limit, and the bearer token or the file that holds it. */
export interface LocalPlatformClientOptions {
  timeoutMs?: number | undefined;
  /** The token itself; read from `tokenFile` at each call when not given. */
  token?: string | undefined;
  /** The platform's token file; `.opsflow/platform/token` in the current folder unless set. */
  tokenFile?: string | undefined;
}

/**
 * Calls the control API at `baseUrl` (e.g. http://127.0.0.1:7070). `timeoutMs` (default 30 s) bounds each call and
 * must stay above the platform's 15 s wait for a new release to become healthy.
 */
export class LocalPlatformClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly token: string | undefined;
  private readonly tokenFile: string;

  constructor(baseUrl: string, opts: LocalPlatformClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.token = opts.token;
    this.tokenFile = path.resolve(opts.tokenFile ?? DEFAULT_TOKEN_FILE);
  }

  /** Needs no token: a health check works before the platform has written its token file. */
  health(): Promise<Health> {
    return this.call('GET', '/healthz', healthSchema, undefined, false);
  }

  /** Every environment and service: router URL, stable release, canary. */
  state(): Promise<PlatformState> {
    return this.call('GET', '/v1/state', stateSchema);
  }

  /** The versions of `service` the platform can run. */
  releases(service: string): Promise<Releases> {
    return this.call('GET', `/v1/services/${encodeURIComponent(service)}/releases`, releasesSchema);
  }

  /** Starts `version` as the deploy's canary at weight 0 and waits until it is healthy; idempotent per deploy. */
  startCanary(args: TrackRef & { deployId: string; version: string }): Promise<StartCanaryResult> {
    const { deployId, version } = args;
    return this.call('PUT', `${trackPath(args)}/canary`, startCanaryResultSchema, { deployId, version });
  }

  /** Sends `weight` % of traffic to the deploy's canary. */
  setWeight(args: TrackRef & { deployId: string; weight: number }): Promise<SetWeightResult> {
    const { deployId, weight } = args;
    return this.call('PUT', `${trackPath(args)}/weight`, setWeightResultSchema, { deployId, weight });
  }

  /** Makes the deploy's canary the stable release; idempotent per deploy. */
  promote(args: TrackRef & { deployId: string; version: string }): Promise<PromoteResult> {
    const { deployId, version } = args;
    return this.call('POST', `${trackPath(args)}/promote`, promoteResultSchema, { deployId, version });
  }

  /**
   * Takes the deploy's canary out (weight 0 first) or undoes its promotion; a no-op when it has nothing live, unless
   * an earlier request with the same `rollbackId` did it, which it answers for.
   */
  rollback(args: TrackRef & { deployId: string; rollbackId?: string }): Promise<RollbackResult> {
    const { deployId, rollbackId } = args;
    const body = rollbackId === undefined ? { deployId } : { deployId, rollbackId };
    return this.call('POST', `${trackPath(args)}/rollback`, rollbackResultSchema, body);
  }

  /** Requests, errors and latency percentiles of one version over the last `windowMs` (1 s to 15 min). */
  stats(args: TrackRef & { version: string; windowMs: number }): Promise<WindowStats> {
    const query = new URLSearchParams({ version: args.version, windowMs: String(args.windowMs) });
    return this.call('GET', `${trackPath(args)}/stats?${query}`, windowStatsSchema);
  }

  /** What happened to the track, oldest first. */
  async events(args: TrackRef): Promise<PlatformEvent[]> {
    return (await this.call('GET', `${trackPath(args)}/events`, eventsSchema)).events;
  }

  /** The token, read from its file at each call so a platform that made a new one is followed. */
  private bearer(): string {
    if (this.token) return this.token;
    let token: string | undefined;
    try {
      token = readTokenIfAny(this.tokenFile);
    } catch (err) {
      throw new PlatformError(
        `cannot read the platform token ${this.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        undefined,
        'no_token',
        false,
      );
    }
    if (token) return token;
    throw new PlatformError(
      `no platform token at ${this.tokenFile}: start the platform ("npm start" or "npm run platform") or set platform.local.tokenFile`,
      undefined,
      'no_token',
      true,
    );
  }

  private async call<S extends z.ZodType>(
    method: string,
    route: string,
    schema: S,
    body?: unknown,
    authorise = true,
  ): Promise<z.infer<S>> {
    const what = `${method} ${route.split('?')[0]}`;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authorise) headers['authorization'] = `Bearer ${this.bearer()}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.baseUrl}${route}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw this.networkError(err, what);
    }

    const json = parseJson(text);
    if (!response.ok) throw errorFromResponse(response.status, json, `${this.baseUrl} answered ${what}`);
    const result = schema.safeParse(json);
    if (!result.success) {
      throw new PlatformError(
        `${this.baseUrl} answered ${what} with an unexpected body (${describeIssue(result.error)}): is it an opsflow local platform of the same version?`,
        response.status,
        'bad_response',
        false,
      );
    }
    return result.data;
  }

  private networkError(err: unknown, what: string): PlatformError {
    if (err instanceof Error && err.name === 'TimeoutError') {
      return new PlatformError(
        `local platform at ${this.baseUrl} did not answer ${what} within ${this.timeoutMs} ms`,
        undefined,
        'timeout',
        true,
      );
    }
    if (causeCode(err) === 'ECONNREFUSED') {
      return new PlatformError(
        `local platform not reachable at ${this.baseUrl}: start it with "npm start" or "npm run platform"`,
        undefined,
        'unreachable',
        true,
      );
    }
    const detail = causeCode(err) ?? (err instanceof Error ? err.message : String(err));
    return new PlatformError(
      `local platform at ${this.baseUrl} failed on ${what}: ${detail}`,
      undefined,
      'network',
      true,
    );
  }
}

/** A client of the platform that `platform.local` in opsflow.yaml describes. */
export function localPlatformClient(
  settings: { host: string; port: number; tokenFile?: string | undefined },
  opts: { timeoutMs?: number | undefined } = {},
): LocalPlatformClient {
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return new LocalPlatformClient(`http://${host}:${settings.port}`, { ...opts, tokenFile: settings.tokenFile });
}

function trackPath({ environment, service }: TrackRef): string {
  return `/v1/environments/${encodeURIComponent(environment)}/services/${encodeURIComponent(service)}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorFromResponse(status: number, json: unknown, context: string): PlatformError {
  const retryable = status >= 500 || status === 408 || status === 429;
  const parsed = errorBodySchema.safeParse(json);
  if (parsed.success) return new PlatformError(parsed.data.error.message, status, parsed.data.error.code, retryable);
  return new PlatformError(`${context} with HTTP ${status}`, status, `http_${status}`, retryable);
}

/** fetch wraps socket errors: the code sits on `cause`, or on the first of several when every address failed. */
function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown; errors?: { code?: unknown }[] } } | undefined)?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}
