/**
 * The command target runs real processes for every operation: it passes the deploy target contract over a small
 * Node script that keeps state in files, and keeps the hooks' own contract — exit 75 retries, any other exit fails
 * with stderr's last lines, a timeout kills the process group and retries, status JSON is validated, and nothing of
 * the worker's environment reaches a command unless the config names it.
 * Run: node --import tsx --test test/unit/command-target.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commandTargetConfigSchema, type CommandTargetConfig } from '../../src/activities/targets/command/config';
import { CommandRetry, CommandTarget } from '../../src/activities/targets/command/target';
import { InvalidTargetRequest, TargetError } from '../../src/activities/targets/contract';
import { targetsFromConfig } from '../../src/activities/targets/registry';
import { configSchema } from '../../src/config/schema';
import { stateHooks } from '../helpers/command-hooks';
import { describeTargetContract } from '../helpers/target-contract';

const ENVIRONMENTS = ['staging'];
const ref = { service: 'hello', environment: 'staging' };

describeTargetContract('command target (Node hooks over a state file)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-command-contract-'));
  const { config, env } = stateHooks(dir, '1.0.0', ['1.0.0', '1.1.0', '1.2.0']);
  return {
    target: new CommandTarget(config, { environments: ENVIRONMENTS, env }),
    service: 'hello',
    environment: 'staging',
    stable: '1.0.0',
    releases: ['1.1.0', '1.2.0'],
    unknownVersion: '9.9.9',
    unknownEnvironment: 'production',
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('command target: the hooks contract', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-command-target-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A target whose `status` runs the Node program `script`; every other hook is the state-file one. */
  const withStatus = (script: string, extra: Partial<CommandTargetConfig> = {}) => {
    const { config, env } = stateHooks(dir, '1.0.0', ['1.0.0', '1.1.0']);
    const status = { argv: [process.execPath, '-e', script] };
    return new CommandTarget({ ...config, status, ...extra }, { environments: ENVIRONMENTS, env });
  };

  it('is built from opsflow.yaml by the registry, and refuses unknown placeholders when the config loads', () => {
    const hook = ['./deploy.sh', '{{service}}', '{{environment}}'];
    const target = { kind: 'command', status: hook, start: hook, setWeight: hook, promote: hook, rollback: hook };
    const base = {
      project: 'p',
      services: { hello: { target } },
      pipeline: ['staging'],
      environments: { staging: {} },
    };
    const config = configSchema.parse(base);
    assert.equal(targetsFromConfig(config).targetFor('hello').kind, 'command');
    assert.deepEqual(config.services['hello']?.target.kind === 'command' && config.services['hello'].target.passEnv, [
      'PATH',
      'HOME',
      'LANG',
    ]);

    const typo = commandTargetConfigSchema.safeParse({ ...target, start: ['./start.sh', '{{versoin}}'] });
    assert.equal(typo.success, false);
    assert.match(
      typo.error?.issues[0]?.message ?? '',
      /unknown placeholder \{\{versoin\}\} in start: use \{\{service\}\}/,
    );
    // {{weight}} means nothing to start: refused too, not left in the argv.
    const misplaced = commandTargetConfigSchema.safeParse({ ...target, start: { argv: ['x', '{{ weight }}'] } });
    assert.match(misplaced.error?.issues[0]?.message ?? '', /unknown placeholder \{\{ weight \}\} in start/);
    const timed = commandTargetConfigSchema.parse({ ...target, promote: { argv: ['x'], timeout: '90s' } });
    assert.equal(timed.promote.timeout, 90_000);
  });

  it('retries on exit 75: a retryable error with the reason from stderr, and the next attempt succeeds', async () => {
    const counter = path.join(dir, 'attempts');
    // Busy the first time (exit 75), done the second: what a platform's rate limit or lock looks like.
    const target = withStatus(
      `const fs = require('fs'); const f = ${JSON.stringify(counter)};
       if (!fs.existsSync(f)) { fs.writeFileSync(f, '1'); console.error('deploy lock held by another job'); process.exit(75); }
       console.log(JSON.stringify({ stable: { version: '1.0.0' }, canary: null }));`,
    );
    await assert.rejects(target.status(ref), (err: unknown) => {
      assert.ok(err instanceof CommandRetry);
      // Not a TargetError: the activities rethrow it as it is and Temporal retries the activity.
      assert.ok(!(err instanceof TargetError));
      assert.match(err.message, /status command \(.*node.*\) asked for a retry: deploy lock held by another job/);
      return true;
    });
    assert.deepEqual(await target.status(ref), { stable: { version: '1.0.0', deployId: null }, canary: null });
  });

  it('fails for good on any other exit code, with the last lines of stderr in the error', async () => {
    const target = withStatus(
      `for (let i = 1; i <= 10; i++) console.error('line ' + i); console.error('Error: project "shop" not found'); process.exit(3);`,
    );
    await assert.rejects(target.status(ref), (err: unknown) => {
      assert.ok(err instanceof InvalidTargetRequest);
      assert.match(err.message, /exited 3: line 9 \| line 10 \| Error: project "shop" not found$/);
      assert.doesNotMatch(err.message, /line 1 /);
      return true;
    });
    const missing = withStatus('', { status: { argv: ['/nonexistent/opsflow-hook', 'status'] } });
    await assert.rejects(missing.status(ref), /status command \(\/nonexistent\/opsflow-hook\) could not start.*ENOENT/);
  });

  it('kills the whole process group when a command runs over its timeout, and retries', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    // The command starts a child of its own (same process group) and hangs.
    const target = withStatus(
      `const { spawn } = require('child_process');
       const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
       require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
       console.error('waiting for the API'); setTimeout(() => {}, 60000);`,
      { timeout: 500 },
    );
    const startedAt = Date.now();
    await assert.rejects(target.status(ref), (err: unknown) => {
      assert.ok(err instanceof CommandRetry);
      assert.match(err.message, /status command .* ran over 500 ms and was killed: waiting for the API/);
      return true;
    });
    assert.ok(Date.now() - startedAt < 4_000, 'the timeout is the command timeout');
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(await gone(grandchild), true, 'the command’s own child was killed with it');
  });

  it('refuses status output that is not the status JSON, naming what is wrong', async () => {
    await assert.rejects(
      withStatus(`console.log('stable=1.0.0')`).status(ref),
      (err: unknown) =>
        err instanceof InvalidTargetRequest &&
        /status command printed stable=1.0.0 on stdout: expected JSON with stable and canary/.test(err.message),
    );
    await assert.rejects(
      withStatus(
        `console.log(JSON.stringify({ stable: { version: '1.0.0' }, canary: { version: '1.1.0', weight: 140, deployId: 'd' } }))`,
      ).status(ref),
      (err: unknown) => err instanceof InvalidTargetRequest && /canary\.weight: .*100/.test(err.message),
    );
  });

  it('gives a command only the variables on its allow-list, and the operation’s own values', async () => {
    const envFile = path.join(dir, 'env.json');
    const secrets = { OPENAI_API_KEY: 'sk-test-never-leaks', TEMPORAL_API_KEY: 'tmprl-never-leaks', HOOK_TOKEN: 'ok' };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    try {
      const { config } = stateHooks(dir, '1.0.0', ['1.0.0']);
      const script = `require('fs').writeFileSync(process.argv[1], JSON.stringify(process.env));
        console.log(JSON.stringify({ stable: { version: '1.0.0' }, canary: null }));`;
      // The worker's real environment (process.env), not one handed in.
      const target = new CommandTarget(
        { ...config, status: { argv: [process.execPath, '-e', script, envFile] }, passEnv: ['PATH', 'HOOK_TOKEN'] },
        { environments: ENVIRONMENTS },
      );
      await target.status(ref);
      const seen = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
      assert.equal(seen['OPENAI_API_KEY'], undefined);
      assert.equal(seen['TEMPORAL_API_KEY'], undefined);
      assert.equal(seen['HOOK_TOKEN'], 'ok');
      assert.equal(seen['PATH'], process.env['PATH']);
      assert.deepEqual(
        Object.keys(seen)
          .filter((k) => !['PATH', 'HOOK_TOKEN'].includes(k))
          .sort(),
        ['OPSFLOW_ENVIRONMENT', 'OPSFLOW_OPERATION', 'OPSFLOW_SERVICE'],
      );
      assert.equal(seen['OPSFLOW_OPERATION'], 'status');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('rolls back with the weight at 0 before the rollback command runs, and fills placeholders without a shell', async () => {
    const own = mkdtempSync(path.join(dir, 'order-'));
    const { config, env } = stateHooks(own, '1.0.0', ['1.0.0', '1.1.0']);
    const target = new CommandTarget(config, { environments: ENVIRONMENTS, env });
    const deploy = { ...ref, deployId: 'deploy/hello 1.1.0; rm -rf /' };
    await target.startRelease({ ...deploy, version: '1.1.0' });
    await target.setWeight({ ...deploy, weight: 30 });
    const result = await target.rollback({ ...deploy, rollbackId: 'run 1/step; 7' });
    assert.equal(result.rolledBack, true);
    const saved = JSON.parse(readFileSync(path.join(own, 'staging.json'), 'utf8')) as { rollbacks: unknown[] };
    assert.deepEqual(saved.rollbacks, [
      {
        deployId: deploy.deployId,
        version: '1.1.0',
        rollbackId: 'run 1/step; 7',
        at: (saved.rollbacks[0] as { at: number }).at,
      },
    ]);
    const changes = readFileSync(path.join(own, 'calls.log'), 'utf8')
      .split('\n')
      .filter((l) => l && !/^(status|releases) /.test(l));
    assert.deepEqual(changes, [
      'start staging 1.1.0 ',
      'set-weight staging 1.1.0 30',
      'set-weight staging 1.1.0 0',
      'rollback staging 1.1.0 ',
    ]);
    assert.ok(existsSync(path.join(own, 'staging.json')), 'the deploy id with spaces and ; reached the script as data');
  });

  it('says it cannot tell who rolled back when status keeps no record of rollbacks, rather than claim', async () => {
    const own = mkdtempSync(path.join(dir, 'no-record-'));
    const { config, env } = stateHooks(own, '1.0.0', ['1.0.0', '1.1.0'], { record: false });
    const target = new CommandTarget(config, { environments: ENVIRONMENTS, env });
    const deploy = { ...ref, deployId: 'deploy/no-record' };
    const step = { ...deploy, rollbackId: 'run-1/rollback' };
    const never = await target.rollback(step);
    assert.deepEqual([never.rolledBack, never.by], [false, 'unknown']);
    await target.startRelease({ ...deploy, version: '1.1.0' });
    assert.equal((await target.rollback(step)).by, 'this-attempt');
    // The retry of a rollback whose first attempt did the work: neither "nothing to roll back" nor "earlier" is known.
    const retried = await target.rollback(step);
    assert.deepEqual([retried.rolledBack, retried.by], [false, 'unknown']);
  });

  it('reads which rollback step did what from the rollbacks status prints', async () => {
    const script = `console.log(JSON.stringify({ stable: { version: '1.0.0' }, canary: null, rollbacks: [
      { deployId: 'deploy/a', version: '1.1.0', rollbackId: 'run-1/9', at: 1000 },
      { deployId: 'deploy/b', version: '1.2.0', rollbackId: 'run-7/9' },
      { deployId: 'deploy/a', version: '1.3.0', rollbackId: 'run-2/9', at: 3000 } ] }));`;
    const target = withStatus(script);
    const a = await target.rollback({ ...ref, deployId: 'deploy/a', rollbackId: 'run-2/9' });
    assert.deepEqual([a.rolledBack, a.by, a.version], [true, 'earlier-attempt', '1.3.0']);
    assert.equal(a.detail, '1.3.0 rolled back at 1970-01-01T00:00:03.000Z, 1.0.0 serves');
    // The same deploy id, another rollback step (a later run): not its work, and said so.
    const later = await target.rollback({ ...ref, deployId: 'deploy/a', rollbackId: 'run-3/9' });
    assert.deepEqual([later.rolledBack, later.by], [false, undefined]);
    assert.equal(
      later.detail,
      'nothing of deploy/a runs in staging: another rollback took 1.3.0 out at 1970-01-01T00:00:03.000Z',
    );
    const c = await target.rollback({ ...ref, deployId: 'deploy/c', rollbackId: 'run-4/9' });
    assert.deepEqual([c.rolledBack, c.by, c.detail], [false, undefined, 'nothing of deploy/c runs in staging']);
  });

  it('retries a change the command reported done but status does not show', async () => {
    const { config, env } = stateHooks(dir, '1.0.0', ['1.0.0', '1.1.0']);
    const target = new CommandTarget(
      { ...config, start: { argv: [process.execPath, '-e', ''] } },
      { environments: ENVIRONMENTS, env },
    );
    await assert.rejects(
      target.startRelease({ ...ref, deployId: 'deploy/quiet', version: '1.1.0' }),
      (err: unknown) =>
        err instanceof CommandRetry && /start exited 0 but status does not show a canary 1.1.0/.test(err.message),
    );
  });
});

/** True once `pid` no longer runs (within 3 s). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 30; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
