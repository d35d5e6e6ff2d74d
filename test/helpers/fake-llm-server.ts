import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake received. */
export interface RecordedRequest {
  api: 'openai' | 'anthropic';
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** One scripted answer: status, JSON body (or raw text), headers, and a delay before answering. */
export interface FakeReply {
  status?: number;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  delayMs?: number;
}

type Responder = FakeReply | ((request: RecordedRequest) => FakeReply);

/** A chat-completions answer as OpenAI sends it. */
export function openaiChat(content: string, usage = { prompt_tokens: 120, completion_tokens: 40 }): FakeReply {
  return {
    body: {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'fake-gpt',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    },
  };
}

/** An error as OpenAI sends it: `{"error": {message, type, code}}`. */
export function openaiError(status: number, message: string, extra: Partial<FakeReply> = {}): FakeReply {
  const type = status === 429 ? 'rate_limit_exceeded' : status === 401 ? 'invalid_request_error' : 'server_error';
  const code = status === 401 ? 'invalid_api_key' : status === 429 ? 'rate_limit_exceeded' : null;
  return { status, body: { error: { message, type, param: null, code } }, ...extra };
}

/** A Messages answer with text, as Anthropic sends it. */
export function anthropicText(text: string, usage = { input_tokens: 150, output_tokens: 60 }): FakeReply {
  return {
    body: {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model: 'fake-claude',
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage,
    },
  };
}

/** A Messages answer that calls a tool with `input`, as a forced tool_choice produces. */
export function anthropicTool(
  name: string,
  input: unknown,
  usage = { input_tokens: 200, output_tokens: 90 },
): FakeReply {
  return {
    body: {
      id: 'msg_fake_tool',
      type: 'message',
      role: 'assistant',
      model: 'fake-claude',
      content: [{ type: 'tool_use', id: 'toolu_fake', name, input }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage,
    },
  };
}

/** An error as Anthropic sends it: `{"type":"error","error":{type, message}}`. */
export function anthropicError(status: number, message: string, extra: Partial<FakeReply> = {}): FakeReply {
  const type =
    status === 401
      ? 'authentication_error'
      : status === 403
        ? 'permission_error'
        : status === 429
          ? 'rate_limit_error'
          : status === 529
            ? 'overloaded_error'
            : status === 400
              ? 'invalid_request_error'
              : 'api_error';
  return { status, body: { type: 'error', error: { type, message } }, ...extra };
}

/**
 * A local stand-in for the paid LLM APIs, on 127.0.0.1: POST /v1/chat/completions (OpenAI wire format)
 * and POST /v1/messages (Anthropic). Answers come from a queue per API, then from `otherwise`.
 */
export class FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  private readonly queues: Record<RecordedRequest['api'], Responder[]> = { openai: [], anthropic: [] };
  otherwise: Record<RecordedRequest['api'], Responder> = {
    openai: openaiError(500, 'no scripted answer'),
    anthropic: anthropicError(500, 'no scripted answer'),
  };

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  /** Starts on a free loopback port. */
  static async start(): Promise<FakeLlmServer> {
    const holder: { fake?: FakeLlmServer } = {};
    const server = http.createServer((req, res) => {
      void holder.fake?.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const fake = new FakeLlmServer(server, `http://127.0.0.1:${port}`);
    holder.fake = fake;
    return fake;
  }

  /** Base URL for the openai client (it appends /chat/completions). */
  get openaiBaseUrl(): string {
    return `${this.url}/v1`;
  }

  /** Queues answers for the next requests to one API. */
  script(api: RecordedRequest['api'], ...replies: Responder[]): void {
    this.queues[api].push(...replies);
  }

  /** Requests one API received. */
  received(api: RecordedRequest['api']): RecordedRequest[] {
    return this.requests.filter((r) => r.api === api);
  }

  reset(): void {
    this.requests.length = 0;
    this.queues.openai.length = 0;
    this.queues.anthropic.length = 0;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '').split('?')[0] ?? '';
    const api = path.endsWith('/chat/completions') ? 'openai' : path.endsWith('/v1/messages') ? 'anthropic' : undefined;
    if (req.method !== 'POST' || !api) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json"}}');
      return;
    }
    const recorded: RecordedRequest = { api, path, headers: req.headers, body };
    this.requests.push(recorded);
    const responder = this.queues[api].shift() ?? this.otherwise[api];
    let reply: FakeReply;
    try {
      reply = typeof responder === 'function' ? responder(recorded) : responder;
    } catch (err) {
      reply = { status: 500, body: { error: { message: `fake responder failed: ${(err as Error).message}` } } };
    }
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    if (res.destroyed) return;
    const headers = { 'content-type': 'application/json', ...(reply.headers ?? {}) };
    res.writeHead(reply.status ?? 200, headers).end(reply.raw ?? JSON.stringify(reply.body ?? {}));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Bounds {
  name: string;
  canarySteps: { weight: number; bakeSeconds: number }[];
  verifySeconds: number;
  thresholds: Record<string, number>;
}

/** The last user turn of a chat-completions request. */
function lastUserTurn(request: RecordedRequest): string {
  const messages = (request.body['messages'] ?? []) as { role: string; content: string }[];
  return [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

/**
 * Answers like a well-behaved model: a plan request gets a valid plan built from the configured bounds
 * it was sent (with the production error-rate critical tightened to 4 %), a narrative request a short
 * text whose only figures come from the facts it was sent.
 */
export function openaiAutoResponder(request: RecordedRequest): FakeReply {
  const system = ((request.body['messages'] ?? []) as { role: string; content: string }[])[0]?.content ?? '';
  const user = lastUserTurn(request);
  if (system.includes('plan the rollout')) {
    const facts = JSON.parse(user) as { configuredBounds: Bounds[] };
    return openaiChat(
      JSON.stringify({
        risk: 'medium',
        rationale: 'A minor change of a service with no recent rollbacks.',
        environments: facts.configuredBounds.map((b) => ({
          name: b.name,
          canarySteps: b.canarySteps,
          verifySeconds: b.verifySeconds,
          thresholds: b.name === 'production' ? { ...b.thresholds, errorRateCritical: 0.04 } : b.thresholds,
        })),
        checks: ['compare the canary with stable at every step'],
        rollbackPlan: 'Traffic back to stable on the first critical sample.',
        questions: [],
      }),
      { prompt_tokens: 900, completion_tokens: 300 },
    );
  }
  if (!user.includes('{')) return openaiChat('ok', { prompt_tokens: 20, completion_tokens: 1 });
  const json = user.slice(user.indexOf('{'));
  const facts = JSON.parse(json) as { service: string; version: string; outcome: string; samples?: { total: number } };
  return openaiChat(
    `${facts.service} ${facts.version} ended ${facts.outcome} after ${facts.samples?.total ?? 0} health samples; ` +
      'the tables below hold every measurement.',
    { prompt_tokens: 700, completion_tokens: 80 },
  );
}
