/**
 * A webhook receiver on 127.0.0.1, built as a subscriber should build one: it verifies `X-Opsflow-Signature` over the
 * raw body with {@link verifyWebhookSignature} (401 with the reason otherwise), parses the CloudEvent with the
 * `cloudevents` SDK (`HTTP.toEvent`, then `validate()`: 400 otherwise), and keeps each event once by its source and id, the
 * CloudEvents identity (a second delivery is answered 200 and counted as a duplicate). Knobs script the next answers (500, 429 with
 * Retry-After, a slow answer) before any of that runs.
 */
import type http from 'node:http';
import { CloudEvent, HTTP } from 'cloudevents';
import type { OpsEvent } from '../../src/shared/notify/events';
import { verifyWebhookSignature } from '../../src/activities/notify/webhook/signature';
import { LoopbackServer } from './loopback-server';

/** One scripted answer, used instead of receiving the event. */
export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering (to exceed a client's time limit). */
  delayMs?: number;
}

/** A delivery as the receiver saw it. */
export interface Delivery {
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** What the receiver answered. */
  status: number;
  /** Why it refused, when it did. */
  refused?: string;
}

export class FakeWebhook {
  /** Every request, in order (refused and scripted ones too). */
  readonly deliveries: Delivery[] = [];
  /** The events kept, by source and id: one each, however often it was delivered. */
  readonly events = new Map<string, CloudEvent<OpsEvent>>();
  /** Deliveries of an event already kept. */
  duplicates = 0;
  private readonly script: ScriptedAnswer[] = [];
  private readonly loopback = new LoopbackServer((req, res) => this.handle(req, res));

  constructor(
    private readonly secret: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The kept event with this id. */
  event(id: string): CloudEvent<OpsEvent> | undefined {
    return [...this.events.values()].find((e) => e.id === id);
  }

  /** The next `times` requests get `answer` instead of being received. */
  answerNext(answer: ScriptedAnswer, times = 1): void {
    for (let i = 0; i < times; i++) this.script.push(answer);
  }

  async start(): Promise<string> {
    return `${await this.loopback.listen()}/hooks/opsflow`;
  }

  async stop(): Promise<void> {
    await this.loopback.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const answer = (status: number, body = '', headers: Record<string, string> = {}, refused?: string) => {
      this.deliveries.push({ headers: req.headers, rawBody, status, ...(refused ? { refused } : {}) });
      res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
    };
    const scripted = this.script.shift();
    if (scripted) {
      if (scripted.delayMs) await new Promise((resolve) => setTimeout(resolve, scripted.delayMs));
      if (!res.destroyed) answer(scripted.status, scripted.body ?? '', scripted.headers);
      return;
    }
    if (req.method !== 'POST') return answer(405, 'POST only');
    try {
      verifyWebhookSignature(rawBody, req.headers['x-opsflow-signature'], this.secret, this.now());
    } catch (err) {
      return answer(401, (err as Error).message, {}, (err as Error).message);
    }
    let event: CloudEvent<OpsEvent>;
    try {
      const parsed = HTTP.toEvent<OpsEvent>({ headers: req.headers, body: rawBody });
      if (Array.isArray(parsed) || !(parsed instanceof CloudEvent)) throw new Error('expected one CloudEvent');
      parsed.validate();
      event = parsed as CloudEvent<OpsEvent>;
    } catch (err) {
      return answer(400, (err as Error).message, {}, (err as Error).message);
    }
    const identity = `${event.source} ${event.id}`;
    if (this.events.has(identity)) {
      this.duplicates += 1;
      return answer(200, 'already received');
    }
    this.events.set(identity, event);
    answer(204);
  }
}
