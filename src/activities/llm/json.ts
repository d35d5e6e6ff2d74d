/** Pulls the JSON object out of a model's answer: bare, fenced in ```json, or with prose around it. */
export function extractJson(text: string): { ok: true; value: unknown } | { ok: false; issue: string } {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  const candidate = fenced?.[1] ?? text;
  const start = candidate.indexOf('{');
  const end = candidate.lastIndexOf('}');
  if (start < 0 || end < start) return { ok: false, issue: 'the answer holds no JSON object' };
  try {
    return { ok: true, value: JSON.parse(candidate.slice(start, end + 1)) as unknown };
  } catch (err) {
    return { ok: false, issue: `the JSON does not parse: ${(err as Error).message}` };
  }
}
