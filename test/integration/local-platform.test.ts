/**
 * The local platform with real service processes (examples/hello), real routers and real traffic.
 * Run: node --import tsx --test test/integration/local-platform.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { LocalPlatformClient, PlatformError } from '../../src/local-platform/client';
import { startLocalPlatform, type RunningPlatform } from '../../src/local-platform/server';
import { configSchema, type OpsflowConfig } from '../../src/config/schema';

const ROOT = path.resolve(__dirname, '../..');
const HELLO = path.join(ROOT, 'examples/hello/server.js');
const MAIN = path.join(ROOT, 'src/local-platform/main.ts');
const silent = pino({ level: 'silent' });

function testConfig(trafficRps: number): OpsflowConfig {
  return configSchema.parse({
    project: 'platform-test',
    platform: { local: { port: 0, trafficRps } },
    services: {
      // examples/hello has no 2.0.0: it exits at once, as a broken release would.
      hello: {
        target: {
          kind: 'local',
          command: ['node', HELLO],
          versions: ['1.0.0', '1.1.0', '1.2.0', '2.0.0'],
          initialVersion: '1.0.0',
        },
      },
    },
    environments: { staging: {}, production: { approval: { required: true, approvers: ['alice'] } } },
  });
}

/** Alive and not a zombie: a child whose parent died may wait for a reaper that never comes. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  const state = readFileSync(stat, 'utf8').split(') ')[1]?.[0];
  return state !== 'Z' && state !== 'X';
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The version that answered each of `count` GET / requests to a router, sent `parallel` at a time. */
async function versionsServed(routerUrl: string, count: number, parallel = 8): Promise<string[]> {
  const versions: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next += 1;
        const response = await fetch(`${routerUrl}/`);
        await response.arrayBuffer();
        versions.push(response.headers.get('x-opsflow-version') ?? 'none');
      }
    }),
  );
  return versions;
}

async function rejectsWith(
  promise: Promise<unknown>,
  status: number | undefined,
  code: string,
): Promise<PlatformError> {
  let caught: unknown;
  await assert.rejects(promise, (err) => {
    caught = err;
    return err instanceof PlatformError && err.status === status && err.code === code;
  });
  return caught as PlatformError;
}

describe('local platform under synthetic traffic', () => {
  const deployId = 'deploy/hello/1.2.0/production';
  let stateDir: string;
  let platform: RunningPlatform;
  let client: LocalPlatformClient;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'opsflow-platform-'));
    platform = await startLocalPlatform({ config: testConfig(100), stateDir, logger: silent });
    client = new LocalPlatformClient(platform.url, { tokenFile: platform.tokenFile });
  });

  after(async () => {
    await platform?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('serves the initial stable release of every environment through its router', async () => {
    const health = await client.health();
    assert.equal(health.pid, process.pid);
    const { environments } = await client.state();
    assert.deepEqual(
      environments.map((t) => [t.environment, t.service, t.stable.version, t.canary]),
      [
        ['staging', 'hello', '1.0.0', null],
        ['production', 'hello', '1.0.0', null],
      ],
    );
    const production = environments.find((t) => t.environment === 'production')!;
    assert.ok(isAlive(production.stable.pid));
    const body = (await (await fetch(`${production.routerUrl}/`)).json()) as Record<string, unknown>;
    assert.equal(body['version'], '1.0.0');
    assert.equal(body['environment'], 'production');
    assert.deepEqual(await client.releases('hello'), {
      service: 'hello',
      versions: ['1.0.0', '1.1.0', '1.2.0', '2.0.0'],
    });
    await rejectsWith(client.releases('nope'), 404, 'unknown_service');
  });

  it('starts a canary idempotently per deploy and refuses other deploys', async () => {
    const ref = { environment: 'production', service: 'hello' };
    const first = await client.startCanary({ ...ref, deployId, version: '1.2.0' });
    assert.equal(first.canary?.weight, 0);
    assert.equal(first.alreadyPromoted, false);
    assert.ok(isAlive(first.canary.pid));

    const again = await client.startCanary({ ...ref, deployId, version: '1.2.0' });
    assert.equal(again.canary?.pid, first.canary.pid);

    const busy = await rejectsWith(
      client.startCanary({ ...ref, deployId: 'other', version: '1.1.0' }),
      409,
      'canary_busy',
    );
    assert.equal(busy.retryable, false);
    assert.match(busy.message, /deploy\/hello\/1\.2\.0\/production/);
    await rejectsWith(client.startCanary({ ...ref, deployId: 'other', version: '1.0.0' }), 409, 'already_stable');
    await rejectsWith(client.startCanary({ ...ref, deployId: 'other', version: '9.9.9' }), 404, 'unknown_release');
    await rejectsWith(client.setWeight({ ...ref, deployId: 'other', weight: 50 }), 409, 'canary_busy');
    await rejectsWith(
      client.setWeight({ environment: 'staging', service: 'hello', deployId, weight: 5 }),
      409,
      'no_canary',
    );
    await rejectsWith(
      client.startCanary({ ...ref, environment: 'qa', deployId, version: '1.2.0' }),
      404,
      'unknown_environment',
    );
  });

  it('answers 503 with the reason and stderr when a canary does not start', async () => {
    const failed = await rejectsWith(
      client.startCanary({ environment: 'staging', service: 'hello', deployId: 'broken', version: '2.0.0' }),
      503,
      'canary_unhealthy',
    );
    assert.equal(failed.retryable, true);
    assert.match(
      failed.message,
      /hello 2\.0\.0 did not start in staging: exited \(code 1\).*stderr: hello: unknown VERSION "2\.0\.0"/,
    );
    const staging = (await client.state()).environments.find((t) => t.environment === 'staging')!;
    assert.equal(staging.canary, null);
  });

  it('measures the faulty release: about 20 % errors and slow tail latency, also in /metrics', async () => {
    const ref = { environment: 'production', service: 'hello' };
    const set = await client.setWeight({ ...ref, deployId, weight: 100 });
    assert.equal(set.canary?.weight, 100);
    const same = await client.setWeight({ ...ref, deployId, weight: 100 });
    assert.equal(same.changedAt, set.changedAt, 'the same weight again is a no-op');

    await waitFor(
      '300 requests to 1.2.0',
      async () => (await client.stats({ ...ref, version: '1.2.0', windowMs: 60_000 })).requests >= 300,
    );
    const stats = await client.stats({ ...ref, version: '1.2.0', windowMs: 60_000 });
    assert.ok(stats.errorRate > 0.1 && stats.errorRate < 0.3, `error rate ${stats.errorRate} should be about 0.2`);
    assert.ok((stats.p99Ms ?? 0) >= 2_000, `p99 ${stats.p99Ms} ms should show the ~2.5 s slow requests`);
    const stable = await client.stats({ ...ref, version: '1.0.0', windowMs: 60_000 });
    assert.ok(stable.requests > 0);
    assert.equal(stable.errors, 0);
    const idle = await client.stats({ ...ref, version: '1.1.0', windowMs: 5_000 });
    assert.deepEqual([idle.requests, idle.errorRate, idle.p95Ms], [0, 0, null]);

    const metrics = await (await fetch(`${platform.url}/metrics`)).text();
    assert.match(
      metrics,
      /opsflow_requests_total\{environment="production",service="hello",version="1\.2\.0",code="500"\} \d+/,
    );
    assert.match(
      metrics,
      /opsflow_request_duration_seconds_bucket\{le="10",environment="production",service="hello",version="1\.2\.0"\}/,
    );
    assert.match(metrics, /opsflow_canary_weight\{environment="production",service="hello"\} 100/);
  });

  it('rolls back: weight 0 first, then the canary process is gone', async () => {
    const ref = { environment: 'production', service: 'hello' };
    const before = await client.state();
    const canaryPid = before.environments.find((t) => t.environment === 'production')!.canary!.pid;
    const calledAt = Date.now();
    const step = { ...ref, deployId, rollbackId: 'run-1/rollback' };
    const result = await client.rollback(step);
    assert.ok(result.rolledBack);
    assert.ok(result.weightZeroAt >= calledAt && result.weightZeroAt <= Date.now());
    assert.equal(result.canary, null);
    assert.equal(isAlive(canaryPid), false, 'the canary process is stopped');

    const events = await client.events(ref);
    const zero = events.find((e) => e.kind === 'weight' && e.weight === 0);
    assert.equal(zero?.at, result.weightZeroAt);
    assert.ok(
      events.some((e) => e.kind === 'rolled-back' && e.deployId === deployId && e.rollbackId === step.rollbackId),
    );
    assert.ok(events.some((e) => e.kind === 'canary-stopped'));

    const served = await versionsServed(result.routerUrl, 20);
    assert.deepEqual(new Set(served), new Set(['1.0.0']));
    // A retry (the first answer lost): the event log says this step's earlier request did it; nothing changes.
    const again = await client.rollback(step);
    assert.ok(again.rolledBack);
    assert.deepEqual(
      [again.by, again.version, again.weightZeroAt, again.restoredVersion],
      ['earlier-request', '1.2.0', result.weightZeroAt, null],
    );
    assert.equal((await client.events(ref)).length, events.length, 'no new event');
    // Another rollback of the same deploy id (a later run of it): not its work, and said so.
    const later = await client.rollback({ ...step, rollbackId: 'run-2/rollback' });
    assert.equal(later.rolledBack, false);
    assert.match(
      !later.rolledBack ? later.reason : '',
      /^1\.2\.0 was rolled back at .* by another rollback of this deploy$/,
    );
    const other = await client.rollback({ ...ref, deployId: 'never-here', rollbackId: 'run-3/rollback' });
    assert.deepEqual([other.rolledBack, !other.rolledBack && other.reason], [false, 'no canary']);
  });
});

describe('local platform: exact split, promotion, restart, undoing a promotion', () => {
  const deployId = 'deploy/hello/1.1.0/staging';
  const staging = { environment: 'staging', service: 'hello' };
  let stateDir: string;
  let platform: RunningPlatform;
  let client: LocalPlatformClient;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'opsflow-platform-'));
    // No synthetic traffic: this test's own requests are the only ones, so the split can be checked exactly.
    platform = await startLocalPlatform({ config: testConfig(0), stateDir, logger: silent });
    client = new LocalPlatformClient(platform.url, { tokenFile: platform.tokenFile });
  });

  after(async () => {
    await platform?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('sends exactly 25 % of requests to a canary at weight 25', async () => {
    await client.startCanary({ ...staging, deployId, version: '1.1.0' });
    const track = await client.setWeight({ ...staging, deployId, weight: 25 });
    const served = await versionsServed(track.routerUrl, 400);
    assert.equal(served.filter((v) => v === '1.1.0').length, 100);
    assert.equal(served.filter((v) => v === '1.0.0').length, 300);
    const stats = await client.stats({ ...staging, version: '1.1.0', windowMs: 60_000 });
    assert.equal(stats.requests, 100);
  });

  it('promotes: the canary becomes stable, the old stable process stops, retries are no-ops', async () => {
    const before = (await client.state()).environments.find((t) => t.environment === 'staging')!;
    const promoted = await client.promote({ ...staging, deployId, version: '1.1.0' });
    assert.equal(promoted.stable.version, '1.1.0');
    assert.equal(promoted.stable.pid, before.canary!.pid);
    assert.equal(promoted.stable.deployId, deployId);
    assert.equal(promoted.canary, null);
    assert.deepEqual(promoted.previousStable, { version: '1.0.0', deployId: null });
    assert.equal(isAlive(before.stable.pid), false, 'the old stable process is stopped');

    const again = await client.promote({ ...staging, deployId, version: '1.1.0' });
    assert.equal(again.stable.pid, promoted.stable.pid);
    const restart = await client.startCanary({ ...staging, deployId, version: '1.1.0' });
    assert.equal(restart.alreadyPromoted, true);
    await rejectsWith(client.startCanary({ ...staging, deployId: 'other', version: '1.1.0' }), 409, 'already_stable');
    assert.deepEqual(new Set(await versionsServed(promoted.routerUrl, 20)), new Set(['1.1.0']));
  });

  it('keeps versions, weights and owners across a restart', async () => {
    const production = { environment: 'production', service: 'hello' };
    await client.startCanary({ ...production, deployId: 'prod-deploy', version: '1.1.0' });
    await client.setWeight({ ...production, deployId: 'prod-deploy', weight: 10 });
    const before = await client.state();
    await platform.close();
    assert.ok(before.environments.every((t) => !isAlive(t.stable.pid) && (!t.canary || !isAlive(t.canary.pid))));

    platform = await startLocalPlatform({ config: testConfig(0), stateDir, logger: silent });
    client = new LocalPlatformClient(platform.url, { tokenFile: platform.tokenFile });
    const after = await client.state();
    const summary = (s: typeof after) =>
      s.environments.map((t) => ({
        env: t.environment,
        stable: [t.stable.version, t.stable.deployId],
        canary: t.canary && [t.canary.version, t.canary.weight, t.canary.deployId],
        previous: t.previousStable,
      }));
    assert.deepEqual(summary(after), summary(before));
    const prodAfter = after.environments.find((t) => t.environment === 'production')!;
    assert.ok(isAlive(prodAfter.canary!.pid), 'the canary process was started again');
    const served = await versionsServed(prodAfter.routerUrl, 100);
    assert.equal(served.filter((v) => v === '1.1.0').length, 10);
  });

  it('rolls back a promotion by restoring the previous stable release', async () => {
    const before = (await client.state()).environments.find((t) => t.environment === 'staging')!;
    const step = { ...staging, deployId, rollbackId: 'run-1/rollback' };
    const result = await client.rollback(step);
    assert.ok(result.rolledBack);
    assert.equal(result.version, '1.1.0');
    assert.equal(result.restoredVersion, '1.0.0');
    assert.equal(result.stable.version, '1.0.0');
    assert.equal(isAlive(before.stable.pid), false, 'the promoted release is stopped');
    assert.ok(isAlive(result.stable.pid));
    assert.deepEqual(new Set(await versionsServed(result.routerUrl, 20)), new Set(['1.0.0']));
    // A retry after a restart: the persisted event log still says this deploy's rollback restored 1.0.0.
    await platform.close();
    platform = await startLocalPlatform({ config: testConfig(0), stateDir, logger: silent });
    client = new LocalPlatformClient(platform.url, { tokenFile: platform.tokenFile });
    const again = await client.rollback(step);
    assert.ok(again.rolledBack);
    assert.deepEqual([again.by, again.version, again.restoredVersion], ['earlier-request', '1.1.0', '1.0.0']);
    assert.equal(again.weightZeroAt, result.weightZeroAt);
  });
});

describe('local platform as its own process', () => {
  let dir: string;
  let configFile: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'opsflow-platform-'));
    configFile = path.join(dir, 'opsflow.yaml');
    // JSON is YAML too.
    await writeFile(configFile, JSON.stringify(testConfig(20)));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts main.ts and resolves with the process and its control URL, read from the "ready" log line. */
  async function spawnPlatform(): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, '--config', configFile, '--port', '0', '--state-dir', path.join(dir, 'state')],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('platform did not get ready in 20 s')), 20_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'local platform ready' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      });
      child.once('exit', (code) => reject(new Error(`platform exited with ${code} before it was ready`)));
    });
    return { child, url, exited };
  }

  async function servicePids(client: LocalPlatformClient): Promise<number[]> {
    const { environments } = await client.state();
    return environments.flatMap((t) => [t.stable.pid, ...(t.canary ? [t.canary.pid] : [])]);
  }

  it('stops every service process on SIGTERM and exits 0', async () => {
    const { child, url, exited } = await spawnPlatform();
    const client = new LocalPlatformClient(url, { tokenFile: path.join(dir, 'state', 'token') });
    await client.startCanary({ environment: 'staging', service: 'hello', deployId: 'sigterm', version: '1.1.0' });
    const pids = await servicePids(client);
    assert.equal(pids.length, 3);
    assert.ok(pids.every(isAlive));

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.deepEqual(pids.filter(isAlive), []);

    const down = await rejectsWith(client.health(), undefined, 'unreachable');
    assert.equal(down.retryable, true);
    assert.match(down.message, /local platform not reachable at .*: start it with "npm start" or "npm run platform"/);
  });

  it('leaves no orphans when SIGKILLed: services exit when their stdin closes', async () => {
    const { child, url, exited } = await spawnPlatform();
    const pids = await servicePids(new LocalPlatformClient(url, { tokenFile: path.join(dir, 'state', 'token') }));
    child.kill('SIGKILL');
    await exited;
    await waitFor('service processes to exit', () => pids.every((pid) => !isAlive(pid)), 5_000);
  });

  it('fails with one line on a bad config', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', path.join(dir, 'missing.yaml')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(
      stderr,
      /^opsflow platform: .*missing\.yaml: no such file; run from a folder with opsflow\.yaml or pass --config <file>\n$/,
    );
  });
});

describe('local platform start-up failures', () => {
  let stateDir: string;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'opsflow-platform-'));
  });

  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('names a service command that cannot run', async () => {
    const config = testConfig(0);
    Object.assign(config.services['hello']!.target, { command: ['/nonexistent/opsflow-service'] });
    await assert.rejects(
      startLocalPlatform({ config, stateDir, logger: silent }),
      /hello 1\.0\.0 did not start in (staging|production): cannot run "\/nonexistent\/opsflow-service"/,
    );
  });

  it('says when the control port is taken', async () => {
    const first = await startLocalPlatform({ config: testConfig(0), stateDir, logger: silent });
    try {
      const port = Number(new URL(first.url).port);
      await assert.rejects(
        startLocalPlatform({ config: testConfig(0), port, stateDir: path.join(stateDir, 'second'), logger: silent }),
        new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`),
      );
    } finally {
      await first.close();
    }
  });
});
