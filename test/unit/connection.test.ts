import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectClient, temporalTarget } from '../../src/temporal/connection';
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

  it('names the address it tried when nothing answers', async () => {
    const port = await freePort();
    const target = {
      address: `127.0.0.1:${port}`,
      namespace: 'default',
      connectionOptions: { address: `127.0.0.1:${port}` },
    };
    await assert.rejects(connectClient(target), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^cannot reach Temporal at 127\\.0\\.0\\.1:${port} .*set TEMPORAL_ADDRESS$`),
      );
      return true;
    });
  });
});
