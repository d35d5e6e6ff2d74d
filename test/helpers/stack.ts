import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { createKeyPair } from '../../src/keys/keys';
import { LocalPlatformClient } from '../../src/local-platform/client';
import type { DeployStatus } from '../../src/shared/deploy';
import { statusQuery } from '../../src/shared/deploy/messages';
import { dataConverterFromEnv } from '../../src/temporal/codec';
import { CODEC_ENV } from '../../src/temporal/codec-keys';
import { startDevServer, type DevServer } from '../../src/tooling/dev-server';
import { freePort } from '../../src/tooling/ports';
import { resolveTemporalCli } from '../../src/tooling/temporal-bin';

export const REPO = path.resolve(__dirname, '..', '..');

let built: Promise<unknown> | undefined;
/** The stack runs the compiled CLI, platform and worker: build what is stale, once per test process. */
function buildOnce(): Promise<unknown> {
  built ??= promisify(execFile)(process.execPath, [path.join(REPO, 'scripts/build.js')], { cwd: REPO }).catch(
    (err: { stdout?: string; stderr?: string }) => {
      throw new Error(`npm run build failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    },
  );
  return built;
}

/** The opsflow.yaml of a test stack: the example service with short bakes and ports of its own. */
export function stackConfig(platformPort: number, pipeline: string[] = ['staging', 'production']) {
  return {
    project: 'e2e',
    temporal: { taskQueue: 'opsflow-e2e', uiUrl: 'http://localhost:8233' },
    platform: { local: { port: platformPort, trafficRps: 80 } },
    services: {
      hello: {
        command: ['node', path.join(REPO, 'examples/hello/server.js')],
        versions: ['1.0.0', '1.1.0', '1.2.0'],
        initialVersion: '1.0.0',
      },
    },
    pipeline,
    environments: {
      staging: { strategy: 'direct', verify: { duration: '2s' }, analysis: { interval: '1s', minRequests: 20 } },
      production: {
        strategy: 'canary',
        approval: { required: true, approvers: ['alice', 'bob'], timeout: '1h' },
        canary: {
          steps: [
            { weight: 10, bake: '2s' },
            { weight: 50, bake: '2s' },
            { weight: 100, bake: '2s' },
          ],
        },
        analysis: { interval: '1s', minRequests: 5, failureLimit: 2, inconclusiveLimit: 6 },
      },
    },
  };
}

/** A child process whose output is kept for error messages. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Proc {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Stops a process the stack or a test started (SIGKILL after 10 s) and resolves once it has exited. */
export async function stopProcess(proc: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await proc.exited;
  clearTimeout(timer);
}

/** How a test's stack differs from the default one. */
export interface StackOptions {
  ui?: boolean;
  pipeline?: string[];
  /** The local platform's port, when something (a Prometheus) must know it before the stack starts. */
  platformPort?: number;
  /** Changes the generated opsflow.yaml before anything reads it. */
  configure?: (config: ReturnType<typeof stackConfig>) => object;
  /** Extra environment for the worker, the platform and the CLI (e.g. the payload codec's key file). */
  env?: NodeJS.ProcessEnv;
  /** Dynamic config of the dev server (`--dynamic-config-value`). */
  serverConfig?: Record<string, unknown>;
  /** Start the stack's worker (default true); false: the test starts its own with startWorker. */
  worker?: boolean;
  /** The Web UI's port (with ui), when something (a codec server's allowed origin) must know it first. */
  uiPort?: number;
  /** The codec server the Web UI decodes with (with ui). */
  uiCodecEndpoint?: string;
}

/** The whole opsflow stack on loopback: dev server, local platform, worker; and the CLI run in its workdir. */
export class Stack {
  server!: DevServer;
  /** The dev server's SQLite file: every history survives a restart of the server. */
  dbFile!: string;
  platform!: Proc;
  /** The worker started last. */
  worker?: Proc;
  /** Every worker started, stopped with the stack. */
  readonly workers: Proc[] = [];
  workdir!: string;
  platformClient!: LocalPlatformClient;
  env!: NodeJS.ProcessEnv;
  platformPort!: number;
  private serverConfig: Record<string, unknown> | undefined;
  private connection?: Promise<Connection>;

  static async start(options: StackOptions = {}): Promise<Stack> {
    const stack = new Stack();
    try {
      await stack.boot(options);
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  private async boot(options: StackOptions): Promise<void> {
    await buildOnce();
    this.workdir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-e2e-'));
    mkdirSync(path.join(this.workdir, '.opsflow'), { recursive: true });
    this.dbFile = path.join(this.workdir, '.opsflow', 'temporal.db');
    this.serverConfig = options.serverConfig;
    this.server = await startDevServer({
      ui: options.ui ?? false,
      dbFile: this.dbFile,
      ...(this.serverConfig ? { dynamicConfig: this.serverConfig } : {}),
      ...(options.uiPort !== undefined ? { uiPort: options.uiPort } : {}),
      ...(options.uiCodecEndpoint !== undefined ? { uiCodecEndpoint: options.uiCodecEndpoint } : {}),
    });
    const platformPort = options.platformPort ?? (await freePort());
    this.platformPort = platformPort;
    const base = stackConfig(platformPort, options.pipeline);
    const config = withSigningPolicy(options.configure?.(base) ?? base, this.workdir);
    writeFileSync(path.join(this.workdir, 'opsflow.yaml'), stringify(config));
    // The payload codec is on only where a test asks for it (options.env), whatever the shell running the tests says.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !(Object.values(CODEC_ENV) as string[]).includes(name)),
    );
    this.env = {
      ...inherited,
      // The CLI signs decisions with the keys the stack made for the config's approvers, and starts as carol.
      OPSFLOW_KEYS_DIR: path.join(this.workdir, '.opsflow', 'keys'),
      OPSFLOW_USER: STACK_REQUESTER,
      TEMPORAL_ADDRESS: this.server.address,
      TEMPORAL_NAMESPACE: 'default',
      OPSFLOW_LOG_LEVEL: 'debug',
      ...options.env,
    };
    this.platform = start(
      process.execPath,
      [path.join(REPO, 'dist/local-platform/main.js'), '--config', 'opsflow.yaml', '--state-dir', '.opsflow/platform'],
      { cwd: this.workdir, env: this.env },
    );
    this.platformClient = new LocalPlatformClient(`http://127.0.0.1:${platformPort}`, {
      tokenFile: path.join(this.workdir, '.opsflow/platform/token'),
    });
    await waitFor(
      async () => (await this.platformClient.health()).ok,
      20_000,
      () => this.platform.output(),
    );
    if (options.worker ?? true) await this.startWorker();
  }

  /** Starts a worker (dist/workers/main.js with `args`, e.g. its own --config) and resolves once it polls. */
  async startWorker(...args: string[]): Promise<Proc> {
    const worker = start(process.execPath, [path.join(REPO, 'dist/workers/main.js'), ...args], {
      cwd: this.workdir,
      env: this.env,
    });
    this.worker = worker;
    this.workers.push(worker);
    await waitFor(
      async () => worker.output().includes('worker running'),
      30_000,
      () => worker.output(),
    );
    return worker;
  }

  async killWorker(): Promise<void> {
    await stopProcess(this.worker, 'SIGKILL');
  }

  /** Stops the dev server (SIGTERM, as a person would) and resolves once it has exited; histories stay in dbFile. */
  async stopServer(): Promise<void> {
    await this.server.stop();
  }

  /** Starts the dev server again on the same SQLite file and port, so the running worker and CLI reconnect to it. */
  async startServer(): Promise<void> {
    const port = Number(this.server.address.split(':').at(-1));
    this.server = await startDevServer({
      dbFile: this.dbFile,
      port,
      ...(this.serverConfig ? { dynamicConfig: this.serverConfig } : {}),
    });
  }

  /** Runs `opsflow ...` in the stack's workdir and returns its exit code and output. */
  async cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/opsflow.js'), ...args], {
      cwd: this.workdir,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    return { code, stdout, stderr };
  }

  /**
   * A deploy's status from its query, through the test's own client (the stack's Temporal and codec settings): for
   * polling while a test waits, where a CLI process per look costs about a second of CPU. What `deploy status` prints
   * is tested through cli().
   */
  async status(workflowId: string): Promise<DeployStatus> {
    return (await this.client()).workflow.getHandle(workflowId).query(statusQuery);
  }

  /**
   * `opsflow deploy start` of hello `version` (with another opsflow.yaml or a feature), waited for until it asks for
   * approval; answers its workflow id.
   */
  async startDeploy(version: string, options: { config?: string; feature?: string } = {}): Promise<string> {
    const started = await this.cli(
      'deploy',
      'start',
      ...(options.config ? ['--config', options.config] : []),
      '--service',
      'hello',
      '--version',
      version,
      ...(options.feature ? ['--feature', options.feature] : []),
      '--json',
    );
    if (started.code !== 0) throw new Error(`deploy start failed: ${started.stderr}`);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
    await waitFor(async () => (await this.status(workflowId)).phase === 'AWAITING_APPROVAL', 30_000);
    return workflowId;
  }

  /** Resolves once the workflow has closed, however it ended (`deploy watch` returns at its final phase, a moment before). */
  async closed(workflowId: string): Promise<void> {
    await (
      await this.client()
    ).workflow
      .getHandle(workflowId)
      .result()
      .catch(() => undefined);
  }

  private async client(): Promise<Client> {
    this.connection ??= Connection.connect({ address: this.server.address });
    const dataConverter = dataConverterFromEnv(this.env);
    return new Client({ connection: await this.connection, ...(dataConverter ? { dataConverter } : {}) });
  }

  /** Starts a long-running `opsflow ...` (a chat bridge) in the stack's workdir; the caller stops it with stopProcess. */
  startCli(...args: string[]): Proc {
    return start(process.execPath, [path.join(REPO, 'bin/opsflow.js'), ...args], { cwd: this.workdir, env: this.env });
  }

  /** A workflow's history as `temporal workflow show --output json` prints it (the replay tests' format). */
  async historyJson(workflowId: string): Promise<string> {
    const { stdout } = await promisify(execFile)(
      resolveTemporalCli(),
      ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', this.server.address],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout;
  }

  /** With OPSFLOW_RECORD_HISTORIES=1, saves a run's history under test/histories for the replay test. */
  async recordHistory(workflowId: string, name: string): Promise<void> {
    if (process.env['OPSFLOW_RECORD_HISTORIES'] !== '1') return;
    mkdirSync(path.join(REPO, 'test/histories'), { recursive: true });
    writeFileSync(path.join(REPO, 'test/histories', `${name}.json`), await this.historyJson(workflowId));
  }

  async stop(): Promise<void> {
    await this.connection?.then((c) => c.close()).catch(() => undefined);
    await Promise.all(this.workers.map((worker) => stopProcess(worker)));
    await stopProcess(this.platform);
    await this.server?.stop();
    // OPSFLOW_KEEP_E2E=1 keeps the folder (logs, handoff files, screenshots) for a look after a failure.
    if (this.workdir && process.env['OPSFLOW_KEEP_E2E'] !== '1') rmSync(this.workdir, { recursive: true, force: true });
  }
}

/** Polls until `check` is true; the error carries `context()` (a process's output). */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, context?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms (${String(last ?? '')})\n${context?.() ?? ''}`);
}

/** Who starts the stack's deploys unless a test says otherwise: not an approver, so approvals are not self-approvals. */
export const STACK_REQUESTER = 'carol';

/**
 * The worker's policy for a test config without one: every approver of every environment, and the requester, gets a
 * key pair in <workdir>/.opsflow/keys, and the policy lists their public keys, so the CLI's starts and decisions are
 * signed as they are for users.
 */
function withSigningPolicy<T extends { environments?: Record<string, { approval?: { approvers?: string[] } }> }>(
  config: T,
  workdir: string,
): T & { policy?: unknown } {
  if ('policy' in config) return config;
  const approvers = new Set(Object.values(config.environments ?? {}).flatMap((e) => e.approval?.approvers ?? []));
  approvers.add(STACK_REQUESTER);
  const keysDir = path.join(workdir, '.opsflow', 'keys');
  const people: Record<string, { keyFile: string }> = {};
  for (const person of approvers) {
    createKeyPair(keysDir, person);
    people[person] = { keyFile: `.opsflow/keys/${person}.pub` };
  }
  return { ...config, policy: { people } };
}
