/**
 * The control API over HTTP/JSON: routes to the platform's operations. Every body and query is validated with zod;
 * every failure is `{ error: { code, message } }` with a status that tells the client whether retrying can help.
 *
 * Access: every request must name the platform by a loopback Host (so a DNS-rebound name is refused) and carry no
 * foreign Origin; every route but GET /healthz and GET /metrics needs the bearer token; a body must be
 * application/json (so a browser's cross-origin "simple" POST, which cannot set either header, is refused).
 * /healthz and /metrics stay open to GET: they change nothing, hold no secret, and Prometheus scrapes without one.
 */
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { describeIssue } from '../shared/validation';
import {
  promoteBodySchema,
  rollbackBodySchema,
  setWeightBodySchema,
  startCanaryBodySchema,
  statsQuerySchema,
  type ErrorBody,
} from './api';
import { ApiError } from './errors';
import type { LocalPlatform } from './platform';

const MAX_BODY_BYTES = 64 * 1024;

interface Request {
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

/** A non-JSON answer (the Prometheus exposition). */
class TextReply {
  constructor(
    readonly contentType: string,
    readonly text: string,
  ) {}
}

interface Route {
  method: 'GET' | 'PUT' | 'POST';
  pattern: RegExp;
  handle: (request: Request) => unknown;
  /** Served without the bearer token: read-only and secret-free. */
  open?: boolean;
}

/** Who may call: the token, and the Host values that name this server (known once it listens). */
export interface ControlAccess {
  token: string;
  hosts(): readonly string[];
}

const TRACK = String.raw`^/v1/environments/(?<environment>[^/]+)/services/(?<service>[^/]+)`;

function routes(platform: LocalPlatform): Route[] {
  const track = ({ params }: Request) => platform.track(params['environment']!, params['service']!);
  return [
    { method: 'GET', pattern: /^\/healthz$/, open: true, handle: () => ({ ok: true, pid: process.pid }) },
    {
      method: 'GET',
      pattern: /^\/metrics$/,
      open: true,
      handle: async () => {
        const { contentType, body } = await platform.metrics.expose();
        return new TextReply(contentType, body);
      },
    },
    { method: 'GET', pattern: /^\/v1\/state$/, handle: () => platform.state() },
    {
      method: 'GET',
      pattern: /^\/v1\/services\/(?<service>[^/]+)\/releases$/,
      handle: ({ params }) => platform.releases(params['service']!),
    },
    {
      method: 'PUT',
      pattern: new RegExp(`${TRACK}/canary$`),
      handle: (req) => {
        const { deployId, version } = parse(startCanaryBodySchema, req.body, 'request body');
        return track(req).startCanary(deployId, version);
      },
    },
    {
      method: 'PUT',
      pattern: new RegExp(`${TRACK}/weight$`),
      handle: (req) => {
        const { deployId, weight } = parse(setWeightBodySchema, req.body, 'request body');
        return track(req).setWeight(deployId, weight);
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`${TRACK}/promote$`),
      handle: (req) => {
        const { deployId, version } = parse(promoteBodySchema, req.body, 'request body');
        return track(req).promote(deployId, version);
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`${TRACK}/rollback$`),
      handle: (req) => {
        const { deployId, rollbackId } = parse(rollbackBodySchema, req.body, 'request body');
        return track(req).rollback(deployId, rollbackId);
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`${TRACK}/stats$`),
      handle: (req) => {
        const { version, windowMs } = parse(statsQuerySchema, req.query, 'query');
        return platform.windowStats({ ...trackParams(req), version, windowMs });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`${TRACK}/events$`),
      handle: (req) => ({ ...trackParams(req), events: track(req).eventLog() }),
    },
  ];
}

const trackParams = ({ params }: Request) => ({ environment: params['environment']!, service: params['service']! });

/** The request listener of the control server. */
export function controlApi(platform: LocalPlatform, logger: Logger, access: ControlAccess): http.RequestListener {
  const table = routes(platform);
  return (req, res) => {
    const started = Date.now();
    void serve(table, req, access)
      .catch((err: unknown) => {
        if (err instanceof ApiError) return err;
        logger.error({ err }, 'control API request failed');
        return new ApiError(500, 'internal', `the local platform failed: ${(err as Error).message}`);
      })
      .then((reply) => {
        const status = reply instanceof ApiError ? reply.status : 200;
        const level = req.method === 'GET' && status < 500 ? 'debug' : 'info';
        logger[level]({ method: req.method, url: req.url, status, ms: Date.now() - started }, 'control request');
        send(res, reply);
      });
  };
}

async function serve(table: Route[], req: http.IncomingMessage, access: ControlAccess): Promise<unknown> {
  checkHost(req, access);
  const url = new URL(req.url ?? '/', 'http://local-platform');
  const matches = table.flatMap((route) => {
    const match = route.pattern.exec(url.pathname);
    return match ? [{ route, match }] : [];
  });
  if (matches.length === 0) throw new ApiError(404, 'not_found', `no route ${url.pathname}: see GET /v1/state`);
  const found = matches.find(({ route }) => route.method === req.method);
  if (!found) {
    const allowed = matches.map(({ route }) => route.method).join(', ');
    throw new ApiError(405, 'method_not_allowed', `${req.method} ${url.pathname} is not supported: use ${allowed}`);
  }
  if (!found.route.open) checkToken(req, access.token);
  if (req.method !== 'GET') checkJson(req);
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(found.match.groups ?? {})) {
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      throw new ApiError(400, 'invalid_request', `${name} "${value}" is not valid URL encoding`);
    }
  }
  const body = req.method === 'GET' ? undefined : await readJson(req);
  return await found.route.handle({ params, query: Object.fromEntries(url.searchParams), body });
}

/** Refuses a Host that is not this server's loopback address (DNS rebinding) and an Origin from anywhere else. */
function checkHost(req: http.IncomingMessage, access: ControlAccess): void {
  const hosts = access.hosts();
  const host = req.headers.host ?? '';
  if (!hosts.includes(host.toLowerCase())) {
    throw new ApiError(403, 'forbidden_host', `Host "${host}" is not this platform: call it as ${hosts.join(' or ')}`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !hosts.some((h) => origin.toLowerCase() === `http://${h}`)) {
    throw new ApiError(403, 'forbidden_origin', `Origin "${origin}" may not call the local platform`);
  }
}

function checkToken(req: http.IncomingMessage, token: string): void {
  const given = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const expected = Buffer.from(token);
  const actual = Buffer.from(given ?? '');
  if (!given || actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new ApiError(
      401,
      'unauthorized',
      "missing or wrong bearer token: send the platform's token file (platform.local.tokenFile) as Authorization: Bearer",
    );
  }
}

function checkJson(req: http.IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', `Content-Type "${type}" refused: send application/json`);
  }
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ApiError(400, 'invalid_request', `${what}: ${describeIssue(result.error)}`);
  return result.data;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, 'payload_too_large', `request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'invalid_json', `request body is not JSON: ${(err as Error).message}`);
  }
}

function send(res: http.ServerResponse, reply: unknown): void {
  if (reply instanceof TextReply) {
    res.writeHead(200, { 'content-type': reply.contentType });
    return void res.end(reply.text);
  }
  let status = 200;
  let body: unknown = reply;
  if (reply instanceof ApiError) {
    status = reply.status;
    const error: ErrorBody['error'] = { code: reply.code, message: reply.message };
    if (reply.details) error.details = reply.details;
    body = { error };
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
