// A node:test reporter beside the spec reporter in `npm test`: how long each test file took, as JSON
// ({ "<file>": seconds }), so the next run on this machine starts the longest files first (scripts/test).
// A file's time is the sum of its top-level tests' durations; it ignores the file process's start-up, which is
// about the same for every file.
import path from 'node:path';
import process from 'node:process';

export default async function* testTimes(source) {
  const seconds = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { file, nesting, details } = event.data;
    if (!file || nesting !== 0 || typeof details?.duration_ms !== 'number') continue;
    const name = path.relative(process.cwd(), file);
    seconds[name] = Math.round(((seconds[name] ?? 0) + details.duration_ms / 1000) * 10) / 10;
  }
  yield `${JSON.stringify(seconds, null, 2)}\n`;
}
