import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { temporalStartLedger, type StartLedger } from '../../src/activities/start-ledger';
import { startDevServer, type DevServer } from '../../src/tooling/dev-server';

// The ledger reads the server's own records: the run's description and the visibility store's runs of an id. The
// dev server keeps both (the time-skipping test server lists no runs). No worker polls: the runs never execute.
let server: DevServer;
let connection: Connection;
let client: Client;
let ledger: StartLedger;
before(async () => {
  server = await startDevServer();
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection, namespace: 'default' });
  ledger = temporalStartLedger(client);
});
after(async () => {
  await connection?.close();
  await server?.stop();
});

const MINUTE = 60_000;

/** Starts a run of `workflowId` that nobody runs; answers its run id once the visibility store lists it. */
async function startRun(workflowId: string, startDelay?: string): Promise<string> {
  const handle = await client.workflow.start('deploy', {
    taskQueue: 'nobody-polls',
    workflowId,
    args: [],
    ...(startDelay ? { startDelay } : {}),
  });
  const runId = handle.firstExecutionRunId;
  for (let i = 0; i < 50; i++) {
    for await (const run of client.workflow.list({ query: `WorkflowId = ${JSON.stringify(workflowId)}` })) {
      if (run.runId === runId) return runId;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return assert.fail(`${workflowId}'s run ${runId} never reached the visibility store`);
}

describe('the start ledger: one signed start, one run', () => {
  it("lets a start's first run through and refuses the same start for a later run of the deploy id", async () => {
    const workflowId = 'deploy-hello-1.1.0-production';
    const issuedAtMs = Date.now() - 1_000;
    const use = { workflowId, issuedAtMs, expiresAtMs: issuedAtMs + 10 * MINUTE };
    const first = await startRun(workflowId);
    assert.equal(await ledger.refuse({ ...use, runId: first }), undefined);
    // The run ends (rolled back, rejected, terminated); someone starts the deploy again with the same statement.
    await client.workflow.getHandle(workflowId, first).terminate('rolled back');
    const second = await startRun(workflowId);
    assert.match(
      (await ledger.refuse({ ...use, runId: second })) ?? '',
      new RegExp(
        `^the signed start was already used by run ${first} of ${workflowId} \\(started .*\\): a signed start starts one run; sign a new one$`,
      ),
    );
    // The first run is still its first use, whatever came after it.
    assert.equal(await ledger.refuse({ ...use, runId: first }), undefined);
    // A start signed after the first run ended (a retry of a rolled-back deploy, signed anew, within the minute the
    // clocks may differ by) counts.
    const retried = { workflowId, issuedAtMs: Date.now(), expiresAtMs: Date.now() + 10 * MINUTE };
    assert.equal(await ledger.refuse({ ...retried, runId: second }), undefined);
  });

  it('judges a start delay by when the run was due to begin, not when it was requested', async () => {
    const issuedAtMs = Date.now() - 1_000;
    const runId = await startRun('deploy-hello-1.2.0-production', '20 minutes');
    const use = { workflowId: 'deploy-hello-1.2.0-production', runId, issuedAtMs };
    assert.match(
      (await ledger.refuse({ ...use, expiresAtMs: issuedAtMs + 10 * MINUTE })) ?? '',
      /^the signed start expired at .*, before the run was due to begin \(.*, a start delay\): sign again$/,
    );
    assert.equal(await ledger.refuse({ ...use, expiresAtMs: issuedAtMs + 30 * MINUTE }), undefined);
  });
});
