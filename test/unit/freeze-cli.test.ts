import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const REPO = path.join(__dirname, '..', '..');

/** Runs the CLI from source with nothing listening at the Temporal address: a connection error means it got too far. */
async function refused(args: string[], env: Record<string, string | undefined> = {}) {
  const result = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: REPO,
    env: { ...process.env, OPSFLOW_USER: undefined, TEMPORAL_ADDRESS: '127.0.0.1:1', ...env },
  }).then(
    () => assert.fail(`${args.join(' ')} succeeded`),
    (err: { code?: number; stderr?: string }) => err,
  );
  assert.equal(result.code, 1, args.join(' '));
  assert.match(result.stderr ?? '', /^opsflow: [^\n]*\n$/, 'one line');
  return result.stderr ?? '';
}

describe('opsflow freeze refuses bad input in one line, before connecting', () => {
  it('start: the environment or --all, a reason, a person', async () => {
    const cases: [string[], RegExp][] = [
      [['freeze', 'start', '--reason', 'outage', '--by', 'alice'], /name the environment with --env <name>, or --all/],
      [
        ['freeze', 'start', '--env', 'production', '--all', '--reason', 'outage', '--by', 'alice'],
        /name the environment with --env <name>, or --all/,
      ],
      [['freeze', 'start', '--env', 'production', '--reason', '  ', '--by', 'alice'], /^opsflow: --reason: say why/],
      [['freeze', 'start', '--env', 'prod uction', '--reason', 'outage', '--by', 'alice'], /^opsflow: --env: /],
      [['freeze', 'start', '--env', 'production', '--reason', 'outage'], /^opsflow: --by: say who you are/],
      [['freeze', 'start', '--env', 'production', '--reason', 'outage', '--by', 'a b'], /^opsflow: --by: /],
    ];
    for (const [args, reason] of cases) assert.match(await refused(args), reason, args.join(' '));
  });

  it('end: a freeze id as `freeze list` shows it, and a person', async () => {
    assert.match(
      await refused(['freeze', 'end', 'incident-x', '--by', 'alice']),
      /^opsflow: incident-x: an incident freeze id such as incident-3/,
    );
    assert.match(await refused(['freeze', 'end', 'incident-1']), /^opsflow: --by: say who you are/);
  });
});
