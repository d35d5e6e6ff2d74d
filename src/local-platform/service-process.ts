/**
 * One running instance of a service version: a real OS process on a loopback port.
 *
 * The contract with the service: env PORT=0 (pick any free port), VERSION, SERVICE, ENVIRONMENT; print one JSON line
 * `{"listening":<port>}` on stdout when ready (no port races); exit when stdin closes, so a SIGKILLed platform leaves no
 * orphans, and on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';

/** Host the services bind and the router dials. */
export const UPSTREAM_HOST = '127.0.0.1';

const STDERR_TAIL_LINES = 20;

/**
 * What a service inherits from the platform's environment unless its config names more (`passEnv`): enough to find
 * programs, a home, a locale and a time zone; never the worker's keys (OPENAI_API_KEY, TEMPORAL_API_KEY, ...).
 */
export const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

/** What to run and how long to wait for it. */
export interface SpawnOptions {
  command: readonly string[];
  /** Variables from the service's config, as written. */
  env?: Readonly<Record<string, string>>;
  /** Names of the platform's own variables the service also gets. */
  passEnv?: readonly string[];
  cwd: string;
  environment: string;
  service: string;
  version: string;
  healthPath: string;
  /** Time for the process to print its port and answer 200 on `healthPath`. */
  readyTimeoutMs: number;
  logger: Logger;
}

/** A service process that failed to become ready; `stderrTail` is what it printed last. */
export class StartError extends Error {
  override name = 'StartError';

  constructor(
    message: string,
    readonly stderrTail: string[],
  ) {
    super(message);
  }
}

/** A ready service process: its version, port and pid, and how to stop it. */
export class ServiceProcess {
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;
  private stopping = false;

  constructor(
    private readonly child: ChildProcess,
    readonly version: string,
    readonly port: number,
    private readonly stderr: string[],
    private readonly logger: Logger,
  ) {
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        this.exitCode = code;
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode);
      else child.once('exit', done);
    });
    void this.exited.then(() => {
      // An instance dying on its own is worth an alert: its share of traffic now gets 502s.
      if (!this.stopping) {
        this.logger.error({ code: this.exitCode, stderr: this.stderrTail() }, 'service exited unexpectedly');
      }
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  stderrTail(): string[] {
    return [...this.stderr];
  }

  /** SIGTERM (and stdin closed), then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 3_000): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    this.child.stdin?.end();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
    this.logger.info({ code: this.exitCode }, 'service stopped');
  }
}

/** A service's whole environment: the allow-list and `passEnv` from `parent`, its config's `env`, then the platform's. */
export function serviceEnvironment(
  options: Pick<SpawnOptions, 'env' | 'passEnv' | 'version' | 'service' | 'environment'>,
  parent: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...INHERITED_ENV, ...(options.passEnv ?? [])]) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, options.env);
  return { ...env, PORT: '0', VERSION: options.version, SERVICE: options.service, ENVIRONMENT: options.environment };
}

/**
 * Starts service processes and remembers every one still alive, so closing the platform stops them all, including
 * one still on its way up.
 */
export class ProcessSupervisor {
  /** Children still alive, with their ServiceProcess once ready. */
  private readonly children = new Map<ChildProcess, ServiceProcess | undefined>();

  /** Starts one instance and resolves once it listens and answers its health check; rejects with a StartError. */
  async start(options: SpawnOptions): Promise<ServiceProcess> {
    const [program, ...args] = options.command;
    if (!program) throw new StartError('the service command is empty', []);
    const child = spawn(resolveProgram(program), args, {
      cwd: options.cwd,
      env: serviceEnvironment(options),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.children.set(child, undefined);
    child.once('exit', () => this.children.delete(child));
    // A program that cannot be run (ENOENT) never spawns and may never emit 'exit'.
    child.once('error', () => child.pid === undefined && this.children.delete(child));
    // A service that exits without reading stdin makes our writes fail with EPIPE; that is not the platform's error.
    child.stdin?.on('error', () => undefined);

    const logger = options.logger.child({ childPid: child.pid });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > STDERR_TAIL_LINES) stderr.shift();
      logger.warn({ stderr: line }, 'service stderr');
    });

    try {
      const port = await waitUntilReady(child, options, stderr);
      logger.info({ port }, 'service ready');
      const instance = new ServiceProcess(child, options.version, port, stderr, logger);
      if (this.children.has(child)) this.children.set(child, instance);
      return instance;
    } catch (err) {
      child.stdin?.end();
      child.kill('SIGKILL');
      throw err;
    }
  }

  /** Stops every process still alive, all at once. */
  async stopAll(graceMs = 3_000): Promise<void> {
    await Promise.all(
      [...this.children].map(([child, instance]) => {
        if (instance) return instance.stop(graceMs);
        // Still starting: its start() rejects once it exits.
        return new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        });
      }),
    );
  }
}

/** `node` means the Node binary running the platform, so services do not depend on which node is first in PATH. */
function resolveProgram(program: string): string {
  return program === 'node' ? process.execPath : program;
}

async function waitUntilReady(child: ChildProcess, options: SpawnOptions, stderr: string[]): Promise<number> {
  const label = `${options.service} ${options.version}`;
  const deadline = Date.now() + options.readyTimeoutMs;
  const fail = (reason: string) =>
    new StartError(`${label} did not start in ${options.environment}: ${reason}`, stderr);

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(fail(`no {"listening":<port>} line on stdout within ${options.readyTimeoutMs} ms`)),
      options.readyTimeoutMs,
    );
    const lines = createInterface({ input: child.stdout! });
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      action();
    };
    lines.on('line', (line) => {
      if (settled) return options.logger.debug({ stdout: line }, 'service stdout');
      const listening = parseListening(line);
      if (listening !== undefined) settle(() => resolve(listening));
      else options.logger.debug({ stdout: line }, 'service stdout');
    });
    child.once('error', (err) =>
      settle(() => reject(fail(`cannot run ${JSON.stringify(options.command[0])}: ${err.message}`))),
    );
    child.once('exit', (code, signal) =>
      settle(() => reject(fail(`exited (${signal ?? `code ${code}`}) before printing {"listening":<port>}`))),
    );
  });

  const url = `http://${UPSTREAM_HOST}:${port}${options.healthPath}`;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw fail(`exited after listening on port ${port}`);
    last = await probe(url);
    if (last === '200') return port;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw fail(`${url} did not answer 200 within ${options.readyTimeoutMs} ms (last: ${last})`);
}

function parseListening(line: string): number | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null || !('listening' in value)) return undefined;
    const port = value.listening;
    return typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65_536 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** One health probe: the status code as text, or the network error. */
function probe(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
