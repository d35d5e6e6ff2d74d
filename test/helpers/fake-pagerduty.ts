/**
 * A stand-in for PagerDuty's Events API v2 on 127.0.0.1, speaking its wire format: `POST /v2/enqueue` with a JSON
 * event, the routing key in the body.
 *
 * Checked against PagerDuty's documentation (its OpenAPI document for the Events API v2, PagerDuty/api-schema
 * reference/events-v2/openapiv3.json, and its "Send an event" page, v2.developer.pagerduty.com):
 * - the path, the body's fields (`routing_key` and `event_action` required; `dedup_key` required unless the action is
 *   `trigger`; `payload.summary`, `.source` and `.severity` required, severity one of critical, error, warning, info;
 *   `links` as `{href, text}`);
 * - 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}` for an accepted event; a trigger
 *   without a dedup_key gets one made up and answered;
 * - 400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` for an invalid event, and
 *   `{"status": "Unrecognized object", "message": "Event object format is unrecognized", "errors": ["JSON parse
 *   error"]}` for a body that is not JSON;
 * - 429 (no body documented) and 5xx are to be retried, 400 not.
 *
 * Assumed, from what PagerDuty's users report rather than its reference:
 * - an unknown (well-formed) routing key is answered 400 with the plain text `Invalid routing key`;
 * - a trigger whose dedup_key has an open alert is folded into it (no new incident); a trigger after that alert was
 *   resolved opens a new one; a resolve with no open alert is accepted and changes nothing;
 * - the summary's limit of 1024 characters (refused here beyond it, where PagerDuty may truncate) and the dedup_key's
 *   of 255;
 * - whether a 429 carries Retry-After: the knob can send one or not.
 * PagerDuty processes events asynchronously after the 202; this fake applies them at once.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { LoopbackServer } from './loopback-server';

/** An incident as the fake keeps it: one per trigger that found no open alert for its dedup_key. */
export interface FakeIncident {
  dedupKey: string;
  status: 'triggered' | 'resolved';
  /** Every event applied to it, in order (the trigger that opened it first). */
  events: Record<string, unknown>[];
}

/** One scripted answer, given instead of processing the request. */
export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Only for a request whose body this accepts (e.g. the resolve); the others are processed meanwhile. */
  when?: (event: Record<string, unknown>) => boolean;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const ACTIONS = ['trigger', 'acknowledge', 'resolve'];

export class FakePagerDuty {
  /** Every request's parsed body (or raw text when it was not JSON), in order. */
  readonly requests: unknown[] = [];
  /** Every incident ever opened, in order. */
  readonly incidents: FakeIncident[] = [];
  /** Accepted trigger events, including ones folded into an open alert. */
  triggers = 0;
  /** Accepted resolve events, including ones that found nothing open. */
  resolves = 0;
  private readonly script: ScriptedAnswer[] = [];
  private readonly loopback = new LoopbackServer((req, res) => this.handle(req, res));

  constructor(private readonly routingKey: string) {}

  /** The latest incident of a dedup_key. */
  incident(dedupKey: string): FakeIncident | undefined {
    return this.incidents.filter((i) => i.dedupKey === dedupKey).at(-1);
  }

  /** The next `times` requests get `answer` instead of being processed. */
  answerNext(answer: ScriptedAnswer, times = 1): void {
    for (let i = 0; i < times; i++) this.script.push(answer);
  }

  /** Starts listening; answers the base URL to configure as `apiUrl`. */
  async start(): Promise<string> {
    return this.loopback.listen();
  }

  async stop(): Promise<void> {
    await this.loopback.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    this.requests.push(body ?? text);
    const next = this.script[0];
    if (next && (!next.when || (body && typeof body === 'object' && next.when(body as Record<string, unknown>)))) {
      this.script.shift();
      res.writeHead(next.status, next.headers ?? {}).end(next.body ?? '');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v2/enqueue') return json(404, { status: 'not found' });
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return json(400, {
        status: 'Unrecognized object',
        message: 'Event object format is unrecognized',
        errors: ['JSON parse error'],
      });
    }
    const event = body as Record<string, unknown>;
    const errors = this.invalid(event);
    if (errors.length) return json(400, { status: 'invalid event', message: 'Event object is invalid', errors });
    if (event.routing_key !== this.routingKey) {
      return void res.writeHead(400, { 'content-type': 'text/plain' }).end('Invalid routing key');
    }
    const dedupKey = typeof event.dedup_key === 'string' ? event.dedup_key : randomUUID().replace(/-/g, '');
    const open = this.incidents.find((i) => i.dedupKey === dedupKey && i.status === 'triggered');
    if (event.event_action === 'trigger') {
      this.triggers += 1;
      if (open) open.events.push(event);
      else this.incidents.push({ dedupKey, status: 'triggered', events: [event] });
    } else if (event.event_action === 'resolve') {
      this.resolves += 1;
      if (open) {
        open.events.push(event);
        open.status = 'resolved';
      }
    } else if (open) open.events.push(event);
    json(202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  }

  /** What the Events API would refuse in this event, in its words where known. */
  private invalid(event: Record<string, unknown>): string[] {
    const errors: string[] = [];
    if (typeof event.routing_key !== 'string' || !event.routing_key) errors.push("'routing_key' is missing or blank");
    if (!ACTIONS.includes(event.event_action as string)) errors.push("'event_action' is missing or invalid");
    if (event.dedup_key !== undefined && (typeof event.dedup_key !== 'string' || event.dedup_key.length > 255)) {
      errors.push("'dedup_key' is invalid (a string of at most 255 characters)");
    }
    if (event.event_action !== 'trigger' && typeof event.dedup_key !== 'string') {
      errors.push("'dedup_key' is required unless event_action is trigger");
    }
    const payload = event.payload as Record<string, unknown> | undefined;
    if (event.event_action === 'trigger') {
      if (!payload || typeof payload !== 'object') errors.push("'payload' is missing");
      else {
        if (typeof payload.summary !== 'string' || !payload.summary) errors.push("'payload.summary' is missing");
        else if (Array.from(payload.summary).length > 1024) errors.push("'payload.summary' is over 1024 characters");
        if (typeof payload.source !== 'string' || !payload.source) errors.push("'payload.source' is missing");
        if (!SEVERITIES.includes(payload.severity as string)) errors.push("'payload.severity' is invalid");
      }
    }
    const links = event.links;
    if (links !== undefined && (!Array.isArray(links) || links.some((l) => typeof l?.href !== 'string'))) {
      errors.push("'links' must be objects with an href");
    }
    return errors;
  }
}
