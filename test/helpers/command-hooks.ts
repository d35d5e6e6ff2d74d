/**
 * A small real platform for the command target's tests: one Node script, run as a separate process for every
 * operation, keeping what runs in a JSON file per environment. It acts on whatever it is told (the target checks the
 * contract's rules before calling it) and logs each operation it ran, so a test can see what was called and in what
 * order. It keeps a record of the rollbacks it did and prints it in status, unless HOOK_NO_RECORD is set (hooks of a
 * platform that keeps none).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandTargetConfig } from '../../src/activities/targets/command/config';

const HOOKS = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.HOOK_STATE;
const env = process.env;
const [operation] = process.argv.slice(2);
const environment = env.OPSFLOW_ENVIRONMENT;
const file = path.join(dir, (environment || 'none') + '.json');
const read = () =>
  fs.existsSync(file)
    ? JSON.parse(fs.readFileSync(file, 'utf8'))
    : { stable: { version: env.HOOK_INITIAL, deployId: null }, canary: null, previous: null, rollbacks: [] };
const write = (s) => fs.writeFileSync(file, JSON.stringify(s));
fs.appendFileSync(path.join(dir, 'calls.log'), [operation, environment, env.OPSFLOW_VERSION, env.OPSFLOW_WEIGHT].join(' ') + '\\n');
const s = read();
switch (operation) {
  case 'releases':
    process.stdout.write(JSON.stringify(env.HOOK_RELEASES.split(',')));
    break;
  case 'status':
    process.stdout.write(JSON.stringify(env.HOOK_NO_RECORD ? { stable: s.stable, canary: s.canary } : s));
    break;
  case 'start':
    s.canary = { version: env.OPSFLOW_VERSION, weight: 0, deployId: env.OPSFLOW_DEPLOY_ID, changedAt: Date.now() };
    write(s);
    break;
  case 'set-weight':
    s.canary.weight = Number(process.argv[3]);
    s.canary.changedAt = Date.now();
    write(s);
    break;
  case 'promote':
    s.previous = s.stable;
    s.stable = { version: s.canary.version, deployId: s.canary.deployId };
    s.canary = null;
    write(s);
    break;
  case 'rollback': {
    const record = {
      deployId: env.OPSFLOW_DEPLOY_ID,
      version: env.OPSFLOW_VERSION,
      rollbackId: env.OPSFLOW_ROLLBACK_ID,
      at: Date.now(),
    };
    if (s.canary && s.canary.deployId === env.OPSFLOW_DEPLOY_ID) s.canary = null;
    else if (s.stable.deployId === env.OPSFLOW_DEPLOY_ID) [s.stable, s.previous] = [s.previous, null];
    else break;
    s.rollbacks = [...(s.rollbacks || []), record].slice(-10);
    write(s);
    break;
  }
  default:
    process.stderr.write('unknown operation ' + operation + '\\n');
    process.exit(2);
}
`;

/**
 * Writes the hook script into `dir` (its state goes there too) and returns a command target config that runs it.
 * `stable` is the version every environment starts with; `releases` the versions the `releases` command lists;
 * `record: false` leaves the rollbacks out of status, as hooks of a platform that keeps no record do.
 */
export function stateHooks(
  dir: string,
  stable: string,
  releases: readonly string[],
  { record = true }: { record?: boolean } = {},
): { config: CommandTargetConfig; env: Record<string, string> } {
  writeFileSync(path.join(dir, 'hooks.js'), HOOKS);
  const node = (...args: string[]) => ({ argv: [process.execPath, 'hooks.js', ...args] });
  return {
    config: {
      kind: 'command',
      releases: node('releases'),
      status: node('status'),
      start: node('start'),
      setWeight: node('set-weight', '{{weight}}'),
      promote: node('promote'),
      rollback: node('rollback'),
      cwd: dir,
      passEnv: ['HOOK_STATE', 'HOOK_INITIAL', 'HOOK_RELEASES', 'HOOK_NO_RECORD'],
      timeout: 10_000,
    },
    env: {
      HOOK_STATE: dir,
      HOOK_INITIAL: stable,
      HOOK_RELEASES: releases.join(','),
      ...(record ? {} : { HOOK_NO_RECORD: '1' }),
    },
  };
}
