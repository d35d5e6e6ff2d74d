import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { describePortOwner, freePort, isPortFree, waitForPort } from './ports';
import { spawnLogged, stopProcess } from './processes';
import { resolveTemporalCli } from './temporal-bin';

/** Custom search attributes opsflow sets on deploy workflows. */
export const OPSFLOW_SEARCH_ATTRIBUTES = ['OpsflowService', 'OpsflowEnvironment', 'OpsflowPhase'] as const;

/**
 * Their types, as `--search-attribute NAME=TYPE` spells them; must match src/shared/search-attributes.ts
 * (a deploy's environments are a list), or the server refuses every workflow start that sets them.
 */
export const OPSFLOW_SEARCH_ATTRIBUTE_TYPES: Record<
  (typeof OPSFLOW_SEARCH_ATTRIBUTES)[number],
  SearchAttributeTypeName
> = {
  OpsflowService: 'Keyword',
  OpsflowEnvironment: 'KeywordList',
  OpsflowPhase: 'Keyword',
};

/** Search attribute types opsflow uses, as the CLI spells them. */
export type SearchAttributeTypeName = 'Keyword' | 'KeywordList';

/** temporal.api.enums.v1.IndexedValueType numbers, as listSearchAttributes reports them. */
export const INDEXED_VALUE_TYPES: Record<SearchAttributeTypeName, number> = { Keyword: 2, KeywordList: 7 };

const INDEXED_VALUE_TYPE_NAMES = ['Unspecified', 'Text', 'Keyword', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'];

/** A persisted database keeps the types it was created with; start-dev does not change them. */
class SearchAttributeTypeMismatch extends Error {}

const HOST = '127.0.0.1';
const NAMESPACE = 'default';

/** Options of {@link startDevServer}; every one has a sensible default for tests. */
/**
 * The server's timer queue reads `history.timerProcessorMaxTimeShift` (1 s by default) ahead, and a timer due before
 * what it has read fires up to that much late. A heartbeat timeout is such a timer, re-armed from each heartbeat: with
 * the default, a worker killed mid-rollback is noticed about 1.9 s after its death and the canary reaches 0 % 2.2-2.8 s
 * after the bad sample; with 10 ms, 1.4-1.7 s (test/integration/rollback-chaos.test.ts, bench "rollback"). `npm start`
 * runs its server so; a cluster sets it in its dynamic config (README: "A dead worker's rollback, promptly").
 */
export const PROMPT_TIMERS = { 'history.timerProcessorMaxTimeShift': '10ms' } as const;

export interface DevServerOptions {
  /** SQLite file that keeps every history across restarts; in memory when absent. */
  dbFile?: string;
  /** Frontend gRPC port; a free one when absent. */
  port?: number;
  /** Web UI port (only with ui); a free one when absent. */
  uiPort?: number;
  /** Serve the Web UI (default false: headless). */
  ui?: boolean;
  /** A codec server the Web UI decodes payloads with (`--ui-codec-endpoint`; only with ui). */
  uiCodecEndpoint?: string;
  /** Appends the server's output here; kept in memory for error messages when absent. */
  logFile?: string;
  /** Extra `--dynamic-config-value KEY=JSON` settings, such as {@link PROMPT_TIMERS}. */
  dynamicConfig?: Record<string, unknown>;
  /** Own process group, so a terminal's Ctrl-C reaches only the parent (for supervisors that stop in order). */
  detached?: boolean;
  /** How long to wait for the namespace to be ready (default 60 s). */
  startTimeoutMs?: number;
  /** Aborting it while starting stops the server and rejects. */
  signal?: AbortSignal;
}

/** A running dev server. */
export interface DevServer {
  /** host:port of the frontend gRPC service, for `Connection.connect({ address })`. */
  address: string;
  /** Web UI URL, or undefined when headless. */
  uiUrl: string | undefined;
  process: ChildProcess;
  /** Resolves with the exit code or signal once the server has exited. */
  exited: Promise<number | NodeJS.Signals>;
  /** SIGTERM, wait for the exit, SIGKILL after 5 s. Safe to call twice. */
  stop(): Promise<void>;
}

async function ensurePortFree(port: number, what: string): Promise<void> {
  if (await isPortFree(port, HOST)) return;
  const owner = await describePortOwner(port);
  throw new Error(`port ${port} (${what}) is already in use${owner ? ` by ${owner}` : ''}`);
}

function devServerArgs(port: number, uiPort: number | undefined, options: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', HOST, '--port', String(port), '--log-level', 'warn'];
  args.push(...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]));
  if (uiPort !== undefined && options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  for (const name of OPSFLOW_SEARCH_ATTRIBUTES) {
    args.push('--search-attribute', `${name}=${OPSFLOW_SEARCH_ATTRIBUTE_TYPES[name]}`);
  }
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {})) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  return args;
}

function checkSearchAttributeTypes(registered: Record<string, number>, dbFile: string | undefined): void {
  for (const name of OPSFLOW_SEARCH_ATTRIBUTES) {
    const wanted = OPSFLOW_SEARCH_ATTRIBUTE_TYPES[name];
    const actual = registered[name];
    if (actual !== undefined && actual !== INDEXED_VALUE_TYPES[wanted]) {
      throw new SearchAttributeTypeMismatch(
        `search attribute ${name} is registered as ${INDEXED_VALUE_TYPE_NAMES[actual] ?? actual} but opsflow needs ${wanted}: ` +
          `delete ${dbFile ?? 'the database'} to start afresh (this erases its histories)`,
      );
    }
  }
}

/** Polls until the default namespace answers and the opsflow search attributes are registered. */
async function waitForNamespace(
  address: string,
  deadline: number,
  signal: AbortSignal,
  dbFile: string | undefined,
): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    signal.throwIfAborted();
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 2000 });
      await connection.workflowService.describeNamespace({ namespace: NAMESPACE });
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
      checkSearchAttributeTypes(customAttributes ?? {}, dbFile);
      const missing = OPSFLOW_SEARCH_ATTRIBUTES.filter((name) => customAttributes?.[name] === undefined);
      if (missing.length === 0) return;
      lastError = new Error(`search attributes not registered yet: ${missing.join(', ')}`);
    } catch (error) {
      if (error instanceof SearchAttributeTypeMismatch) throw error;
      lastError = error;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`namespace "${NAMESPACE}" not ready: ${lastError instanceof Error ? lastError.message : lastError}`);
}

/**
 * Starts `temporal server start-dev` on 127.0.0.1 with the opsflow search attributes and resolves once the
 * frontend accepts connections and the default namespace is ready. Rejects (with the server stopped) when a
 * port is taken, the server exits early, or it is not ready within startTimeoutMs.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const ui = options.ui ?? false;
  const port = options.port ?? (await freePort());
  const uiPort = ui ? (options.uiPort ?? (await freePort())) : undefined;
  await ensurePortFree(port, 'Temporal gRPC');
  if (uiPort !== undefined) await ensurePortFree(uiPort, 'Temporal UI');
  if (options.dbFile) mkdirSync(path.dirname(path.resolve(options.dbFile)), { recursive: true });

  const child = spawnLogged(resolveTemporalCli(), devServerArgs(port, uiPort, options), {
    logFile: options.logFile,
    detached: options.detached,
  });
  const address = `${HOST}:${port}`;
  const stop = () => stopProcess(child, 5000);

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  const abandon = new AbortController();
  const cancelled = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new Error('start of the Temporal dev server was cancelled'));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true, signal: abandon.signal });
  });
  const ready = (async () => {
    await waitForPort(HOST, port, Math.max(0, deadline - Date.now()), abandon.signal);
    await waitForNamespace(address, deadline, abandon.signal, options.dbFile);
  })();
  const died = child.exited.then((status) => {
    const where = options.logFile ? `see ${options.logFile}` : child.tail().trim().split('\n').slice(-5).join(' | ');
    throw new Error(`temporal server start-dev exited (${status}) before it was ready: ${where}`);
  });
  try {
    await Promise.race([ready, died, cancelled]);
  } catch (error) {
    abandon.abort();
    await stop();
    throw error;
  } finally {
    abandon.abort(); // ends the polling and drops the abort listener
    for (const settled of [ready, died, cancelled]) settled.catch(() => undefined);
  }
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://localhost:${uiPort}`,
    process: child.process,
    exited: child.exited,
    stop,
  };
}
