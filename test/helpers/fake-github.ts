/**
 * A stand-in for GitHub's REST API on 127.0.0.1, for the deployments endpoints the github channel uses, speaking their
 * wire format (JSON bodies, GitHub's error shapes), and keeping the deployments and their statuses.
 *
 * Checked against GitHub's documentation (the REST reference for deployments and deployment statuses, and its OpenAPI
 * description as @octokit/openapi-types carries it; the "Rate limits for the REST API" and "Troubleshooting the REST
 * API" pages):
 * - `GET /repos/{owner}/{repo}/deployments` with the filters `sha`, `ref`, `task`, `environment` and `per_page` (at
 *   most 100) / `page`, answered 200 with an array of deployments and a `Link` header when there are more pages;
 * - `POST /repos/{owner}/{repo}/deployments`: `ref` required; `task` defaults to deploy, `environment` to production,
 *   `auto_merge` to true, `required_contexts` to all contexts (an empty array skips the checks), `payload` an object or
 *   a string; 201 with the deployment (id, node_id, sha, ref, task, payload, original_environment, environment,
 *   description, creator, created_at, updated_at, statuses_url, repository_url, transient_environment,
 *   production_environment true by default for production); 202 is a merge made instead, 409 a conflict or failed
 *   status checks, 422 a validation failure;
 * - `GET .../deployments/{id}/statuses` (200 with an array, 404 for an unknown deployment) and `POST` of a status with
 *   `state` one of error, failure, inactive, in_progress, queued, pending, success, `log_url` (which sets `target_url`
 *   too), `environment_url`, `description` of at most 140 characters, answered 201 with the status;
 * - errors as `{"message", "documentation_url"}` (401 "Bad credentials", 404 "Not Found"), a 422 as
 *   `{"message": "Validation Failed", "errors": [...]}`;
 * - rate limits: 403 or 429 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch seconds) for the primary
 *   limit; 403 or 429 with a message naming the secondary rate limit, and `retry-after` seconds when GitHub gives one.
 *
 * Assumed:
 * - the order of lists: GitHub documents none; the fake answers newest first (what GitHub's own clients report), and
 *   the channel relies on ids growing with time instead;
 * - the 422 for a ref the repository does not have, `No ref found for: <ref>`, as GitHub's users report it;
 * - `Authorization: token <t>` and `Bearer <t>` both accepted (Octokit sends the first); a wrong or missing one is a
 *   401;
 * - GitHub's side effects are left out: no `auto_inactive` on earlier deployments when one succeeds, no commit status
 *   checks, no merge; every listed ref exists (`refs` narrows it).
 */
import type http from 'node:http';
import { LoopbackServer } from './loopback-server';

export interface FakeDeployment {
  id: number;
  ref: string;
  task: string;
  environment: string;
  description: string | null;
  payload: unknown;
  created_at: string;
  /** What the channel sent beyond the documented fields, kept for exact assertions. */
  request: Record<string, unknown>;
}

export interface FakeStatus {
  id: number;
  deploymentId: number;
  state: string;
  description: string;
  log_url: string;
  environment_url: string;
  environment: string;
  created_at: string;
  /** The body the channel posted. */
  request: Record<string, unknown>;
}

/** One request as the fake saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  apiVersion?: string;
  body?: unknown;
}

/** One scripted answer, given instead of processing the request (or, with `lose`, after processing it). */
export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Only for a request this accepts; the others are processed meanwhile. */
  when?: (request: RecordedRequest) => boolean;
  /** Process the request, then close the connection without answering: a reply lost on the way back. */
  lose?: boolean;
}

const STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
const DOCS = 'https://docs.github.com/rest';

export class FakeGitHub {
  readonly requests: RecordedRequest[] = [];
  readonly deployments: FakeDeployment[] = [];
  readonly statuses: FakeStatus[] = [];
  /** The refs the repository has; undefined: every ref exists. */
  refs: Set<string> | undefined;
  /** Called when a deployment is about to be created: a test can create a racing one first. */
  beforeCreate: ((body: Record<string, unknown>) => void) | undefined;
  private nextId = 1;
  private readonly script: ScriptedAnswer[] = [];
  private readonly loopback = new LoopbackServer((req, res) => this.handle(req, res));
  private clock = Date.parse('2026-12-07T16:20:00Z');

  constructor(
    private readonly repository: string,
    private readonly token: string,
  ) {}

  /** The deployments of an environment, oldest first. */
  deploymentsOf(environment: string): FakeDeployment[] {
    return this.deployments.filter((d) => d.environment === environment);
  }

  /** A deployment's statuses, oldest first. */
  statusesOf(deploymentId: number): FakeStatus[] {
    return this.statuses.filter((s) => s.deploymentId === deploymentId);
  }

  /** Requests that wrote something (POST), in order, as "POST path". */
  writes(): string[] {
    return this.requests.filter((r) => r.method === 'POST').map((r) => `POST ${r.path}`);
  }

  /** The next `times` requests (that `when` accepts) get `answer`. */
  answerNext(answer: ScriptedAnswer, times = 1): void {
    for (let i = 0; i < times; i++) this.script.push(answer);
  }

  /** The next request is refused by the primary rate limit, until `resetEpochSeconds`. */
  primaryLimitNext(resetEpochSeconds: number, status = 403): void {
    this.answerNext({
      status,
      headers: {
        'x-ratelimit-limit': '5000',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-used': '5000',
        'x-ratelimit-reset': String(resetEpochSeconds),
        'x-ratelimit-resource': 'core',
      },
      body: {
        message: 'API rate limit exceeded for user ID 1.',
        documentation_url: `${DOCS}/overview/resources-in-the-rest-api#rate-limiting`,
      },
    });
  }

  /** The next request is refused by a secondary rate limit, with a retry-after when given. */
  secondaryLimitNext(retryAfterSeconds?: number): void {
    this.answerNext({
      status: 403,
      headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
      body: {
        message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
        documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
      },
    });
  }

  /** Creates a deployment directly, as another tool (or a racing send) would. */
  addDeployment(fields: Partial<FakeDeployment> & { ref: string; environment: string }): FakeDeployment {
    const deployment: FakeDeployment = {
      id: this.nextId++,
      task: 'deploy',
      description: null,
      payload: {},
      created_at: this.tick(),
      request: {},
      ...fields,
    };
    this.deployments.push(deployment);
    return deployment;
  }

  /** Starts listening; answers the base URL to configure as `apiUrl`. */
  async start(): Promise<string> {
    return this.loopback.listen();
  }

  async stop(): Promise<void> {
    await this.loopback.close();
  }

  private tick(): string {
    this.clock += 1_000;
    return new Date(this.clock).toISOString().replace('.000Z', 'Z');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(typeof req.headers['x-github-api-version'] === 'string'
        ? { apiVersion: req.headers['x-github-api-version'] }
        : {}),
      ...(body !== undefined ? { body } : {}),
    };
    this.requests.push(request);
    const json = (status: number, data: unknown, headers: Record<string, string> = {}): void => {
      res
        .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
        .end(JSON.stringify(data));
    };
    const index = this.script.findIndex((a) => !a.when || a.when(request));
    const scripted = index >= 0 ? this.script.splice(index, 1)[0] : undefined;
    if (scripted && !scripted.lose) {
      return json(scripted.status ?? 500, scripted.body ?? { message: 'Server Error' }, scripted.headers);
    }
    const answer = scripted?.lose
      ? () => {
          req.socket.destroy();
        }
      : json;
    const auth = /^(?:token|bearer) (.+)$/i.exec(req.headers.authorization ?? '');
    if (auth?.[1] !== this.token)
      return answer(401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' });
    const base = `/repos/${this.repository}/deployments`;
    const match = /^\/repos\/([^/]+\/[^/]+)\/deployments(?:\/(\d+)\/statuses)?\/?$/.exec(url.pathname);
    if (!match || match[1]!.toLowerCase() !== this.repository.toLowerCase()) {
      return answer(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
    }
    if (!match[2]) {
      if (req.method === 'GET') return this.listDeployments(url, base, answer);
      if (req.method === 'POST') return this.createDeployment(body, answer);
    } else {
      const deployment = this.deployments.find((d) => d.id === Number(match[2]));
      if (!deployment) return answer(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      if (req.method === 'GET') return this.listStatuses(url, deployment, answer);
      if (req.method === 'POST') return this.createStatus(body, deployment, answer);
    }
    answer(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
  }

  private page<T>(url: URL, items: T[]): { items: T[]; link?: string } {
    const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30) || 30);
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    if (page * perPage >= items.length) return { items: slice };
    const next = new URL(url.toString());
    next.searchParams.set('page', String(page + 1));
    return { items: slice, link: `<${next.toString()}>; rel="next"` };
  }

  private listDeployments(url: URL, base: string, answer: (s: number, d: unknown, h?: Record<string, string>) => void) {
    const filter = (name: string, value: string) => {
      const wanted = url.searchParams.get(name);
      return wanted === null || wanted === value;
    };
    const matching = this.deployments
      .filter((d) => filter('ref', d.ref) && filter('environment', d.environment) && filter('task', d.task))
      .reverse();
    const { items, link } = this.page(url, matching);
    answer(
      200,
      items.map((d) => this.deploymentJson(d, base)),
      link ? { link } : {},
    );
  }

  private createDeployment(body: unknown, answer: (s: number, d: unknown, h?: Record<string, string>) => void) {
    const fields = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    if (typeof fields.ref !== 'string' || !fields.ref) {
      return answer(422, {
        message: 'Invalid request.\n\n"ref" wasn\'t supplied.',
        documentation_url: DOCS,
        status: '422',
      });
    }
    if (this.refs && !this.refs.has(fields.ref)) {
      return answer(422, { message: `No ref found for: ${fields.ref}`, documentation_url: DOCS, status: '422' });
    }
    const payload = fields.payload;
    if (payload !== undefined && typeof payload !== 'string' && (typeof payload !== 'object' || payload === null)) {
      return answer(422, {
        message: 'Validation Failed',
        errors: [{ resource: 'Deployment', code: 'custom', field: 'payload', message: 'payload is invalid' }],
        documentation_url: DOCS,
        status: '422',
      });
    }
    this.beforeCreate?.(fields);
    const deployment = this.addDeployment({
      ref: fields.ref,
      task: typeof fields.task === 'string' ? fields.task : 'deploy',
      environment: typeof fields.environment === 'string' ? fields.environment : 'production',
      description: typeof fields.description === 'string' ? fields.description : null,
      payload: payload ?? {},
      request: fields,
    });
    answer(201, this.deploymentJson(deployment, `/repos/${this.repository}/deployments`));
  }

  private listStatuses(
    url: URL,
    deployment: FakeDeployment,
    answer: (s: number, d: unknown, h?: Record<string, string>) => void,
  ) {
    const { items, link } = this.page(url, this.statusesOf(deployment.id).reverse());
    answer(
      200,
      items.map((s) => this.statusJson(s, deployment)),
      link ? { link } : {},
    );
  }

  private createStatus(
    body: unknown,
    deployment: FakeDeployment,
    answer: (s: number, d: unknown, h?: Record<string, string>) => void,
  ) {
    const fields = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const invalid = (field: string, message: string) =>
      answer(422, {
        message: 'Validation Failed',
        errors: [{ resource: 'DeploymentStatus', code: 'custom', field, message }],
        documentation_url: DOCS,
        status: '422',
      });
    if (!STATES.includes(fields.state as string)) return invalid('state', 'state is not included in the list');
    const description = typeof fields.description === 'string' ? fields.description : '';
    if (Array.from(description).length > 140) {
      return invalid('description', 'description is too long (maximum is 140 characters)');
    }
    const logUrl = typeof fields.log_url === 'string' ? fields.log_url : '';
    const status: FakeStatus = {
      id: this.nextId++,
      deploymentId: deployment.id,
      state: fields.state as string,
      description,
      log_url: logUrl,
      environment_url: typeof fields.environment_url === 'string' ? fields.environment_url : '',
      environment: typeof fields.environment === 'string' ? fields.environment : deployment.environment,
      created_at: this.tick(),
      request: fields,
    };
    this.statuses.push(status);
    answer(201, this.statusJson(status, deployment), {
      location: `https://api.github.com/repos/${this.repository}/deployments/${deployment.id}/statuses/${status.id}`,
    });
  }

  private deploymentJson(d: FakeDeployment, base: string) {
    const api = `https://api.github.com${base}`;
    return {
      url: `${api}/${d.id}`,
      id: d.id,
      node_id: Buffer.from(`Deployment${d.id}`).toString('base64'),
      sha: '0123456789abcdef0123456789abcdef01234567',
      ref: d.ref,
      task: d.task,
      payload: d.payload,
      original_environment: d.environment,
      environment: d.environment,
      description: d.description,
      creator: { login: 'opsflow-bot', id: 1, type: 'Bot' },
      created_at: d.created_at,
      updated_at: d.created_at,
      statuses_url: `${api}/${d.id}/statuses`,
      repository_url: `https://api.github.com/repos/${this.repository}`,
      transient_environment: false,
      production_environment: d.environment === 'production',
    };
  }

  private statusJson(s: FakeStatus, d: FakeDeployment) {
    const api = `https://api.github.com/repos/${this.repository}/deployments/${d.id}`;
    return {
      url: `${api}/statuses/${s.id}`,
      id: s.id,
      node_id: Buffer.from(`DeploymentStatus${s.id}`).toString('base64'),
      state: s.state,
      creator: { login: 'opsflow-bot', id: 1, type: 'Bot' },
      description: s.description,
      environment: s.environment,
      target_url: s.log_url,
      log_url: s.log_url,
      environment_url: s.environment_url,
      created_at: s.created_at,
      updated_at: s.created_at,
      deployment_url: api,
      repository_url: `https://api.github.com/repos/${this.repository}`,
    };
  }
}
