import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { LocalPlatformClient } from '../src/local-platform/client';
import { freePort } from '../src/tooling/ports';
import { spawnLogged, stopProcess } from '../src/tooling/processes';
import { REPO_ROOT } from '../src/tooling/temporal-bin';
import { benchConfig, sleep, type ProductionSettings } from './harness';

/** The local platform running as its own process, as `npm run platform` runs it. */
export interface RunningPlatform {
  url: string;
  client: LocalPlatformClient;
  stop(): Promise<void>;
}

const TSX = ['--import', pathToFileURL(require.resolve('tsx')).href];

/**
 * Writes the benchmark's opsflow.yaml into `dir` and starts src/local-platform/main.ts there on a free loopback port;
 * resolves once its control API answers.
 */
export async function startPlatform(
  dir: string,
  production: ProductionSettings,
  trafficRps: number,
): Promise<RunningPlatform> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  writeFileSync(path.join(dir, 'opsflow.yaml'), stringify(benchConfig(production, { port, trafficRps })));
  const child = spawnLogged(
    process.execPath,
    [...TSX, path.join(REPO_ROOT, 'src/local-platform/main.ts'), '--config', 'opsflow.yaml', '--log-level', 'warn'],
    { cwd: dir, logFile: path.join(dir, 'platform.log') },
  );
  const url = `http://127.0.0.1:${port}`;
  const tokenFile = path.join(dir, '.opsflow/platform/token');
  const client = new LocalPlatformClient(url, { timeoutMs: 2_000, tokenFile });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (
      await client.health().then(
        () => true,
        () => false,
      )
    )
      break;
    if (child.process.exitCode !== null || Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`the local platform did not start; see ${path.join(dir, 'platform.log')}`);
    }
    await sleep(100);
  }
  return { url, client: new LocalPlatformClient(url, { tokenFile }), stop: () => stopProcess(child, 10_000) };
}
