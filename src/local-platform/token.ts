/**
 * The control API's bearer token: random, kept in a 0600 file in a 0700 folder that the platform creates at start when
 * missing, and that every client (the worker's target and metrics, tests, the benchmark) reads from the same place.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the token lives unless `platform.local.tokenFile` or `--token-file` says otherwise (relative to the cwd). */
export const DEFAULT_TOKEN_FILE = '.opsflow/platform/token';

/** The token in `file`, created (0600, its folder 0700) with 32 random bytes when the file does not exist. */
export function ensureToken(file: string): string {
  const existing = readTokenIfAny(file);
  if (existing) {
    chmodSync(file, 0o600);
    return existing;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/** The token in `file`, or undefined when it does not exist or is empty. */
export function readTokenIfAny(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
