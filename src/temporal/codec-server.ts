/**
 * A Temporal codec server: `POST …/encode` and `POST …/decode` with `{ "payloads": [...] }` bodies in protobuf JSON
 * (metadata values and data in base64), so the Temporal UI and CLI show decoded payloads to whoever can reach it.
 * Only the last path segment picks the endpoint (`/decode`, `/default/decode`), as Temporal's codec server protocol
 * asks; the UI names the namespace in the X-Namespace header.
 *
 * Access: loopback only, with a loopback Host (a DNS-rebound name is refused); a browser only from the UI origins
 * listed (CORS: preflight answered for them, refused for any other); an optional bearer token on every request;
 * bodies must be application/json and are validated before anything is decoded.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils';
import { z } from 'zod';
import { describeIssue } from '../shared/validation';

const HOST = '127.0.0.1';
/** The UI sends a history's payloads in batches; 16 MiB holds several at Temporal's 2 MiB payload limit. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** What a browser may send besides the CORS-safelisted headers: the UI sets these. */
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

const base64 = z.base64('must be base64');
const bodySchema = z.object({
  payloads: z
    .array(
      z.looseObject({
        metadata: z.record(z.string(), base64).nullish(),
        data: z.union([base64, z.literal('')]).nullish(),
      }),
    )
    .max(10_000),
});

/** How a codec server is set up. */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** 0 picks a free port. */
  port: number;
  /** Browser origins allowed to call (the Temporal UI's); requests without an Origin (CLI, curl) are not browsers. */
  origins: readonly string[];
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * When set, only these namespaces: every request must name one in its X-Namespace header, and a path segment before
   * the endpoint, if any, must name one too.
   */
  namespaces?: readonly string[];
  /** One line per request for the operator: method, path, status, payload count. Never payload contents. */
  onRequest?: (line: string) => void;
}

/** A listening codec server. */
export interface CodecServer {
  /** `http://127.0.0.1:<port>`: what the UI's "Codec Server" setting and `--codec-endpoint` take. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A refusal: its status and one line, sent as `{ "error": { "code", "message" } }`. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Normalises an origin as browsers send it: scheme, host and port, no path or trailing slash. */
export function normaliseOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new Error(`"${origin}" is not an origin such as http://localhost:8233`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`"${origin}" is not an http(s) origin such as http://localhost:8233`);
  }
  return url.origin;
}

/** Starts a codec server on 127.0.0.1; resolves once it listens. */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const origins = new Set(options.origins.map(normaliseOrigin));
  let hosts: string[] = [];
  const server = http.createServer((req, res) => {
    const started = Date.now();
    handle(req, res, { ...options, origins, hosts })
      .catch((err: unknown) => {
        const refusal =
          err instanceof Refusal ? err : new Refusal(500, 'internal', (err as Error).message.split('\n')[0] ?? '');
        send(res, refusal.status, { error: { code: refusal.code, message: refusal.message } }, refusal.headers);
        return refusal.status;
      })
      .then((status) => {
        options.onRequest?.(`${req.method} ${req.url} ${status} ${Date.now() - started} ms`);
      })
      .catch(() => undefined);
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  return {
    url: `http://${HOST}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Access extends Omit<CodecServerOptions, 'origins'> {
  origins: ReadonlySet<string>;
  hosts: readonly string[];
}

/** Answers one request; resolves with the status sent. */
async function handle(req: http.IncomingMessage, res: http.ServerResponse, access: Access): Promise<number> {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!access.hosts.includes(host)) {
    throw new Refusal(403, 'forbidden_host', `Host "${host}" is not this codec server: call ${access.hosts[0]}`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !access.origins.has(origin)) {
    throw new Refusal(403, 'forbidden_origin', `Origin "${origin}" may not call this codec server (see --origin)`);
  }
  const cors: Record<string, string> = origin
    ? { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' }
    : {};
  const url = new URL(req.url ?? '/', 'http://codec-server');
  const segments = url.pathname.split('/').filter(Boolean);
  const endpoint = segments.at(-1);
  if (endpoint !== 'encode' && endpoint !== 'decode') {
    throw new Refusal(404, 'not_found', `no endpoint ${url.pathname}: POST …/encode or …/decode`, cors);
  }
  if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      ...cors,
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
    });
    res.end();
    return 204;
  }
  if (req.method !== 'POST') {
    throw new Refusal(405, 'method_not_allowed', `${req.method} ${url.pathname}: use POST`, { ...cors, allow: 'POST' });
  }
  if (access.token !== undefined) checkToken(req, access.token, cors);
  checkNamespace(req, segments.length > 1 ? segments.at(-2) : undefined, access.namespaces, cors);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new Refusal(415, 'unsupported_media_type', `Content-Type "${type}" refused: send application/json`, cors);
  }
  const body = bodySchema.safeParse(await readJson(req, cors));
  if (!body.success) throw new Refusal(400, 'invalid_request', `body: ${describeIssue(body.error)}`, cors);
  let payloads: Payload[];
  try {
    payloads = body.data.payloads.map((p) => JSONToPayload(p as JSONPayload));
  } catch (err) {
    throw new Refusal(400, 'invalid_request', `body: not protobuf-JSON payloads (${(err as Error).message})`, cors);
  }
  let result: Payload[];
  try {
    result = endpoint === 'encode' ? await access.codec.encode(payloads) : await access.codec.decode(payloads);
  } catch (err) {
    throw new Refusal(400, 'codec_error', (err as Error).message.split('\n')[0] ?? 'codec error', cors);
  }
  send(res, 200, { payloads: result.map(payloadToJSON) }, cors);
  return 200;
}

function checkToken(req: http.IncomingMessage, token: string, cors: Record<string, string>): void {
  const given = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const expected = Buffer.from(token);
  const actual = Buffer.from(given ?? '');
  if (!given || actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new Refusal(401, 'unauthorized', 'missing or wrong bearer token: send Authorization: Bearer <token>', {
      ...cors,
      'www-authenticate': 'Bearer',
    });
  }
}

function checkNamespace(
  req: http.IncomingMessage,
  fromPath: string | undefined,
  namespaces: readonly string[] | undefined,
  cors: Record<string, string>,
): void {
  if (!namespaces?.length) return;
  const header = req.headers['x-namespace'];
  // The UI and the Temporal CLI always name the namespace; a request that does not could be for any of them.
  if (typeof header !== 'string' || header.trim() === '') {
    throw new Refusal(
      403,
      'forbidden_namespace',
      'no namespace named: send X-Namespace: <namespace> (this codec server serves only some, see --namespace)',
      cors,
    );
  }
  for (const named of [header, fromPath]) {
    if (named !== undefined && !namespaces.includes(decodedSegment(named))) {
      throw new Refusal(403, 'forbidden_namespace', `namespace "${named}" is not served here (see --namespace)`, cors);
    }
  }
}

/** A path segment as a name; one that is not valid URL encoding stays as written (and matches no namespace). */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function readJson(req: http.IncomingMessage, cors: Record<string, string>): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new Refusal(413, 'payload_too_large', `request body is over ${MAX_BODY_BYTES} bytes`, cors);
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new Refusal(400, 'invalid_json', `body is not JSON: ${(err as Error).message}`, cors);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
