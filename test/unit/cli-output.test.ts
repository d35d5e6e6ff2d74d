/* eslint-disable no-control-regex -- the test looks for control characters */
/**
 * The CLI prints no terminal escape sequences from untrusted text (workflow ids, comments, reasons, LLM text).
 * Run: node --import tsx --test test/unit/cli-output.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { print, printJson, terminalSafe } from '../../src/cli/output';

/** What `body` writes to stdout. */
function captured(body: () => void): string {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    body();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

const HOSTILE = 'ok\u001b[2J\u001b]0;pwned\u0007 \u009b31m red\u0008\u202e\tdone\nnext';

describe('CLI output', () => {
  it('strips escape sequences and control characters, keeping newlines and tabs', () => {
    assert.equal(terminalSafe(HOSTILE), 'ok[2J]0;pwned 31m red\tdone\nnext');
    const out = captured(() => print(HOSTILE));
    assert.equal(out, 'ok[2J]0;pwned 31m red\tdone\nnext\n');
    assert.doesNotMatch(out, /[\u001b\u0007\u009b\u0008\u202e]/);
  });

  it('prints JSON with every control character escaped', () => {
    const out = captured(() => printJson({ reason: HOSTILE }));
    assert.doesNotMatch(out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    assert.deepEqual(JSON.parse(out), { reason: HOSTILE });
  });
});
