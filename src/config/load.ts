import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { configSchema, type OpsflowConfig } from './schema';
import { legacyFailureLimitNote } from '../shared/analysis-config';
import { describeIssue } from '../shared/validation';
import { ConfigError } from './errors';

export { ConfigError };

export const DEFAULT_CONFIG_FILE = 'opsflow.yaml';

const printedNotes = new Set<string>();

/**
 * A note for a person at a terminal, once per process: not into pipes, where a tool or a test reads one line of error
 * (the notes are in loadConfig's answer for them).
 */
function printNote(note: string): void {
  if (!process.stderr.isTTY || printedNotes.has(note)) return;
  printedNotes.add(note);
  process.stderr.write(`opsflow: note: ${note}\n`);
}

/**
 * Reads and validates opsflow.yaml (or `file`), resolved against `cwd`. `notes` are lines for people about how the
 * config was read (an old setting kept in its old meaning); each is also passed to `onNote`, which by default prints
 * it on stderr when that is a terminal, once per process.
 */
export function loadConfig(
  file: string | undefined,
  cwd = process.cwd(),
  onNote: (note: string) => void = printNote,
): { config: OpsflowConfig; path: string; notes: string[] } {
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
  const notes = configNotes(raw);
  for (const note of notes) onNote(note);
  return { config: result.data, path: configPath, notes };
}

/** What a person should know about how a valid config was read: one line per setting kept in an old meaning. */
function configNotes(raw: unknown): string[] {
  const environments = (raw as { environments?: unknown } | null)?.environments;
  if (typeof environments !== 'object' || environments === null) return [];
  return Object.entries(environments).flatMap(([name, env]) => {
    const note = legacyFailureLimitNote((env as { analysis?: unknown } | null)?.analysis, `environments.${name}`);
    return note ? [note] : [];
  });
}
