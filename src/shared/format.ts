/** Formatting of figures for people, one place for all: reports, the CLI, the UI's details and the agent's docs. */

/** A ratio as a percentage, "1.25 %"; a missing value as "–". */
export function percent(ratio: number | null | undefined, digits = 2): string {
  if (ratio === null || ratio === undefined) return '–';
  return `${(ratio * 100).toFixed(digits)} %`;
}

/** Milliseconds as a rounded latency, "42 ms"; a missing value as "–". */
export function millis(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return `${Math.round(value)} ms`;
}

/** A metric's value in its unit: a ratio as a percentage, a latency in ms, anything else to three decimals. */
export function formatValue(value: number | null | undefined, unit: 'ratio' | 'ms' | 'value', digits = 2): string {
  if (value === null || value === undefined) return '–';
  if (unit === 'ratio') return percent(value, digits);
  if (unit === 'ms') return millis(value);
  return String(Math.round(value * 1000) / 1000);
}
