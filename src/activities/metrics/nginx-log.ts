/**
 * The `nginx-log` metrics provider: nginx's own access log, one JSON line per request, as examples/nginx writes it
 * (`log_format ... escape=json`, the version from a `map` of `$upstream_addr`). Every request that went through the
 * proxy is counted; nothing is sampled. Fine for one proxy and a log of a few MB; for more, use Prometheus. Latencies
 * are nginx's $request_time, reported as percentiles and as a histogram in the fixed LATENCY_BUCKETS_MS buckets.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { MetricsWindow } from '../../shared/analysis';
import { histogramOf } from '../../shared/statistics';
import { MetricsQueryError, type MetricsProvider, type MetricsQuery } from './contract';

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const PATH_PLACEHOLDERS = ['service', 'environment'];

/** `metrics.nginxLog` in opsflow.yaml. */
export const nginxLogConfigSchema = z
  .object({
    /** The access log of an environment: {{service}} and {{environment}} are filled in; relative to the worker's folder. */
    path: z
      .string()
      .min(1)
      .superRefine((template, ctx) => {
        for (const [whole, name] of template.matchAll(PLACEHOLDER)) {
          if (!PATH_PLACEHOLDERS.includes(name ?? '')) {
            ctx.addIssue({ code: 'custom', message: `unknown placeholder ${whole}: use {{service}}, {{environment}}` });
          }
        }
      }),
    /** How much of the log's end is read per sample; older lines are outside any window worth judging. */
    maxBytes: z
      .number()
      .int()
      .min(1_024)
      .default(16 * 1024 * 1024),
  })
  .strict();
export type NginxLogConfig = z.infer<typeof nginxLogConfigSchema>;

/** One request as the log_format writes it; lines of other shapes are skipped. */
const lineSchema = z.object({
  /** $msec: epoch seconds with milliseconds. */
  time: z.number(),
  service: z.string(),
  environment: z.string(),
  version: z.string(),
  status: z.number().int(),
  /** $request_time: seconds with milliseconds, from the first byte read to the last byte sent. */
  requestTime: z.number(),
});

export class NginxLogMetrics implements MetricsProvider {
  constructor(
    private readonly config: NginxLogConfig,
    private readonly baseDir = process.cwd(),
  ) {}

  async window(query: MetricsQuery): Promise<MetricsWindow> {
    if (query.custom?.length) {
      throw new MetricsQueryError('the nginx-log provider has no custom metrics: use provider: prometheus for them');
    }
    const file = path.resolve(
      this.baseDir,
      this.config.path.replace(PLACEHOLDER, (whole, name: string) =>
        name === 'service' ? query.service : name === 'environment' ? query.environment : whole,
      ),
    );
    const since = Date.now() - query.windowMs;
    const latencies: number[] = [];
    let errors = 0;
    for (const line of (await tail(file, this.config.maxBytes)).split('\n')) {
      const request = parseLine(line);
      if (!request || request.time * 1_000 < since) continue;
      if (request.service !== query.service || request.environment !== query.environment) continue;
      if (request.version !== query.version) continue;
      latencies.push(request.requestTime * 1_000);
      if (request.status >= 500) errors += 1;
    }
    latencies.sort((a, b) => a - b);
    return {
      version: query.version,
      requests: latencies.length,
      errors,
      p95Ms: nearestRank(latencies, 95),
      p99Ms: nearestRank(latencies, 99),
      latency: histogramOf(latencies),
    };
  }
}

/** The last `maxBytes` of a file; a plain Error (retried, then unmeasured) when it cannot be read now. */
async function tail(file: string, maxBytes: number): Promise<string> {
  const { size } = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the nginx access log ${file}: ${err.code ?? err.message}`);
  });
  const start = Math.max(0, size - maxBytes);
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

function parseLine(line: string): z.infer<typeof lineSchema> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = lineSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const value = sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
  return value === undefined ? null : Math.round(value * 100) / 100;
}
