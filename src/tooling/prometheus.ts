/**
 * A real Prometheus server for tests and demos: Debian's `prometheus` binary on a free loopback port, with its own
 * generated config (1 s scrapes of the given targets) and a temporary TSDB folder, removed when it stops.
 */
import { accessSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { freePort, waitForPort } from './ports';
import { spawnLogged, stopProcess, type LoggedProcess } from './processes';

const HOST = '127.0.0.1';

/** What to scrape: a `host:port` and the path its metrics are served on. */
export interface ScrapeTarget {
  address: string;
  metricsPath?: string;
  /** The scrape job's name, which becomes the `job` label (default opsflow). */
  job?: string;
}

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  targets: ScrapeTarget[];
  /** Scrape and evaluation interval as Prometheus spells it (default 1s). */
  scrapeInterval?: string;
  /** Listen port; a free one when absent. */
  port?: number;
  /** Record every query Prometheus answers in `queryLogFile` (JSON lines). */
  queryLog?: boolean;
  /** How long to wait for /-/ready (default 30 s). */
  startTimeoutMs?: number;
  /** Keep the data folder after stop (for a look after a failure). */
  keepData?: boolean;
}

/** A running Prometheus. */
export interface PrometheusServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The temporary folder holding prometheus.yml, the TSDB and the query log. */
  dir: string;
  /** JSON lines, one per query answered; only with `queryLog`. */
  queryLogFile: string | undefined;
  process: LoggedProcess;
  /** True once every target has been scraped successfully at least once. */
  targetsUp(): Promise<boolean>;
  /** SIGTERM (Prometheus flushes and exits), SIGKILL after 10 s, then the folder is removed. Safe to call twice. */
  stop(): Promise<void>;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Path of the `prometheus` binary: $PROMETHEUS_BIN, else `prometheus` on PATH; undefined when there is none. */
export function findPrometheus(): string | undefined {
  const fromEnv = process.env['PROMETHEUS_BIN'];
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) throw new Error(`PROMETHEUS_BIN=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir && isExecutableFile(path.join(dir, 'prometheus'))) return path.join(dir, 'prometheus');
  }
  return undefined;
}

/** The prometheus.yml for the targets. */
export function prometheusConfig(
  options: Pick<PrometheusOptions, 'targets' | 'scrapeInterval'>,
  queryLogFile?: string,
) {
  const interval = options.scrapeInterval ?? '1s';
  return {
    global: {
      scrape_interval: interval,
      scrape_timeout: interval,
      evaluation_interval: interval,
      ...(queryLogFile ? { query_log_file: queryLogFile } : {}),
    },
    scrape_configs: options.targets.map((t, i) => ({
      job_name: t.job ?? (options.targets.length > 1 ? `opsflow-${i + 1}` : 'opsflow'),
      metrics_path: t.metricsPath ?? '/metrics',
      static_configs: [{ targets: [t.address] }],
    })),
  };
}

const targetsSchema = z.object({
  status: z.literal('success'),
  data: z.object({ activeTargets: z.array(z.object({ health: z.string(), scrapeUrl: z.string() })) }),
});

async function fetchOk(url: string): Promise<Response | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.ok ? response : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts Prometheus on 127.0.0.1 and resolves once /-/ready answers 200. Rejects (with the server stopped and its
 * folder removed) when the binary is missing, it exits early, or it is not ready in time.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const binary = findPrometheus();
  if (!binary) throw new Error('prometheus not found on PATH: apt-get install prometheus (or set PROMETHEUS_BIN)');
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-prometheus-'));
  const queryLogFile = options.queryLog ? path.join(dir, 'queries.log') : undefined;
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(configFile, stringify(prometheusConfig(options, queryLogFile)));
  const url = `http://${HOST}:${port}`;
  const child = spawnLogged(binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=${HOST}:${port}`,
    '--log.level=warn',
  ]);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopProcess(child, 10_000);
    if (!options.keepData) rmSync(dir, { recursive: true, force: true });
  };
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const abandon = new AbortController();
  const died = child.exited.then((status) => {
    throw new Error(`prometheus exited (${status}) before it was ready: ${child.tail().trim().slice(-500)}`);
  });
  const ready = (async () => {
    await waitForPort(HOST, port, timeoutMs, abandon.signal);
    while (!(await fetchOk(`${url}/-/ready`))) {
      abandon.signal.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`prometheus at ${url} was not ready within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    await Promise.race([ready, died]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    abandon.abort(); // ends the polling of a start that failed
    for (const settled of [ready, died]) settled.catch(() => undefined);
  }
  return {
    url,
    dir,
    queryLogFile,
    process: child,
    stop,
    async targetsUp() {
      const response = await fetchOk(`${url}/api/v1/targets?state=active`);
      if (!response) return false;
      const parsed = targetsSchema.safeParse(await response.json());
      if (!parsed.success) return false;
      const targets = parsed.data.data.activeTargets;
      return targets.length === options.targets.length && targets.every((t) => t.health === 'up');
    },
  };
}
