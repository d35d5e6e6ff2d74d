/**
 * A service process gets an allow-list of the platform's environment plus what its config names, never the worker's
 * keys. A tiny service of the test's own serves its environment, as a service that leaks it would.
 * Run: node --import tsx --test test/integration/service-env.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { localTargetConfigSchema } from '../../src/activities/targets/local/config';
import { ProcessSupervisor } from '../../src/local-platform/service-process';

const ECHO_ENV = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(req.url === '/env' ? JSON.stringify(process.env) : '{}');
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

describe('service process environment', () => {
  let dir: string;
  const supervisor = new ProcessSupervisor();
  const saved = { ...process.env };

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-service-env-'));
    writeFileSync(path.join(dir, 'echo-env.js'), ECHO_ENV);
    process.env['OPENAI_API_KEY'] = 'sk-platform-SECRET';
    process.env['TEMPORAL_API_KEY'] = 'temporal-SECRET';
    process.env['DATABASE_URL'] = 'postgres://passed';
  });

  after(async () => {
    await supervisor.stopAll();
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes PATH, HOME, the platform variables, passEnv and env; never the worker keys', async () => {
    const target = localTargetConfigSchema.parse({
      kind: 'local',
      command: ['node', 'echo-env.js'],
      versions: ['1.0.0'],
      initialVersion: '1.0.0',
      env: { GREETING: 'hi' },
      passEnv: ['DATABASE_URL'],
    });
    const instance = await supervisor.start({
      command: target.command,
      env: target.env,
      passEnv: target.passEnv,
      cwd: dir,
      environment: 'staging',
      service: 'echo',
      version: '1.0.0',
      healthPath: '/healthz',
      readyTimeoutMs: 10_000,
      logger: pino({ level: 'silent' }),
    });
    const env = (await (await fetch(`http://127.0.0.1:${instance.port}/env`)).json()) as Record<string, string>;
    assert.equal(env['OPENAI_API_KEY'], undefined);
    assert.equal(env['TEMPORAL_API_KEY'], undefined);
    assert.equal(env['PATH'], process.env['PATH']);
    assert.equal(env['GREETING'], 'hi');
    assert.equal(env['DATABASE_URL'], 'postgres://passed');
    assert.deepEqual(
      [env['VERSION'], env['SERVICE'], env['ENVIRONMENT'], env['PORT']],
      ['1.0.0', 'echo', 'staging', '0'],
    );
    assert.doesNotMatch(JSON.stringify(env), /SECRET/);
  });

  it('refuses config that would set the platform variables or is not a variable name', () => {
    const base = { kind: 'local', command: ['x'], versions: ['1.0.0'], initialVersion: '1.0.0' };
    assert.equal(localTargetConfigSchema.safeParse({ ...base, env: { PORT: '1' } }).success, false);
    assert.equal(localTargetConfigSchema.safeParse({ ...base, passEnv: ['BAD-NAME'] }).success, false);
  });
});
