import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/cli/client';
import { CliError } from '../../src/cli/output';
import { clientConnectionOptions, temporalTarget } from '../../src/temporal/connection';
import { freePort } from '../../src/tooling/ports';

describe('connection to Temporal', () => {
  it('reads the address and namespace from Temporal environment configuration', () => {
    const saved = { ...process.env };
    try {
      process.env['TEMPORAL_ADDRESS'] = '127.0.0.1:17233';
      process.env['TEMPORAL_NAMESPACE'] = 'ops';
      const target = temporalTarget();
      assert.equal(target.address, '127.0.0.1:17233');
      assert.equal(target.namespace, 'ops');
    } finally {
      process.env = saved;
    }
  });

  it('gives the client the address, TLS, API key and metadata envconfig read, and nothing native-only', () => {
    const options = clientConnectionOptions({
      address: 'temporal.example:7233',
      namespace: 'ops',
      connectionOptions: {
        address: 'temporal.example:7233',
        tls: true,
        apiKey: 'key',
        metadata: { team: 'ops' },
        proxy: { type: 'http-connect', targetHost: 'proxy.example:8080' },
      },
    });
    assert.deepEqual(options, {
      address: 'temporal.example:7233',
      tls: true,
      apiKey: 'key',
      metadata: { team: 'ops' },
    });
    assert.deepEqual(
      clientConnectionOptions({ address: 'localhost:7233', namespace: 'default', connectionOptions: {} }),
      { address: 'localhost:7233' },
      'what envconfig left unset stays unset',
    );
  });

  it('names the address it tried when nothing answers, in one line a person acts on', async () => {
    const port = await freePort();
    const target = {
      address: `127.0.0.1:${port}`,
      namespace: 'default',
      connectionOptions: { address: `127.0.0.1:${port}` },
    };
    await assert.rejects(connect(target), (err: Error) => {
      assert.ok(err instanceof CliError);
      assert.match(
        err.message,
        new RegExp(
          `^cannot reach Temporal at 127\\.0\\.0\\.1:${port} \\([^\\n]*\\): start it with "npm start" or set TEMPORAL_ADDRESS$`,
        ),
      );
      return true;
    });
  });
});
