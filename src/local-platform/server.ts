/**
 * Starts the local platform in this process: its releases, routers and traffic, and the control API. `main.ts` wraps
 * it as a command; tests and the benchmark call it directly.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { OpsflowConfig } from '../config/schema';
import { controlApi } from './control-api';
import { LocalPlatform } from './platform';
import { httpUrl } from './router';
import { ensureToken } from './token';

/** Options of {@link startLocalPlatform}; port and host default to `config.platform.local`. */
export interface LocalPlatformOptions {
  config: OpsflowConfig;
  /** Control API port; 0 lets the OS choose (read it back from `url`). */
  port?: number;
  host?: string;
  /** Folder of state.json, created when missing. */
  stateDir: string;
  /** The control API's bearer token file (0600), created when missing; `<stateDir>/token` unless set. */
  tokenFile?: string;
  /** Folder the service commands run in, so relative paths in them resolve; defaults to the current folder. */
  cwd?: string;
  logger?: Logger;
  /** Time a release has to print its port and answer its health check; 15 s unless set. */
  readyTimeoutMs?: number;
}

/** A running platform. */
export interface RunningPlatform {
  /** Base URL of the control API, e.g. http://127.0.0.1:7070. */
  url: string;
  /** The file holding the control API's bearer token. */
  tokenFile: string;
  /** Stops the control API, the traffic, the routers and every service process. */
  close(): Promise<void>;
}

/**
 * Starts the local platform and resolves once every release answers and the control API listens. Rejects (having
 * stopped whatever it started) when a release does not start or the port is taken.
 */
export async function startLocalPlatform(options: LocalPlatformOptions): Promise<RunningPlatform> {
  const { config } = options;
  const host = options.host ?? config.platform.local.host;
  const port = options.port ?? config.platform.local.port;
  const logger = options.logger ?? pino({ name: 'local-platform' });

  const platform = await LocalPlatform.start({
    config,
    host,
    stateDir: options.stateDir,
    cwd: options.cwd ?? process.cwd(),
    logger,
    readyTimeoutMs: options.readyTimeoutMs,
  });
  const tokenFile = path.resolve(options.tokenFile ?? path.join(options.stateDir, 'token'));
  let hosts: string[] = [];
  let token: string;
  try {
    token = ensureToken(tokenFile);
  } catch (err) {
    await platform.close();
    throw new Error(`cannot create the platform token ${tokenFile}: ${(err as Error).message}`);
  }
  const server = http.createServer(controlApi(platform, logger, { token, hosts: () => hosts }));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    await platform.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new Error(`port ${port} on ${host} is in use: is another local platform running? stop it or pass --port`);
    }
    throw err;
  }

  const listening = (server.address() as AddressInfo).port;
  hosts = loopbackHosts(host, listening);
  const url = httpUrl(host, listening);
  const routers = Object.fromEntries(
    platform.state().environments.map((t) => [`${t.environment}/${t.service}`, `${t.routerUrl} (${t.stable.version})`]),
  );
  logger.info({ url, routers, tokenFile }, 'local platform ready');

  let closing: Promise<void> | undefined;
  return {
    url,
    tokenFile,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await platform.close();
        await closed;
        logger.info('local platform stopped');
      })();
      return closing;
    },
  };
}

/** The Host values a loopback client sends: 127.0.0.1 and localhost, and [::1] when the platform listens there. */
function loopbackHosts(host: string, port: number): string[] {
  const names = ['127.0.0.1', 'localhost'];
  if (host === '::1' || host === 'localhost') names.push('[::1]');
  return names.map((name) => `${name}:${port}`);
}
