import os from 'node:os';

/** An error a person fixes: printed as one line, exit code 1. */
export class CliError extends Error {
  override name = 'CliError';
}

// C0 controls (newline and tab included), DEL, C1 controls (0x9b is a CSI), the line and paragraph separators, and
// the bidirectional marks, embeddings, overrides and isolates that reorder what a line shows.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Untrusted text as part of one terminal line: every control character is shown escaped, JSON style (`\n`, `\u001b`),
 * so nothing in it can start a line of its own, move the cursor or reorder what follows. Backslashes are left as they
 * are, so escaping twice changes nothing.
 */
export function oneLine(text: string): string {
  return text.replace(CONTROL, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Lines for people, one per argument. What they hold comes from others (workflow ids, names, comments, reasons,
 * timeline messages, server errors, LLM text), so each is shown through `oneLine` and stays one line.
 */
export function print(...lines: string[]): void {
  for (const line of lines) process.stdout.write(`${oneLine(line)}\n`);
}

/** The one line of an error, on stderr, shown through `oneLine` like `print`. */
export function printError(line: string): void {
  process.stderr.write(`${oneLine(line)}\n`);
}

/** Output for machines: JSON escapes C0 controls itself, and `oneLine` the rest (DEL, C1, separators, bidi) as \uXXXX. */
export function printJson(value: unknown): void {
  process.stdout.write(`${oneLine(JSON.stringify(value))}\n`);
}

/** Who is asking, when no option says: $OPSFLOW_USER, else the login name. */
export function defaultUser(): string {
  return process.env['OPSFLOW_USER'] ?? os.userInfo().username;
}
