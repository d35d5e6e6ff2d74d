import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Parses "500ms", "5s", "2m", "24h" or "1d" to milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = PATTERN.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  return Math.round(Number(amount) * (UNITS[unit ?? ''] ?? NaN));
}

/** Formats milliseconds for people: 850ms, 12.4s, 3m 20s, 2h 5m. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const totalSeconds = Math.round(ms / 1_000);
  if (totalSeconds < 3_600) {
    const seconds = totalSeconds % 60;
    return `${Math.floor(totalSeconds / 60)}m${seconds ? ` ${seconds}s` : ''}`;
  }
  const minutes = Math.floor(totalSeconds / 60) % 60;
  return `${Math.floor(totalSeconds / 3_600)}h${minutes ? ` ${minutes}m` : ''}`;
}

/** A duration in config: a string such as "30s" or a number of milliseconds; parsed to milliseconds. */
export const durationSchema = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a duration: use a number with ms, s, m, h or d, e.g. "30s"`,
    });
    return z.NEVER;
  }
  return ms;
});
