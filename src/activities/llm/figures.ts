/** Numbers written in text, skipping ones glued to letters (p95, 5xx, P1) and list markers. */
export function numbersIn(text: string): number[] {
  const cleaned = text.replace(/^\s*\d+[.)]\s/gm, ' ');
  const out: number[] = [];
  for (const match of cleaned.matchAll(/(?<![A-Za-z0-9._])\d+(?:[.,]\d+)?(?![A-Za-z0-9_])/g)) {
    out.push(Number(match[0].replace(',', '.')));
  }
  return out;
}

function collect(value: unknown, into: number[]): void {
  if (typeof value === 'number' && Number.isFinite(value)) into.push(value);
  else if (typeof value === 'string') into.push(...numbersIn(value.replace(/[-:T]/g, ' ')));
  else if (Array.isArray(value)) for (const v of value) collect(v, into);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collect(v, into);
}

/** Ways a fact may be written: as is, as a percentage of a ratio, ms as seconds or minutes. */
function forms(fact: number): number[] {
  return [fact, fact * 100, fact / 1000, fact / 60_000, Math.abs(fact)];
}

/** Small counts and ordinals a text may use without a source ("two of the", "step 1"). */
const FREE = 5;

/**
 * The numbers in a narrative that no fact accounts for. A figure matches a fact written as is, as a
 * percentage, or converted from ms, within 1 % (rounding); integers up to 5 are free.
 */
export function unsupportedFigures(text: string, facts: unknown): number[] {
  const known: number[] = [];
  collect(facts, known);
  const candidates = known.flatMap(forms);
  return numbersIn(text).filter((n) => {
    if (Number.isInteger(n) && n <= FREE) return false;
    return !candidates.some((g) => Math.abs(n - g) <= Math.max(0.01, Math.abs(g) * 0.01));
  });
}
