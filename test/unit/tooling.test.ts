import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import {
  INDEXED_VALUE_TYPES,
  OPSFLOW_SEARCH_ATTRIBUTE_TYPES,
  OPSFLOW_SEARCH_ATTRIBUTES,
  startDevServer,
  type DevServer,
} from '../../src/tooling/dev-server';
import { freePort, isPortFree, waitForPort } from '../../src/tooling/ports';
import { TEMPORAL_BIN_VERSIONS, resolveTemporalCli, resolveTestServer } from '../../src/tooling/temporal-bin';
import { order, readTimes } from '../../scripts/test-order.js';

/** Runs fn with an environment variable set, restoring the previous value afterwards. */
function withEnv<T>(name: string, value: string, fn: () => T): T {
  const previous = process.env[name];
  process.env[name] = value;
  try {
    return fn();
  } finally {
    if (previous === undefined) delete process.env[name];
    else process.env[name] = previous;
  }
}

describe('temporal binaries', () => {
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'opsflow-tooling-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('resolves the installed CLI at the pinned version', () => {
    const cli = resolveTemporalCli();
    const output = execFileSync(cli, ['--version'], { encoding: 'utf8' });
    assert.match(output, new RegExp(`\\b${TEMPORAL_BIN_VERSIONS.cli.replaceAll('.', '\\.')}\\b`));
  });

  it('resolves the installed test server', () => {
    assert.match(resolveTestServer(), /temporal-test-server$/);
  });

  it('prefers TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH', () => {
    const fake = path.join(scratch, 'fake-temporal');
    writeFileSync(fake, '#!/bin/sh\necho fake\n');
    chmodSync(fake, 0o755);
    assert.equal(
      withEnv('TEMPORAL_CLI_PATH', fake, () => resolveTemporalCli()),
      fake,
    );
    assert.equal(
      withEnv('TEMPORAL_TEST_SERVER_PATH', fake, () => resolveTestServer()),
      fake,
    );
  });

  it('refuses an override that is not an executable file, in one line', () => {
    const missing = path.join(scratch, 'missing');
    assert.throws(
      () => withEnv('TEMPORAL_CLI_PATH', missing, () => resolveTemporalCli()),
      (error: Error) => error.message.includes('TEMPORAL_CLI_PATH') && !error.message.includes('\n'),
    );
  });
});

describe('ports', () => {
  it('finds a free port and waits for a listener', async () => {
    const port = await freePort();
    assert.equal(await isPortFree(port), true);
    const server = createServer();
    setTimeout(() => server.listen(port, '127.0.0.1'), 200);
    try {
      await waitForPort('127.0.0.1', port, 5000);
      assert.equal(await isPortFree(port), false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('gives up waiting after the timeout', async () => {
    const port = await freePort();
    await assert.rejects(waitForPort('127.0.0.1', port, 300), /within 300 ms/);
  });
});

describe('startDevServer', () => {
  let server: DevServer;
  let connection: Connection;
  let client: Client;

  before(async () => {
    server = await startDevServer();
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default' });
  });

  after(async () => {
    await connection?.close();
    await server?.stop();
  });

  it('serves the default namespace', async () => {
    const { namespaces } = await client.workflowService.listNamespaces({});
    assert.ok(namespaces.some((ns) => ns.namespaceInfo?.name === 'default'));
    const described = await client.workflowService.describeNamespace({ namespace: 'default' });
    assert.equal(described.namespaceInfo?.name, 'default');
  });

  it('registers the opsflow search attributes with their types', async () => {
    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({
      namespace: 'default',
    });
    for (const name of OPSFLOW_SEARCH_ATTRIBUTES) {
      assert.equal(customAttributes[name], INDEXED_VALUE_TYPES[OPSFLOW_SEARCH_ATTRIBUTE_TYPES[name]], name);
    }
  });

  it('is headless unless asked for the UI', () => {
    assert.equal(server.uiUrl, undefined);
  });

  it('stop() ends the process and frees the port', async () => {
    const port = Number(server.address.split(':')[1]);
    await connection.close();
    await server.stop();
    assert.ok(server.process.exitCode !== null || server.process.signalCode !== null);
    assert.equal(await isPortFree(port), true);
    await server.stop(); // a second stop is harmless
  });

  it('refuses a taken port, naming it', async () => {
    const blocker: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      await assert.rejects(startDevServer({ port }), new RegExp(`port ${port} .*already in use by pid \\d+: .*node`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('refuses a persisted database whose search attribute types differ', async () => {
    const dbFile = path.join(mkdtempSync(path.join(tmpdir(), 'opsflow-db-')), 'temporal.db');
    const first = await startDevServer({ dbFile });
    const admin = await Connection.connect({ address: first.address });
    try {
      // Re-register OpsflowPhase as Text, as an older opsflow might have left it.
      await admin.operatorService.removeSearchAttributes({ namespace: 'default', searchAttributes: ['OpsflowPhase'] });
      await admin.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes: { OpsflowPhase: 1 } });
    } finally {
      await admin.close();
      await first.stop();
    }
    await assert.rejects(startDevServer({ dbFile }), /OpsflowPhase is registered as Text but opsflow needs Keyword/);
    rmSync(path.dirname(dbFile), { recursive: true, force: true });
  });
});

describe('npm test runs the longest files first (scripts/test-order.js)', () => {
  it('puts files without a recorded time first, in the order given, then the rest longest first', () => {
    const times = { 'a.test.ts': 3, 'b.test.ts': 40, 'c.test.ts': 12 };
    assert.deepEqual(order(['a.test.ts', 'new-1.test.ts', 'b.test.ts', 'c.test.ts', 'new-2.test.ts'], times), [
      'new-1.test.ts',
      'new-2.test.ts',
      'b.test.ts',
      'c.test.ts',
      'a.test.ts',
    ]);
  });

  it('reads a missing, corrupt or ill-typed times file as no times, and records a run merged over the last', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'opsflow-test-order-'));
    try {
      const timesFile = path.join(dir, 'cache', 'test-times.json');
      assert.deepEqual(readTimes(timesFile), {});
      writeFileSync(path.join(dir, 'corrupt.json'), '{"a.test.ts": 3');
      assert.deepEqual(readTimes(path.join(dir, 'corrupt.json')), {});
      writeFileSync(path.join(dir, 'typed.json'), '{"a.test.ts": "3", "b.test.ts": -1, "c.test.ts": 2}');
      assert.deepEqual(readTimes(path.join(dir, 'typed.json')), { 'c.test.ts': 2 });

      const run = (times: Record<string, number>) => {
        writeFileSync(path.join(dir, 'run.json'), JSON.stringify(times));
        execFileSync(process.execPath, ['scripts/test-order.js', '--record', timesFile, path.join(dir, 'run.json')]);
      };
      run({ 'a.test.ts': 3, 'b.test.ts': 5 });
      run({ 'b.test.ts': 9 });
      assert.deepEqual(readTimes(timesFile), { 'a.test.ts': 3, 'b.test.ts': 9 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
