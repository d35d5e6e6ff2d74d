/**
 * Where a channel's credential comes from: a variable of the worker's environment or a file the worker names, never
 * the config itself. Shared by the channel kinds; the value is read when a message is sent (a rotated file is used at
 * once) and never leaves the channel object.
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { ChannelError } from './contract';

/** The worker's environment, as channels read it (tests pass their own). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The name of an environment variable: letters, digits and "_", not starting with a digit. */
export const envVarNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name: letters, digits and "_"');

/** Where one credential is read from. */
export type CredentialSource = { env: string } | { file: string };

/** The source a config names: its file when it gives one, else its variable, else the kind's default variable. */
export function credentialSource(file: string | undefined, envName: string | undefined, fallbackEnv: string) {
  return file !== undefined ? { file } : { env: envName ?? fallbackEnv };
}

/**
 * Reads a credential; a missing or unreadable one is a {@link ChannelError} that no retry fixes, naming the variable
 * or the file (never a value). `what` names it for people: "the webhook secret", "the PagerDuty routing key".
 */
export function readCredential(what: string, source: CredentialSource, env: Env): string {
  if ('env' in source) {
    const value = env[source.env]?.trim();
    if (!value) throw new ChannelError(`${what} is not set: set ${source.env} in the worker's environment`, false);
    return value;
  }
  let text: string;
  try {
    if (!statSync(source.file).isFile()) throw Object.assign(new Error('not a file'), { code: 'not a file' });
    text = readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ChannelError(`${what} file ${source.file} cannot be read: ${code}`, false);
  }
  if (!text) throw new ChannelError(`${what} file ${source.file} is empty`, false);
  return text;
}
