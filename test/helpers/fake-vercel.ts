/**
 * A stand-in for Vercel's REST API on 127.0.0.1, for `@vercel/sdk` pointed at it (`serverURL`): the deployments,
 * aliases, promote, rollback and rolling-release endpoints of one project, keeping the state a real project has —
 * which deployment serves production (its domains point at it), where each alias points, the project's rolling-release
 * configuration, and the rolling release's state, stage and percentage. Every request body is checked with the SDK's
 * own request model where it exports one, and every answer with the SDK's response model before it is sent: a shape
 * the SDK would refuse is a `problems` entry and a 500, so a test that sees one fails.
 *
 * Checked against Vercel's documentation (REST reference pages and the SDK's models, which are generated from
 * Vercel's OpenAPI document): the paths and methods; `teamId`/`slug` as query parameters; bearer tokens; the rolling
 * release's fields (state ACTIVE/COMPLETE/ABORTED, stages with targetPercentage, activeStage, nextStage,
 * currentCanaryPercentage, canaryDeployment, currentDeployment); approve-stage's `nextStageIndex` and
 * `canaryDeploymentId`; promote answering 201/202 and rollback 201 with no body; the last stage being 100 %;
 * complete sending all traffic to the canary; start being idempotent for the same canary; config changes affecting
 * only the next rolling release.
 *
 * Assumed (not in Vercel's reference): the configuration PATCH body (`enabled`, `advancementType`, `stages`), which
 * the SDK leaves out and the Vercel CLI sends; that an instant rollback while a rolling release is active aborts it
 * (the Vercel CLI's `rolling-release abort` is that rollback); that approving the final stage completes the release;
 * the error bodies (`{"error": {"code", "message"}}`) and their codes; that start refuses (409) while another
 * deployment's rolling release is active; that a production domain's alias reads as the serving deployment.
 */
import type http from 'node:http';
import {
  AssignAliasRequestBody$outboundSchema,
  AssignAliasResponseBody$inboundSchema,
} from '@vercel/sdk/models/assignaliasop.js';
import {
  ApproveRollingReleaseStageRequestBody$outboundSchema,
  ApproveRollingReleaseStageResponseBody$inboundSchema,
} from '@vercel/sdk/models/approverollingreleasestageop.js';
import {
  CompleteRollingReleaseRequestBody$outboundSchema,
  CompleteRollingReleaseResponseBody$inboundSchema,
} from '@vercel/sdk/models/completerollingreleaseop.js';
import { GetAliasResponseBody$inboundSchema } from '@vercel/sdk/models/getaliasop.js';
import { GetDeploymentsResponseBody$inboundSchema } from '@vercel/sdk/models/getdeploymentsop.js';
import { GetRollingReleaseResponseBody$inboundSchema } from '@vercel/sdk/models/getrollingreleaseop.js';
import {
  StartRollingReleaseRequestBody$outboundSchema,
  StartRollingReleaseResponseBody$inboundSchema,
} from '@vercel/sdk/models/startrollingreleaseop.js';
import { UpdateRollingReleaseConfigResponseBody$inboundSchema } from '@vercel/sdk/models/updaterollingreleaseconfigop.js';
import { z } from 'zod';
import {
  deploymentJson,
  rollingReleaseJson,
  type FakeDeployment,
  type FakeRollingRelease,
  type StoredDeployment,
} from './fake-vercel-json';
import { LoopbackServer } from './loopback-server';

export type { FakeDeployment, FakeRollingRelease } from './fake-vercel-json';

const configBody = z
  .object({
    enabled: z.boolean(),
    advancementType: z.enum(['automatic', 'manual-approval']),
    stages: z.array(
      z.object({ targetPercentage: z.number().int().min(1).max(100), requireApproval: z.boolean().optional() }),
    ),
  })
  .refine(
    (c) => c.stages.length >= 2 && c.stages.at(-1)?.targetPercentage === 100,
    'two or more stages, the last 100 %',
  )
  .refine(
    (c) => c.stages.every((s, i) => i === 0 || s.targetPercentage > (c.stages[i - 1]?.targetPercentage ?? 0)),
    'stages must rise',
  );

const ROUTES: [string, RegExp][] = [
  ['GET deployments', /^\/v7\/deployments$/],
  ['GET alias', /^\/v4\/aliases\/([^/]+)$/],
  ['POST alias', /^\/v2\/deployments\/([^/]+)\/aliases$/],
  ['POST promote', /^\/v10\/projects\/([^/]+)\/promote\/([^/]+)$/],
  ['POST rollback', /^\/v1\/projects\/([^/]+)\/rollback\/([^/]+)$/],
  ['GET rolling-release', /^\/v1\/projects\/([^/]+)\/rolling-release$/],
  ['PATCH rolling-release/config', /^\/v1\/projects\/([^/]+)\/rolling-release\/config$/],
  ['POST rolling-release/start', /^\/v1\/projects\/([^/]+)\/rolling-release\/start$/],
  ['POST rolling-release/approve-stage', /^\/v1\/projects\/([^/]+)\/rolling-release\/approve-stage$/],
  ['POST rolling-release/complete', /^\/v1\/projects\/([^/]+)\/rolling-release\/complete$/],
];

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class FakeVercel {
  /** Every request the fake answered: its route, and its body where it had one. */
  readonly calls: { route: string; body?: unknown }[] = [];
  /** Requests or answers the SDK's models refuse: a test asserts there are none. */
  readonly problems: string[] = [];
  /** The deployment the production domains point at. */
  production: string | null;
  readonly aliases = new Map<string, string>();
  config: z.infer<typeof configBody> | null = null;
  rollingRelease: FakeRollingRelease | null = null;
  /** False once the token has "expired": every request is refused 403. */
  tokenValid = true;
  private readonly deployments: StoredDeployment[] = [];
  private readonly loopback = new LoopbackServer((req, res) => this.handle(req, res));

  constructor(
    readonly project: { id: string; teamId: string; token: string; productionDomain: string },
    deployments: FakeDeployment[],
    production: string | null,
  ) {
    for (const d of deployments) this.addDeployment(d);
    this.production = production;
  }

  addDeployment(d: FakeDeployment): void {
    const createdAt = 1_700_000_000_000 + this.deployments.length * 1000;
    this.deployments.push({ readyState: 'READY', target: 'production', version: '', sha: '', ...d, createdAt });
  }

  /** Starts listening; answers the base URL for `apiUrl`. */
  async start(): Promise<string> {
    return this.loopback.listen();
  }

  async stop(): Promise<void> {
    await this.loopback.close();
  }

  /** The canary's share of production now, as the rolling release says (0 when none is active). */
  canaryPercentage(): number {
    return this.rollingReleaseJsonNow()?.currentCanaryPercentage ?? 0;
  }

  private rollingReleaseJsonNow() {
    return rollingReleaseJson(this.rollingRelease, (id) => this.deployment(id), this.project.id);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const send = (status: number, body?: unknown) => {
      if (body === undefined) return void res.writeHead(status).end();
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const route = ROUTES.find(([name, pattern]) => name.startsWith(`${req.method} `) && pattern.test(url.pathname));
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return send(400, { error: { code: 'bad_request', message: 'Invalid JSON' } });
    }
    this.calls.push({ route: route?.[0] ?? `${req.method} ${url.pathname}`, ...(body === undefined ? {} : { body }) });
    try {
      if (!this.tokenValid || req.headers.authorization !== `Bearer ${this.project.token}`) {
        throw new Refusal(403, 'forbidden', 'Not authorized: the token is invalid or expired');
      }
      if (url.searchParams.get('teamId') !== this.project.teamId) {
        throw new Refusal(403, 'forbidden', 'Not authorized for this team');
      }
      if (!route) throw new Refusal(404, 'not_found', `no route ${req.method} ${url.pathname}`);
      const params = route[1].exec(url.pathname)!.slice(1).map(decodeURIComponent);
      const [status, answer, model] = this.answer(route[0], params, url, body);
      if (model) {
        const checked = model.safeParse(answer);
        if (!checked.success) {
          this.problems.push(`${route[0]} answer: ${checked.error?.message.slice(0, 500)}`);
          return send(500, { error: { code: 'fake_invalid', message: 'the fake built an invalid answer' } });
        }
      }
      send(status, answer);
    } catch (err) {
      if (err instanceof Refusal) return send(err.status, { error: { code: err.code, message: err.message } });
      this.problems.push(`${route?.[0]}: ${String(err)}`);
      send(500, { error: { code: 'internal', message: 'fake error' } });
    }
  }

  private answer(
    route: string,
    params: string[],
    url: URL,
    body: unknown,
  ): [number, unknown, { safeParse(v: unknown): { success: boolean; error?: { message: string } } } | undefined] {
    const checked = <T>(schema: {
      safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } };
    }) => {
      const parsed = schema.safeParse(body);
      if (!parsed.success) {
        this.problems.push(`${route} request: ${parsed.error.message.slice(0, 500)}`);
        throw new Refusal(400, 'bad_request', `invalid request body for ${route}`);
      }
      return parsed.data;
    };
    const project = params[0];
    if (route.includes('projects') && project !== this.project.id)
      throw new Refusal(404, 'not_found', 'Project not found');
    switch (route) {
      case 'GET deployments': {
        if (url.searchParams.get('projectId') !== this.project.id)
          throw new Refusal(404, 'not_found', 'Project not found');
        const target = url.searchParams.get('target');
        const limit = Number(url.searchParams.get('limit') ?? 20);
        const list = this.deployments
          .filter((d) => !target || d.target === target)
          .sort((a, b) => b.createdAt - a.createdAt)
          .slice(0, limit)
          .map((d) => deploymentJson(d, this.project.id));
        return [
          200,
          { deployments: list, pagination: { count: list.length, next: null, prev: null } },
          GetDeploymentsResponseBody$inboundSchema,
        ];
      }
      case 'GET alias': {
        const host = params[0] ?? '';
        const deploymentId =
          host === this.project.productionDomain ? this.production : (this.aliases.get(host) ?? null);
        if (!deploymentId) throw new Refusal(404, 'not_found', 'The alias was not found');
        const alias = {
          alias: host,
          created: new Date(0).toISOString(),
          deploymentId,
          projectId: this.project.id,
          uid: `alias_${host}`,
        };
        return [200, alias, GetAliasResponseBody$inboundSchema];
      }
      case 'POST alias': {
        const { alias } = checked(AssignAliasRequestBody$outboundSchema);
        const deployment = this.deployment(params[0] ?? '');
        if (!alias) throw new Refusal(400, 'bad_request', 'alias is required');
        const oldDeploymentId = this.aliases.get(alias) ?? null;
        this.aliases.set(alias, deployment.uid);
        return [
          200,
          { uid: `alias_${alias}`, alias, created: new Date().toISOString(), oldDeploymentId },
          AssignAliasResponseBody$inboundSchema,
        ];
      }
      case 'POST promote':
        this.production = this.ready(params[1] ?? '').uid;
        return [202, undefined, undefined];
      case 'POST rollback': {
        const deployment = this.ready(params[1] ?? '');
        const rr = this.rollingRelease;
        if (rr?.state === 'ACTIVE') Object.assign(rr, { state: 'ABORTED', updatedAt: Date.now() });
        this.production = deployment.uid;
        return [201, undefined, undefined];
      }
      case 'GET rolling-release':
        return [200, { rollingRelease: this.rollingReleaseJsonNow() }, GetRollingReleaseResponseBody$inboundSchema];
      case 'PATCH rolling-release/config': {
        this.config = checked(configBody);
        const stages = this.config.stages.map((s) => ({
          targetPercentage: s.targetPercentage,
          requireApproval: s.requireApproval,
        }));
        return [200, { rollingRelease: { stages } }, UpdateRollingReleaseConfigResponseBody$inboundSchema];
      }
      case 'POST rolling-release/start': {
        const { canaryDeploymentId } = checked(StartRollingReleaseRequestBody$outboundSchema);
        const canary = this.ready(canaryDeploymentId);
        const rr = this.rollingRelease;
        if (rr?.state === 'ACTIVE' && rr.canary !== canary.uid)
          throw new Refusal(409, 'conflict', 'A rolling release is already active');
        if (!(rr?.state === 'ACTIVE')) {
          if (!this.config?.enabled)
            throw new Refusal(400, 'bad_request', 'Rolling releases are not enabled for this project');
          if (!this.production) throw new Refusal(400, 'bad_request', 'The project has no production deployment');
          const stages = this.config.stages.map((s) => ({
            targetPercentage: s.targetPercentage,
            requireApproval: s.requireApproval ?? true,
          }));
          const now = Date.now();
          this.rollingRelease = {
            canary: canary.uid,
            current: this.production,
            stages,
            index: 0,
            state: 'ACTIVE',
            startedAt: now,
            updatedAt: now,
          };
        }
        return [200, { rollingRelease: this.rollingReleaseJsonNow() }, StartRollingReleaseResponseBody$inboundSchema];
      }
      case 'POST rolling-release/approve-stage': {
        const { canaryDeploymentId, nextStageIndex } = checked(ApproveRollingReleaseStageRequestBody$outboundSchema);
        const rr = this.active(canaryDeploymentId);
        if (nextStageIndex !== rr.index + 1 || !rr.stages[nextStageIndex]) {
          throw new Refusal(400, 'bad_request', `The next stage is ${rr.index + 1}, not ${nextStageIndex}`);
        }
        rr.index = nextStageIndex;
        rr.updatedAt = Date.now();
        if (nextStageIndex === rr.stages.length - 1) this.complete(rr);
        return [
          200,
          { rollingRelease: this.rollingReleaseJsonNow() },
          ApproveRollingReleaseStageResponseBody$inboundSchema,
        ];
      }
      case 'POST rolling-release/complete': {
        const { canaryDeploymentId } = checked(CompleteRollingReleaseRequestBody$outboundSchema);
        this.complete(this.active(canaryDeploymentId));
        return [
          200,
          { rollingRelease: this.rollingReleaseJsonNow() },
          CompleteRollingReleaseResponseBody$inboundSchema,
        ];
      }
    }
    throw new Refusal(404, 'not_found', route);
  }

  private complete(rr: FakeRollingRelease): void {
    Object.assign(rr, { state: 'COMPLETE', index: rr.stages.length - 1, updatedAt: Date.now() });
    this.production = rr.canary;
  }

  private active(canaryDeploymentId: string): FakeRollingRelease {
    const rr = this.rollingRelease;
    if (rr?.state !== 'ACTIVE' || rr.canary !== canaryDeploymentId) {
      throw new Refusal(400, 'bad_request', `No active rolling release for ${canaryDeploymentId}`);
    }
    return rr;
  }

  private deployment(id: string) {
    const found = this.deployments.find((d) => d.uid === id);
    if (!found) throw new Refusal(404, 'not_found', `Deployment ${id} not found`);
    return found;
  }

  private ready(id: string) {
    const found = this.deployment(id);
    if (found.readyState !== 'READY') throw new Refusal(400, 'bad_request', `Deployment ${id} is not ready`);
    return found;
  }
}
