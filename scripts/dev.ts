// `npm start`: the whole local stack (Temporal dev server with UI, local platform, opsflow worker) in one
// terminal, supervised, the platform and worker compiled (built first when stale). Ctrl-C stops it in order;
// histories persist in .opsflow/temporal.db.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load';
import { createKeyPair } from '../src/keys/keys';
import type { OpsflowConfig } from '../src/config/schema';
import { codecKeysFromEnv, type CodecKeyring } from '../src/temporal/codec-keys';
import { PROMPT_TIMERS, startDevServer } from '../src/tooling/dev-server';
import { describePortOwner, isPortFree, waitForPort } from '../src/tooling/ports';
import { spawnLogged, stopProcess, type LoggedProcess } from '../src/tooling/processes';
import { REPO_ROOT } from '../src/tooling/temporal-bin';
import { build } from './build';

const STATE_DIR = path.join(REPO_ROOT, '.opsflow');
const LOG_DIR = path.join(STATE_DIR, 'logs');

interface DevOptions {
  port: number;
  uiPort: number;
  /** The codec server's port, used only when a payload codec key is configured. */
  codecPort: number;
  /** Absolute path of the opsflow configuration. */
  config: string;
}

/** A started part of the stack, as the supervisor sees it. */
interface Part {
  name: string;
  logFile: string;
  exited: Promise<unknown>;
  stop(): Promise<void>;
}

/** Owns the started parts: notices one dying, stops them all in reverse order. */
class Supervisor {
  readonly shutdown = new AbortController();
  failure: string | undefined;
  private readonly parts: Part[] = [];
  private stopping = false;

  add(part: Part): void {
    this.parts.push(part);
    void part.exited.then((status) => {
      if (this.stopping) return;
      this.fail(`${part.name} exited unexpectedly (${describeExit(status)}); see ${relative(part.logFile)}`);
    });
  }

  /** Records the first failure, says it at once, and starts the shutdown. */
  fail(message: string): void {
    if (this.failure !== undefined) return;
    this.failure = message;
    console.error(`opsflow: ${message}`);
    this.shutdown.abort();
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const part of [...this.parts].reverse()) {
      console.log(`opsflow: stopping ${part.name}`);
      await part.stop();
    }
  }
}

function describeExit(status: unknown): string {
  return typeof status === 'number' ? `exit code ${status}` : `signal ${String(status)}`;
}

function relative(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

function parseOptions(argv: string[]): DevOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '7233' },
      'ui-port': { type: 'string', default: '8233' },
      'codec-port': { type: 'string', default: '8888' },
      config: { type: 'string', short: 'c', default: 'opsflow.yaml' },
    },
  });
  const port = (flag: string, value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new Error(`--${flag} must be a port number, got "${value}"`);
    return n;
  };
  return {
    port: port('port', values.port),
    uiPort: port('ui-port', values['ui-port']),
    codecPort: port('codec-port', values['codec-port']),
    config: path.resolve(values.config),
  };
}

/** Waits ms, or rejects as soon as the stack is shutting down. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('stopping'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('stopping'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Spawns `node <compiled script> ...args` from the repo root as a supervised, logged part. */
function startNodePart(
  supervisor: Supervisor,
  name: string,
  args: string[],
  graceMs: number,
  extra: { env?: NodeJS.ProcessEnv; onStdout?: (chunk: string) => void } = {},
): LoggedProcess {
  const logFile = path.join(LOG_DIR, `${name}.log`);
  const child = spawnLogged(process.execPath, ['--enable-source-maps', ...args], {
    cwd: REPO_ROOT,
    logFile,
    detached: true,
    env: { ...process.env, ...extra.env },
    onStdout: extra.onStdout,
  });
  supervisor.add({ name, logFile, exited: child.exited, stop: () => stopProcess(child, graceMs) });
  return child;
}

/**
 * With a payload codec key configured: `opsflow codec-server` for the UI's origin, so the UI shows the encrypted
 * histories decoded (its endpoint is given to the dev server when it starts). Answers the endpoint.
 */
async function startCodecServer(supervisor: Supervisor, options: DevOptions): Promise<string> {
  const origins = [`http://localhost:${options.uiPort}`, `http://127.0.0.1:${options.uiPort}`];
  const args = ['dist/cli/main.js', 'codec-server', '--port', String(options.codecPort), '--quiet'];
  startNodePart(supervisor, 'codec server', [...args, ...origins.flatMap((o) => ['--origin', o])], 5_000);
  await waitForPort('127.0.0.1', options.codecPort, 15_000, supervisor.shutdown.signal);
  const endpoint = `http://127.0.0.1:${options.codecPort}`;
  console.log(`opsflow: codec server ready on ${endpoint} (the UI decodes through it)`);
  return endpoint;
}

async function startTemporal(supervisor: Supervisor, options: DevOptions, uiCodecEndpoint?: string): Promise<string> {
  const logFile = path.join(LOG_DIR, 'temporal.log');
  const server = await startDevServer({
    ui: true,
    ...(uiCodecEndpoint ? { uiCodecEndpoint } : {}),
    port: options.port,
    uiPort: options.uiPort,
    dbFile: path.join(STATE_DIR, 'temporal.db'),
    // A worker that dies mid-rollback is replaced within a heartbeat timeout, not a second later.
    dynamicConfig: PROMPT_TIMERS,
    logFile,
    detached: true,
    signal: supervisor.shutdown.signal,
  });
  supervisor.add({ name: 'Temporal dev server', logFile, exited: server.exited, stop: server.stop });
  console.log(`opsflow: Temporal dev server ready on ${server.address}`);
  return server.address;
}

async function waitForHealthz(url: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) })
      .then(async (response) => {
        await response.body?.cancel();
        return response.ok;
      })
      .catch(() => false);
    if (ok) return;
    signal.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`the local platform did not answer ${url} within ${timeoutMs / 1000} s`);
    await sleep(200, signal);
  }
}

type PlatformConfig = OpsflowConfig['platform']['local'];

async function startPlatform(supervisor: Supervisor, options: DevOptions, platform: PlatformConfig): Promise<void> {
  startNodePart(
    supervisor,
    'platform',
    [
      'dist/local-platform/main.js',
      '--config',
      options.config,
      '--state-dir',
      path.join(STATE_DIR, 'platform'),
      '--log-file',
      path.join(LOG_DIR, 'platform.log'),
    ],
    10_000,
  );
  const host = platform.host.includes(':') ? `[${platform.host}]` : platform.host;
  const url = `http://${host}:${platform.port}`;
  await waitForHealthz(`${url}/healthz`, 60_000, supervisor.shutdown.signal);
  console.log(`opsflow: local platform ready on ${url}`);
}

/** Up once it says "worker running" (after at least 1 s) or has stayed alive for 2 s, whichever is first. */
async function startWorker(supervisor: Supervisor, options: DevOptions, temporalAddress: string): Promise<void> {
  let said = '';
  startNodePart(supervisor, 'worker', ['dist/workers/main.js', '--config', options.config], 15_000, {
    env: { TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_NAMESPACE: 'default' },
    onStdout: (chunk) => {
      said = (said + chunk).slice(-200);
    },
  });
  await sleep(1000, supervisor.shutdown.signal);
  for (let waited = 1000; waited < 2000 && !said.includes('worker running'); waited += 100) {
    await sleep(100, supervisor.shutdown.signal);
  }
  console.log('opsflow: worker started');
}

/**
 * The demo's signing keys: each person of the policy whose public key file is under .opsflow/keys and missing gets a
 * fresh key pair there, and says so. Keys elsewhere are never made here: they are people's own.
 */
function ensureDemoKeys(configFile: string): void {
  const { config, path: configPath } = loadConfig(configFile);
  const keysDir = path.resolve(REPO_ROOT, '.opsflow', 'keys');
  const made: string[] = [];
  for (const [person, entry] of Object.entries(config.policy?.people ?? {})) {
    if (!entry.keyFile) continue;
    const file = path.resolve(path.dirname(configPath), entry.keyFile);
    if (path.dirname(file) !== keysDir || existsSync(file)) continue;
    createKeyPair(keysDir, person);
    made.push(person);
  }
  if (made.length) {
    console.log(
      `opsflow: created demo signing keys (OpenSSH ed25519) for ${made.join(', ')} in ${relative(keysDir)} ` +
        '(the CLI signs starts and decisions with them)',
    );
  }
}

/** Fails before anything starts when a port is taken, naming what holds it when that is easy to tell. */
async function checkPorts(options: DevOptions, platform: PlatformConfig, codec: boolean): Promise<void> {
  const wanted = [
    { port: options.port, what: 'Temporal gRPC', hint: 'pass --port' },
    { port: options.uiPort, what: 'Temporal UI', hint: 'pass --ui-port' },
    { port: platform.port, what: 'local platform', hint: 'change platform.local.port in the config' },
    ...(codec ? [{ port: options.codecPort, what: 'codec server', hint: 'pass --codec-port' }] : []),
  ];
  for (const { port, what, hint } of wanted) {
    if (await isPortFree(port)) continue;
    const owner = await describePortOwner(port);
    throw new Error(`port ${port} (${what}) is already in use${owner ? ` by ${owner}` : ''}; stop it or ${hint}`);
  }
}

function printNextSteps(options: DevOptions, codecKeys: CodecKeyring | undefined): void {
  const prefix = options.port === 7233 ? '' : `TEMPORAL_ADDRESS=127.0.0.1:${options.port} `;
  const lines = [
    '',
    `Temporal UI: http://localhost:${options.uiPort}`,
    ...(codecKeys
      ? [
          `Payloads:    encrypted with key "${codecKeys.current.id}" (${codecKeys.source}); the UI decodes through ` +
            `http://127.0.0.1:${options.codecPort}, the CLI needs the same setting`,
        ]
      : []),
    `Logs:        ${relative(LOG_DIR)}/{temporal,platform,worker}.log`,
    '',
    'Next, in another terminal:',
    `  ${prefix}npx opsflow deploy start --service hello --version 1.1.0 --requested-by carol`,
    `  ${prefix}npx opsflow deploy approve <workflow-id> --by alice --comment "looks good"`,
    `  ${prefix}npx opsflow deploy watch <workflow-id>`,
    `  ${prefix}npx opsflow deploy pause|resume|promote|abort <workflow-id> --by alice   # while the canary runs`,
    '',
    'A faulty release, caught by the health analysis and rolled back automatically:',
    `  ${prefix}npx opsflow deploy start --service hello --version 1.2.0 --requested-by carol`,
    '',
    'Ctrl-C stops everything; histories are kept in .opsflow/temporal.db.',
  ];
  console.log(lines.join('\n'));
}

/** First SIGINT/SIGTERM/SIGHUP stops the stack gracefully; a second Ctrl-C kills it at once. */
function handleSignals(supervisor: Supervisor): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (supervisor.shutdown.signal.aborted) {
      if (signal === 'SIGINT') {
        console.error('opsflow: killing everything now');
        process.exit(1); // the exit hook in src/tooling/processes.ts SIGKILLs every child
      }
      return;
    }
    console.log(`\nopsflow: ${signal} received, stopping (Ctrl-C again to kill at once)`);
    supervisor.shutdown.abort();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function main(): Promise<number> {
  const supervisor = new Supervisor();
  handleSignals(supervisor);
  try {
    const options = parseOptions(process.argv.slice(2));
    // A broken config or a taken port fails here, in one line, before anything starts.
    const platform = loadConfig(options.config).config.platform.local;
    // Payload encryption only when a codec key is configured (docs/encryption.md); wrong settings fail here.
    const codecKeys = codecKeysFromEnv();
    await checkPorts(options, platform, codecKeys !== undefined);
    ensureDemoKeys(options.config);
    await build();
    const uiCodecEndpoint = codecKeys ? await startCodecServer(supervisor, options) : undefined;
    const address = await startTemporal(supervisor, options, uiCodecEndpoint);
    await startPlatform(supervisor, options, platform);
    await startWorker(supervisor, options, address);
    printNextSteps(options, codecKeys);
    await untilAborted(supervisor.shutdown.signal);
  } catch (error) {
    if (!supervisor.shutdown.signal.aborted) supervisor.fail(error instanceof Error ? error.message : String(error));
  } finally {
    await supervisor.stopAll();
  }
  if (supervisor.failure !== undefined) return 1;
  console.log('opsflow: stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`opsflow: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
