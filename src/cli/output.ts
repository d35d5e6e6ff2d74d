import os from 'node:os';

/** An error a person fixes: printed as one line, exit code 1. */
export class CliError extends Error {
  override name = 'CliError';
}

// C0 controls but newline and tab, DEL, C1 controls (0x9b is a CSI), and bidirectional overrides.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Text safe to print to a terminal: control characters (escape sequences) removed, newlines and tabs kept. */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL, '');
}

/** Output for people: workflow ids, comments, reasons and LLM text come from others, so escapes are stripped. */
export function print(line: string): void {
  process.stdout.write(`${terminalSafe(line)}\n`);
}

/** Output for machines: JSON escapes C0 controls itself; DEL and C1 controls are escaped too. */
export function printJson(value: unknown): void {
  const json = JSON.stringify(value).replace(
    /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  process.stdout.write(`${json}\n`);
}

/** Who is asking, when no option says: $OPSFLOW_USER, else the login name. */
export function defaultUser(): string {
  return process.env['OPSFLOW_USER'] ?? os.userInfo().username;
}
