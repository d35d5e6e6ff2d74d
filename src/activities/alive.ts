/**
 * Liveness of a running activity: it heartbeats while a target or provider call runs, so a worker that dies mid-call
 * is noticed by the server within the proxy's heartbeat timeout (a second or two) and the call retried on another
 * worker, instead of after the whole start-to-close timeout. The worker sends heartbeats at most every
 * HEARTBEAT_THROTTLE (src/workers/worker.ts), well inside the shortest heartbeat timeout.
 */
import { Context } from '@temporalio/activity';

/** How often a running call says it is alive; the worker's throttle decides how often the server hears it. */
export const ALIVE_EVERY_MS = 200;

/** Runs `call`, heartbeating now and every {@link ALIVE_EVERY_MS} until it settles. Outside an activity: just runs it. */
export async function keepAlive<T>(call: () => Promise<T>): Promise<T> {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return call();
  }
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), ALIVE_EVERY_MS);
  try {
    return await call();
  } finally {
    clearInterval(timer);
  }
}
