import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fourSteps, quantile, round, sleep, type BaseContext, type BenchResult } from './harness';
import { startPlatform } from './platform';

const RATE = 500;
/** Slices per target: each half a second at 500 req/s with the full run's 2,500 requests per target. */
const SLICES = 10;

/** Latencies (ms) of GET / sent open-loop at `rate` per second for `count` requests, on a keep-alive agent. */
async function load(url: string, rate: number, count: number, agent: http.Agent): Promise<number[]> {
  const latencies: number[] = [];
  let failures = 0;
  const done = new Promise<void>((resolve) => {
    let sent = 0;
    let finished = 0;
    const finish = () => {
      finished += 1;
      if (finished === count) resolve();
    };
    const began = performance.now();
    const timer = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - began) * rate) / 1000)) - sent;
      for (let i = 0; i < due; i += 1) {
        sent += 1;
        const t0 = performance.now();
        const req = http.get(url, { agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - t0);
            else failures += 1;
            finish();
          });
        });
        req.on('error', () => {
          failures += 1;
          finish();
        });
      }
      if (sent >= count) clearInterval(timer);
    }, 1);
  });
  await done;
  if (failures > count / 100) throw new Error(`${failures} of ${count} requests to ${url} failed`);
  return latencies;
}

/**
 * Router overhead: the local platform's weighted router in front of hello 1.0.0 against calling the same hello
 * process directly, at 500 requests per second each, in alternating slices; the added p50 and p99.
 */
export async function router(ctx: BaseContext, perTarget = 2_500): Promise<BenchResult> {
  const platform = await startPlatform(
    path.join(ctx.workdir, 'router'),
    { steps: fourSteps('1m'), interval: '30s' },
    0,
  );
  try {
    const { environments } = await platform.client.state();
    const track = environments[0];
    if (!track) throw new Error('the platform reports no track');
    const targets = { router: `${track.routerUrl}/`, direct: `http://127.0.0.1:${track.stable.port}/` };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const samples: Record<keyof typeof targets, number[]> = { router: [], direct: [] };
    try {
      const warm = Math.round(RATE / 2);
      await load(targets.router, RATE, warm, agent);
      await load(targets.direct, RATE, warm, agent);
      // Short slices in ABBA order (router, direct, direct, router, ...) so drifting machine load hits both alike.
      const slice = Math.ceil(perTarget / SLICES);
      for (let i = 0; i < SLICES * 2; i += 1) {
        const name = i % 4 === 0 || i % 4 === 3 ? 'router' : 'direct';
        samples[name].push(...(await load(targets[name], RATE, slice, agent)));
        await sleep(100);
      }
    } finally {
      agent.destroy();
    }
    const p = (name: keyof typeof targets, q: number) => quantile(samples[name], q);
    const addedP50 = p('router', 0.5) - p('direct', 0.5);
    const addedP99 = p('router', 0.99) - p('direct', 0.99);
    return {
      figures: [
        {
          name: `added p50 at ${RATE} req/s`,
          value: round(addedP50, 3),
          unit: 'ms',
          target: '≤ 1',
          met: addedP50 <= 1,
        },
        { name: `added p99 at ${RATE} req/s`, value: round(addedP99, 3), unit: 'ms' },
      ],
      detail: {
        rate: RATE,
        requestsPerTarget: samples.router.length,
        routerMs: { p50: round(p('router', 0.5), 3), p99: round(p('router', 0.99), 3) },
        directMs: { p50: round(p('direct', 0.5), 3), p99: round(p('direct', 0.99), 3) },
        service: 'examples/hello 1.0.0 (answers after a uniform 2–6 ms)',
      },
    };
  } finally {
    await platform.stop();
  }
}
