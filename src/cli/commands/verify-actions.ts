// What `opsflow deploy verify` does, loaded when it runs.
import { verifyHistory } from '../../keys/verify';
import { decodeHistoryPayloads } from '../../temporal/codec';
import { deployHandle, withClient } from '../client';
import { print, printJson } from '../output';

/**
 * Re-verifies every decision of a deploy from its history against the policy that was in force, offline; answers the
 * exit code: 0 when every decision holds, 1 otherwise.
 */
export async function verifyDeploy(workflowId: string, opts: { json?: boolean }): Promise<number> {
  return withClient(async (client) => {
    const handle = deployHandle(client, workflowId);
    // Raw events: encrypted payloads are decoded with the CLI's codec (a no-op when it has none).
    const history = await decodeHistoryPayloads(
      await handle.fetchHistory(),
      client.options.loadedDataConverter.payloadCodecs,
    );
    const result = verifyHistory(workflowId, client.options.namespace, history.events ?? []);
    const failed = result.decisions.filter((d) => d.problem);
    if (opts.json) {
      printJson(result);
    } else {
      print(
        result.policySource
          ? `policy in force: ${result.policySource}${result.trustTypedNames ? ' (typed names trusted: demo mode)' : ''}`
          : 'no worker policy in this history (a deploy from before signed decisions)',
      );
      for (const d of result.decisions) {
        const proof = d.signed ? 'signed' : 'unsigned';
        print(`${d.at} ${d.action} ${d.environment} by ${d.person} (${d.via}, ${proof}): ${d.problem ?? 'verified'}`);
      }
      if (result.decisions.length === 0) print('no decisions recorded');
      print(failed.length ? `${failed.length} decision(s) do not verify` : 'every decision verifies');
    }
    return failed.length ? 1 : 0;
  });
}
