/**
 * HTTP for channels that speak plain HTTP (webhook, PagerDuty's Events API): one POST with a time limit, and the
 * answer sorted by whether a retry can help. Messages name the service's origin only: a webhook URL's path or query
 * may itself be a credential (Slack, Discord and Teams put their tokens there).
 */
import { z } from 'zod';
import { redact, retryAfterMs } from '../llm/errors';
import { ChannelError } from './contract';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** A URL a credential or a signed body may be sent to: https, or plain http to loopback only (tests, local relays). */
export function sendableUrlSchema() {
  return z
    .string()
    .url('must be a URL such as https://hooks.example.com/opsflow')
    .superRefine((text, ctx) => {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return; // the url check above has said so
      }
      if (!(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname)))) {
        ctx.addIssue({ code: 'custom', message: 'must use https (plain http only to localhost, 127.0.0.1 or [::1])' });
      } else if (url.username || url.password) {
        ctx.addIssue({
          code: 'custom',
          message: 'must not carry a user or password: the channel signs or authenticates each request itself',
        });
      }
    });
}

/** The origin of a URL, for messages and logs. */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(an unparsable URL)';
  }
}

/** What a POST answered: its status, headers and text (read whole, within the same time limit). */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * POSTs `body` and reads the answer within `timeoutMs`; `service` names the other end in messages ("webhook
 * https://hooks.example.com"), never with the URL's path. A network failure or the time limit is a retryable
 * {@link ChannelError}; redirects are not followed (a moved endpoint is for a person to fix, and a 302 would turn the
 * POST into a GET).
 */
export async function post(
  service: string,
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  fetchImpl: typeof fetch = fetch,
): Promise<HttpAnswer> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetchImpl(url, { method: 'POST', body, headers, signal, redirect: 'manual' });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError' || signal.aborted) {
      throw new ChannelError(`${service} did not answer within ${timeoutMs} ms`, true);
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new ChannelError(`${service} cannot be reached: ${why}`, true);
  }
}

/**
 * The failure an answer that is not 2xx stands for: 429 (with its Retry-After), 408 and 5xx can pass with time;
 * redirects and other 4xx will not. `reason` is what the service said, already fit for people; `secret` is removed
 * from it in case the service echoed it.
 */
export function failureOf(service: string, answer: HttpAnswer, reason: string, secret: string): ChannelError {
  const said = reason ? `: ${redact(reason.replace(/\s+/g, ' ').trim(), secret)}` : '';
  const { status } = answer;
  if (status === 429) {
    const wait = retryAfterMs(answer.headers);
    const after = wait === undefined ? '' : ` (Retry-After ${Math.ceil(wait / 1000)} s)`;
    return new ChannelError(`${service} is rate limiting: HTTP 429${after}${said}`, true, wait);
  }
  if (status >= 500 || status === 408) return new ChannelError(`${service} failed: HTTP ${status}${said}`, true);
  if (status >= 300 && status < 400) {
    const where = answer.headers.get('location');
    return new ChannelError(
      `${service} answered a redirect (HTTP ${status}${where ? ` to ${originOf(where)}` : ''}): configure the final URL`,
      false,
    );
  }
  return new ChannelError(`${service} refused the request: HTTP ${status}${said}`, false);
}
