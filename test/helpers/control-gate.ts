import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A control API call as the gate sees it: method, path with query, and the JSON body (undefined without one). */
export interface GateRequest {
  method: string;
  path: string;
  body: unknown;
}

/** A running gate: the URL a worker's platform client is pointed at instead of the platform's. */
export interface ControlGate {
  url: string;
  port: number;
  /** Drops the calls it holds and stops listening. */
  close(): Promise<void>;
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A loopback HTTP gate in front of the local platform's control API, one per worker. It forwards every call as it
 * is (the Host rewritten to the platform's, which refuses any other), except a call `hold` picks: that one is kept in
 * flight and never forwarded, as a call is when its worker dies mid-request. A chaos test so kills a worker exactly
 * while its call is under way and before the platform acted on it, which no polling of the workflow can catch (the
 * platform answers a weight in milliseconds).
 */
export async function startControlGate(
  upstream: string,
  hold: (request: GateRequest) => boolean,
): Promise<ControlGate> {
  const target = new URL(upstream);
  const held = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      if (hold({ method: req.method ?? 'GET', path: req.url ?? '/', body: parseJson(raw) })) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      const forwarded = http.request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => res.destroy());
      forwarded.end(raw);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The chaos runs' rule for their gates: armed for a deploy, the first call that routes 0 % to that deploy's canary (the
 * rollback's traffic-to-zero) is held by whichever gate sees it, and the promise `arm` returned names that gate.
 */
export class ZeroWeightTrap<Name> {
  private armed: { deployId: string; sprung: (gate: Name) => void } | undefined;

  arm(deployId: string): Promise<Name> {
    return new Promise((resolve) => (this.armed = { deployId, sprung: resolve }));
  }

  /** The `hold` of the gate called `gate`. */
  rule(gate: Name): (request: GateRequest) => boolean {
    return (request) => {
      const body = request.body as { deployId?: unknown; weight?: unknown } | undefined;
      if (!this.armed || request.method !== 'PUT' || !request.path.endsWith('/weight')) return false;
      if (body?.deployId !== this.armed.deployId || body.weight !== 0) return false;
      this.armed.sprung(gate);
      this.armed = undefined;
      return true;
    };
  }
}
