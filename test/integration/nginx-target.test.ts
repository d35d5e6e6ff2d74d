/**
 * examples/nginx end to end: the example service behind a real nginx (Debian's, run as a user process on loopback),
 * deployed by the command target through the example's own hooks, with real traffic sent through nginx by this test
 * and the canary judged from nginx's access log (the nginx-log provider). The dev server, worker and CLI are the
 * test stack's. A healthy 1.1.0 is promoted and the faulty 1.2.0 rolled back; the upstream weights are read back
 * from nginx's config file while each deploy runs.
 * Run: node --import tsx --test test/integration/nginx-target.test.ts
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import type { DeployStatus } from '../../src/shared/deploy';
import { freePort } from '../../src/tooling/ports';
import { REPO, Stack, type stackConfig } from '../helpers/stack';

const NGINX = process.env['NGINX_BIN'] ?? '/usr/sbin/nginx';
const HOOKS = path.join(REPO, 'examples/nginx/hooks.js');
const skip = existsSync(NGINX) ? false : `nginx is not installed at ${NGINX} (apt-get install nginx)`;

describe('examples/nginx: command hooks behind a real nginx', { skip }, () => {
  let stack: Stack | undefined;
  let state: string;
  let port: number;
  let traffic: Traffic | undefined;
  let promotedBy: string | undefined;
  const savedState = process.env['NGINX_EXAMPLE_STATE'];

  const hooks = (...args: string[]) =>
    promisify(execFile)(process.execPath, [HOOKS, ...args], {
      env: { ...process.env, NGINX_EXAMPLE_STATE: state },
      timeout: 30_000,
    });

  before(async () => {
    state = mkdtempSync(path.join(os.tmpdir(), 'opsflow-nginx-'));
    // The worker the stack starts inherits it, and passes it to the hooks (passEnv).
    process.env['NGINX_EXAMPLE_STATE'] = state;
    port = await freePort();
    await hooks('up', 'staging', '1.0.0', String(port));
    traffic = new Traffic(`http://127.0.0.1:${port}/`, 60);
    stack = await Stack.start({ pipeline: ['staging'], configure: (base) => exampleConfig(base, state) });
  });

  after(async () => {
    await traffic?.stop();
    await stack?.stop();
    if (state) {
      await hooks('down', 'staging').catch(() => undefined);
      rmSync(state, { recursive: true, force: true });
    }
    if (savedState === undefined) delete process.env['NGINX_EXAMPLE_STATE'];
    else process.env['NGINX_EXAMPLE_STATE'] = savedState;
  });

  const upstreamFile = () => path.join(state, 'staging/nginx/upstream.conf');

  /** Runs a deploy to its end, reading nginx's upstream weights every 50 ms meanwhile. */
  async function deploy(version: string): Promise<{ code: number | null; status: DeployStatus; splits: string[] }> {
    const watcher = watchUpstream(upstreamFile());
    let splits: string[] = [];
    let workflowId: string;
    let watched: Awaited<ReturnType<Stack['cli']>>;
    try {
      const started = await stack!.cli('deploy', 'start', '--service', 'hello', '--version', version, '--json');
      assert.equal(started.code, 0, started.stderr);
      workflowId = (JSON.parse(started.stdout) as { workflowId: string }).workflowId;
      watched = await stack!.cli('deploy', 'watch', workflowId);
    } finally {
      splits = watcher.stop();
    }
    const shown = await stack!.cli('deploy', 'status', workflowId, '--json');
    assert.equal(shown.code, 0, shown.stderr);
    return { code: watched.code, status: JSON.parse(shown.stdout) as DeployStatus, splits };
  }

  it('promotes the healthy 1.1.0 through 10 % and 50 %, measured from nginx’s access log', async () => {
    const { code, status, splits } = await deploy('1.1.0');
    assert.equal(code, 0, JSON.stringify(status));
    assert.equal(status.phase, 'PROMOTED');
    promotedBy = status.deployId;
    // What nginx was configured with, in order: stable alone, the canary at each step, the new stable alone.
    assert.deepEqual(splits, ['1.0.0=100', '1.0.0=90 1.1.0=10', '1.0.0=50 1.1.0=50', '1.1.0=100']);
    const samples = status.samples.filter((s) => s.environment === 'staging');
    assert.ok(samples.length > 0 && samples.every((s) => s.verdict !== 'critical'), JSON.stringify(samples));
    assert.ok(
      samples.some((s) => (s.canary?.requests ?? 0) > 0),
      'the canary took real requests through nginx',
    );
    assert.equal(await traffic!.versionNow(), '1.1.0');
  });

  it('targets check reaches the hooks: what runs per environment, or one line saying what is wrong', async () => {
    const checked = await stack!.cli('targets', 'check');
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /hello \(target command\): releases 1\.0\.0, 1\.1\.0, 1\.2\.0/);
    assert.match(checked.stdout, new RegExp(`staging +✓ stable 1\\.1\\.0 \\(by ${promotedBy}\\), no canary`));
    assert.match(checked.stdout, /status: node examples\/nginx\/hooks\.js status staging \(in /);
    // The same config with a status command that does not exist.
    const config = parse(readFileSync(path.join(stack!.workdir, 'opsflow.yaml'), 'utf8')) as {
      services: { hello: { target: { status: unknown } } };
    };
    config.services.hello.target.status = ['/nonexistent/hooks', 'status'];
    writeFileSync(path.join(stack!.workdir, 'broken.yaml'), stringify(config));
    const broken = await stack!.cli('targets', 'check', '--config', 'broken.yaml');
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /staging +✗ status command \(\/nonexistent\/hooks\) could not start in .*ENOENT/);
    assert.equal(broken.stderr, 'opsflow: 1 of 1 target checks failed: hello in staging\n');
  });

  it('rolls the faulty 1.2.0 back: the canary leaves nginx’s upstream and 1.1.0 serves', async () => {
    const { code, status, splits } = await deploy('1.2.0');
    assert.equal(code, 2, JSON.stringify(status));
    assert.equal(status.phase, 'ROLLED_BACK');
    // Rolled back by the analysis (critical with confidence, a failure budget or the step's whole window).
    assert.ok(['critical', 'failure-limit', 'step-judgement'].includes(status.cause?.kind ?? ''), status.cause?.kind);
    assert.equal(splits[0], '1.1.0=100');
    assert.equal(splits[1], '1.1.0=90 1.2.0=10');
    assert.equal(splits.at(-1), '1.1.0=100');
    assert.ok(!splits.some((s) => s.includes('1.2.0=50')), `never reached 50 %: ${splits.join(' → ')}`);
    const { stdout } = await hooks('status', 'staging');
    type Record = { deployId: string; version: string; rollbackId: string };
    const { rollbacks, ...now } = JSON.parse(stdout) as { rollbacks: Record[] };
    assert.deepEqual(now, { stable: { version: '1.1.0', deployId: promotedBy }, canary: null });
    // What a retried rollback reads: the script's own record of the step (its Temporal run and activity id).
    assert.deepEqual(
      rollbacks.map((r) => [r.deployId, r.version]),
      [[status.deployId, '1.2.0']],
    );
    assert.match(rollbacks[0]?.rollbackId ?? '', /^[0-9a-f-]{36}\/\d+$/);
    assert.equal(await traffic!.versionNow(), '1.1.0');
    assert.ok(traffic!.served > 0);
  });
});

/** The example's opsflow.yaml with the test stack's ports, this test's state folder and short bakes. */
function exampleConfig(base: ReturnType<typeof stackConfig>, state: string): object {
  const example = parse(readFileSync(path.join(REPO, 'examples/nginx/opsflow.yaml'), 'utf8')) as {
    services: { hello: { target: Record<string, unknown> } };
  };
  return {
    ...base,
    services: { hello: { target: { ...example.services.hello.target, cwd: REPO } } },
    metrics: { nginxLog: { path: path.join(state, '{{environment}}/nginx/access.log') } },
    pipeline: ['staging'],
    environments: {
      staging: {
        strategy: 'canary',
        canary: {
          steps: [
            { weight: 10, bake: '2s' },
            { weight: 50, bake: '2s' },
          ],
        },
        analysis: { provider: 'nginx-log', interval: '1s', minRequests: 5, failureLimit: 2 },
      },
    },
  };
}

/** Polls nginx's upstream file and keeps each split it shows, like "1.0.0=90 1.1.0=10", when it changes. */
function watchUpstream(file: string): { stop: () => string[] } {
  const splits: string[] = [];
  const read = () => {
    const servers = [...readFileSync(file, 'utf8').matchAll(/server 127\.0\.0\.1:\d+ weight=(\d+); # (\S+)/g)];
    const split = servers.map(([, weight, version]) => `${version}=${weight}`).join(' ');
    if (split !== splits.at(-1)) splits.push(split);
  };
  read();
  const timer = setInterval(read, 50);
  return {
    stop: () => {
      clearInterval(timer);
      read();
      return splits;
    },
  };
}

/** Requests through nginx at a steady rate, as users would send them. */
class Traffic {
  served = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly url: string,
    rps: number,
  ) {
    this.timer = setInterval(() => {
      const request = this.get().then(
        () => undefined,
        () => undefined,
      );
      this.inFlight.add(request);
      void request.finally(() => this.inFlight.delete(request));
    }, 1_000 / rps);
  }

  private async get(): Promise<{ version?: string }> {
    const response = await fetch(this.url, { signal: AbortSignal.timeout(5_000) });
    this.served += 1;
    return (await response.json()) as { version?: string };
  }

  /** The version that answers a request now (the stable one once nothing else takes traffic). */
  async versionNow(): Promise<string | undefined> {
    return (await this.get()).version;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
  }
}
