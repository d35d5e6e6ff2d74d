import os from 'node:os';

/** An error a person fixes: printed as one line, exit code 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Output for people. */
export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Output for machines. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Who is asking, when no option says: $OPSFLOW_USER, else the login name. */
export function defaultUser(): string {
  return process.env['OPSFLOW_USER'] ?? os.userInfo().username;
}
