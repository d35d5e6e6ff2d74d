import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { configSchema, type OpsflowConfig } from './schema';
import { describeIssue } from '../shared/validation';
import { ConfigError } from './errors';

export { ConfigError };

export const DEFAULT_CONFIG_FILE = 'opsflow.yaml';

/** Reads and validates opsflow.yaml (or `file`), resolved against `cwd`. */
export function loadConfig(file: string | undefined, cwd = process.cwd()): { config: OpsflowConfig; path: string } {
  const configPath = path.resolve(cwd, file ?? DEFAULT_CONFIG_FILE);
  if (!existsSync(configPath)) {
    throw new ConfigError(
      `${configPath}: no such file; run from a folder with ${DEFAULT_CONFIG_FILE} or pass --config <file>`,
    );
  }
  let raw: unknown;
  try {
    raw = parse(readFileSync(configPath, 'utf8'));
  } catch (err) {
    const detail = err instanceof YAMLParseError ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(`${configPath}: not valid YAML: ${detail}`);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`${configPath}: ${describeIssue(result.error)}`);
  return { config: result.data, path: configPath };
}
