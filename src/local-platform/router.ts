/**
 * The weighted HTTP router in front of one service in one environment: the local stand-in for the mesh or ingress
 * that Flagger and Argo Rollouts drive. It splits requests between stable and canary by weight, exactly, and reports
 * every finished request with the version that answered it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { UPSTREAM_HOST } from './service-process';

/** A release instance the router can send requests to. */
export interface Upstream {
  version: string;
  port: number;
}

/** One finished request; a request the upstream failed to answer counts as a 502 for that upstream. */
export interface RoutedRequest {
  version: string;
  statusCode: number;
  latencyMs: number;
}

/** Longest an upstream may take to answer before the router gives up with a 502. */
const UPSTREAM_TIMEOUT_MS = 10_000;

/** Status recorded when the client hangs up before the answer (nginx's convention); not an upstream error. */
const CLIENT_CLOSED = 499;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The URL of a loopback HTTP server; IPv6 literals need brackets. */
export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Whether request number `sequence` (0-based since the weight was set) goes to the canary. Exactly `weight` of every
 * 100 consecutive requests do, spread evenly: the canary takes request i when floor((i+1)w/100) > floor(iw/100).
 */
export function routesToCanary(sequence: number, weight: number): boolean {
  return Math.floor(((sequence + 1) * weight) / 100) > Math.floor((sequence * weight) / 100);
}

/** A loopback HTTP proxy splitting traffic between a stable and an optional canary upstream by weight. */
export class WeightedRouter {
  private stable: Upstream;
  private canary: Upstream | null = null;
  private weight = 0;
  /** Position in the 100-request split pattern; restarts whenever the split changes so the new split is exact. */
  private sequence = 0;
  /** Requests in flight per upstream port, so a retiring instance can be drained before it is stopped. */
  private readonly inflight = new Map<number, number>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  private readonly server: http.Server;

  private constructor(
    stable: Upstream,
    private readonly onRequest: (request: RoutedRequest) => void,
    private readonly logger: Logger,
  ) {
    this.stable = stable;
    this.server = http.createServer((req, res) => this.proxy(req, res));
  }

  /** Starts a router on `host` (port 0: the OS picks) sending everything to `stable`. */
  static async listen(options: {
    host: string;
    port?: number;
    stable: Upstream;
    onRequest: (request: RoutedRequest) => void;
    logger: Logger;
  }): Promise<WeightedRouter> {
    const router = new WeightedRouter(options.stable, options.onRequest, options.logger);
    await new Promise<void>((resolve, reject) => {
      router.server.once('error', reject);
      router.server.listen(options.port ?? 0, options.host, () => {
        router.server.off('error', reject);
        resolve();
      });
    });
    return router;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Sends `weight` % of new requests to `canary` (none when null) and the rest to `stable`, from the next request on. */
  route(stable: Upstream, canary: Upstream | null, weight: number): void {
    this.stable = stable;
    this.canary = canary;
    this.weight = canary ? weight : 0;
    this.sequence = 0;
  }

  /** Resolves once no request to `port` is in flight, or after `timeoutMs`; returns whether it drained. */
  async drain(port: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.inflight.get(port) ?? 0) > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    this.agent.destroy();
    await closed;
  }

  private pick(): Upstream {
    const toCanary = this.canary !== null && routesToCanary(this.sequence, this.weight);
    this.sequence = (this.sequence + 1) % 100;
    return toCanary && this.canary ? this.canary : this.stable;
  }

  private proxy(req: http.IncomingMessage, res: http.ServerResponse): void {
    const upstream = this.pick();
    const started = performance.now();
    this.inflight.set(upstream.port, (this.inflight.get(upstream.port) ?? 0) + 1);
    let recorded = false;
    const record = (statusCode: number) => {
      if (recorded) return;
      recorded = true;
      this.inflight.set(upstream.port, (this.inflight.get(upstream.port) ?? 1) - 1);
      this.onRequest({ version: upstream.version, statusCode, latencyMs: performance.now() - started });
    };

    const upstreamReq = http.request({
      host: UPSTREAM_HOST,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: withoutHopByHop(req.headers),
      agent: this.agent,
      timeout: UPSTREAM_TIMEOUT_MS,
    });
    upstreamReq.on('timeout', () => upstreamReq.destroy(new Error(`no answer within ${UPSTREAM_TIMEOUT_MS} ms`)));
    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      record(502);
      if (res.headersSent) return void res.destroy();
      const message = `${upstream.version} on port ${upstream.port} did not answer: ${err.code ?? err.message}`;
      this.logger.debug({ version: upstream.version, err: err.message }, 'upstream failed');
      const body = JSON.stringify({ error: { code: 'bad_gateway', message } });
      res.writeHead(502, { 'content-type': 'application/json', 'x-opsflow-version': upstream.version });
      res.end(body);
    });
    upstreamReq.on('response', (upstreamRes) => {
      const statusCode = upstreamRes.statusCode ?? 502;
      res.writeHead(statusCode, { ...withoutHopByHop(upstreamRes.headers), 'x-opsflow-version': upstream.version });
      upstreamRes.pipe(res);
      upstreamRes.on('error', () => {
        record(502);
        res.destroy();
      });
      res.on('finish', () => record(statusCode));
    });
    res.on('close', () => {
      if (recorded) return;
      record(CLIENT_CLOSED);
      upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  }
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const result: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) result[name] = value;
  }
  return result;
}
