/**
 * Steady synthetic traffic through the routers, so canary analysis always has data: the local stand-in for real users
 * (or for Flagger's load tester). Loopback only.
 */
import http from 'node:http';
import type { Logger } from 'pino';

/** Scheduling granularity: requests are spread evenly at this resolution. */
const TICK_MS = 20;
/** A synthetic request gives up after this long; longer than the router's own upstream timeout. */
const REQUEST_TIMEOUT_MS = 15_000;

/** A running generator; `stop()` ends it and closes its connections. */
export interface TrafficGenerator {
  stop(): void;
  /** Requests not sent because too many were in flight (the system under test was too slow to keep up). */
  readonly skipped: number;
}

/**
 * Sends `rps` GET / requests per second to each URL. Bounded: at most a few seconds' worth per URL in flight, and
 * requests over that bound are skipped rather than queued, so a slow release cannot make the platform pile up work.
 */
export function startSyntheticTraffic(options: {
  urls: readonly string[];
  rps: number;
  logger: Logger;
}): TrafficGenerator {
  const { rps, logger } = options;
  const maxInFlight = Math.min(512, Math.max(10, Math.ceil(rps * 5)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });
  const targets = options.urls.map((url) => ({ url, inflight: 0 }));
  const startedAt = Date.now();
  let sent = 0;
  let skipped = 0;

  const send = (target: (typeof targets)[number]) => {
    target.inflight += 1;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      target.inflight -= 1;
    };
    const req = http.get(target.url, {
      agent,
      timeout: REQUEST_TIMEOUT_MS,
      headers: { 'user-agent': 'opsflow-synthetic' },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', finish);
      res.on('close', finish);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', finish);
    req.on('close', finish);
  };

  const timer = setInterval(() => {
    // Due count from elapsed time, not from ticks, so timer drift does not change the rate.
    const due = Math.floor(((Date.now() - startedAt) * rps) / 1_000) - sent;
    if (due <= 0) return;
    sent += due;
    for (const target of targets) {
      const room = Math.max(0, maxInFlight - target.inflight);
      const count = Math.min(due, room);
      for (let i = 0; i < count; i += 1) send(target);
      if (count < due) {
        skipped += due - count;
        logger.debug(
          { url: target.url, skipped: due - count },
          'synthetic traffic skipped: too many requests in flight',
        );
      }
    }
  }, TICK_MS);
  timer.unref();

  logger.info({ rps, routers: targets.length }, 'synthetic traffic started');
  return {
    stop() {
      clearInterval(timer);
      agent.destroy();
    },
    get skipped() {
      return skipped;
    },
  };
}
