/** How an LLM call failed, which decides whether a retry can help. */
export type LlmErrorKind = 'rate-limited' | 'unavailable' | 'timeout' | 'auth' | 'bad-request' | 'config' | 'malformed';

/** Longest Retry-After opsflow honours; a provider asking for more gets the offline result instead. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * A failed LLM call, in one line a person can act on: it names the environment variable or setting to
 * fix, never the key itself.
 */
export class LlmError extends Error {
  override name = 'LlmError';
  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    readonly retryAfterMs?: number,
    readonly status?: number,
  ) {
    super(message);
  }

  /** 429, 5xx, timeouts and lost connections may pass; a wrong key or request will not. */
  get retryable(): boolean {
    return this.kind === 'rate-limited' || this.kind === 'unavailable' || this.kind === 'timeout';
  }
}

/** Reads Retry-After (seconds or an HTTP date) and the retry-after-ms header OpenAI-style servers send. */
export function retryAfterMs(headers: { get(name: string): string | null } | undefined, now = Date.now()) {
  if (!headers) return undefined;
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Removes the key and anything shaped like a key from text a provider sent back (some echo part of it). */
export function redact(text: string, secret?: string): string {
  let out = secret && secret.length >= 4 ? text.split(secret).join('[redacted]') : text;
  out = out.replace(/\b(sk|pk|key|token)[-_][A-Za-z0-9*_.-]{6,}/gi, '[redacted]');
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}

/** A base URL fit for logs and messages: without user, password or query (some proxies carry keys there). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(an unparsable URL)';
  }
}

/** The provider-specific names a person sets to fix a failure. */
export interface ProviderVars {
  provider: string;
  keyVar: string;
  baseUrlVar: string;
  baseUrl: string;
  model: string;
}

interface SdkLikeError {
  status?: unknown;
  headers?: { get(name: string): string | null };
  message?: unknown;
  error?: unknown;
  constructor: { name: string };
}

function providerMessage(err: SdkLikeError): string {
  const body = err.error as { error?: { message?: unknown }; message?: unknown } | undefined;
  const message = body?.error?.message ?? body?.message ?? err.message;
  return typeof message === 'string' ? message : '';
}

/** Turns an error from the openai or @anthropic-ai/sdk client into an LlmError naming what to fix. */
export function classifySdkError(error: unknown, vars: ProviderVars, secret?: string): LlmError {
  if (error instanceof LlmError) return error;
  const err = (error ?? {}) as SdkLikeError;
  const where = `${vars.provider} at ${vars.baseUrl}`;
  const name = err.constructor?.name ?? '';
  if (name.includes('Timeout')) {
    return new LlmError('timeout', `${where} did not answer in time (llm.timeout)`);
  }
  const status = typeof err.status === 'number' ? err.status : undefined;
  if (status === undefined) {
    const detail = redact(String(err.message ?? error), secret).replace(/\.$/, '');
    return new LlmError('unavailable', `cannot reach ${where}: ${detail}; check ${vars.baseUrlVar} or llm.baseUrl`);
  }
  const said = redact(providerMessage(err), secret);
  const suffix = said ? ` — ${said}` : '';
  if (status === 401) {
    // The provider's 401 text may quote part of the key: it is not repeated.
    return new LlmError(
      'auth',
      `${where} refused the key (401): set a valid ${vars.keyVar} (or llm.apiKeyFile)`,
      undefined,
      status,
    );
  }
  if (status === 403) {
    return new LlmError(
      'auth',
      `${where} denied access (403) to model ${vars.model}: check ${vars.keyVar}'s permissions or OPSFLOW_LLM_MODEL${suffix}`,
      undefined,
      status,
    );
  }
  if (status === 429) {
    return new LlmError('rate-limited', `${where} is rate limiting (429)${suffix}`, retryAfterMs(err.headers), status);
  }
  if (status >= 500 || status === 408 || status === 409) {
    return new LlmError('unavailable', `${where} failed (${status})${suffix}`, retryAfterMs(err.headers), status);
  }
  if (status === 404) {
    return new LlmError(
      'bad-request',
      `${where} has no such model or endpoint (404): check OPSFLOW_LLM_MODEL (now ${vars.model}) and ${vars.baseUrlVar}${suffix}`,
      undefined,
      status,
    );
  }
  return new LlmError(
    'bad-request',
    `${where} rejected the request (${status}): check OPSFLOW_LLM_MODEL (now ${vars.model}) and llm settings${suffix}`,
    undefined,
    status,
  );
}
